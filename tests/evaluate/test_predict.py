"""Batch prediction on the session's local Ray: exactly-once after interruption, shared trie."""

from dataclasses import replace

import pyarrow.parquet as pq
import pytest
import torch

import swipe.evaluate.predict as predict_mod
from swipe.data.dataset import load_manifest, read_split
from swipe.data.make import MakeDatasetConfig, make_dataset
from swipe.decode.search import BeamConfig
from swipe.evaluate.predict import PredictConfig, Predictor, predict
from swipe.evaluate.predictions import read_info, read_predictions
from swipe.keyboard import parse_layouts
from swipe.lexicon import Alphabet, LexiconConfig, build_lexicon_trie
from swipe.model.checkpoint import save_model_dir
from swipe.model.features import KeyTable
from swipe.model.spec import InputSpec, PointSpec
from swipe.model.transformer import ModelConfig, SwipeModel

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def setup(ray_session, tmp_path_factory):
    root = tmp_path_factory.mktemp("pred")
    ds = str(root / "ds")
    make_dataset(MakeDatasetConfig(out=ds, n_swipes=600, shard_rows=150, lexicon=LexiconConfig(top_n=300)))
    manifest = load_manifest(ds)
    alphabet = Alphabet(manifest["alphabet"])
    keys = KeyTable.build(parse_layouts(manifest["layouts"]), alphabet)
    torch.manual_seed(0)
    model = SwipeModel(ModelConfig(preset="tiny", max_word_len=12), keys, alphabet.size)
    record = {"config": {"data": {"dataset": ds, "train_split": "train"}}}  # as training writes it
    spec = InputSpec(PointSpec(48), lexicon=LexiconConfig(top_n=300))  # what it reads, as training saves it
    ckpt = save_model_dir(root / "ckpt", model, alphabet, manifest["layouts"], spec, {"step": 0, "train": record})
    trie = build_lexicon_trie(LexiconConfig(top_n=300), alphabet)
    return ds, str(ckpt), trie, root


def _cfg(setup, out):
    ds, ckpt, _, _ = setup
    return PredictConfig(checkpoint=ckpt, dataset=ds, split="train", out=str(out), concurrency=2,
                         cpus_per_actor=0.25, batch_size=64, beam=BeamConfig(beam_size=2, top_k=2))


def test_interrupted_job_rerun_yields_each_row_once(setup, tmp_path, monkeypatch):
    ds, _, trie, _ = setup
    cfg = _cfg(setup, tmp_path / "out")
    real_write, calls = predict_mod._write_shard, []

    def crash_after_first(table, out, path):  # the job dies after its first complete shard
        if calls:
            raise KeyboardInterrupt("killed")
        calls.append(path)
        real_write(table, out, path)

    monkeypatch.setattr(predict_mod, "_write_shard", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        predict(cfg, trie)
    monkeypatch.setattr(predict_mod, "_write_shard", real_write)
    assert len(list((tmp_path / "out").glob("part-*.parquet"))) == 1
    result = predict(cfg, trie)  # the re-run
    assert result.shards_skipped == 1 and result.shards_written == len(load_manifest(ds)["splits"]["train"]["files"]) - 1
    ids = read_predictions(result.out)["id"].to_pylist()
    assert sorted(ids) == sorted(read_split(ds, "train")["id"].to_pylist())  # every row, exactly once
    assert result.rows_in == result.rows_out + result.rows_rejected and result.rows_rejected == 0
    again = predict(cfg, trie)  # nothing left to do
    assert again.shards_written == 0 and again.rows_out == result.rows_out
    # other inputs never resume into (nor return) these rows: refused in the same folder …
    with pytest.raises(FileExistsError, match="other inputs"):
        predict(replace(cfg, points={"max_points": 16}), trie)
    assert read_predictions(result.out)["id"].to_pylist() == ids  # … with nothing touched,
    # … and by default written to a folder of their own, the override recorded
    other = predict(replace(cfg, points={"max_points": 16}, out="", split="val"), trie)
    assert other.out.endswith("val-ckpt-" + InputSpec(PointSpec(16), lexicon=LexiconConfig(top_n=300)).tag())
    info = read_info(other.out)
    assert info["spec_overrides"] == ["points.max_points: 48 → 16"] and info["input_spec"]["points"]["max_points"] == 16
    preds = read_predictions(result.out)
    words = set(trie.words())
    assert all(c and set(c) <= words for c in preds["candidates"].to_pylist())  # lexicon words only


def test_unusable_rows_are_rejected_with_a_reason(setup, tmp_path):
    ds, ckpt, trie, root = setup
    t = read_split(ds, "val")
    grids = t["grid_name"].to_pylist()
    grids[0] = "dvorak"  # a layout the model has never seen
    import pyarrow as pa

    from tests.support.damage import write_split_like

    bad_ds = root / "bad"
    write_split_like(ds, bad_ds, "val", [t.set_column(t.schema.get_field_index("grid_name"), "grid_name",
                                                      pa.array(grids))])
    cfg = PredictConfig(checkpoint=ckpt, dataset=str(bad_ds), split="val", out=str(tmp_path / "o"),
                        concurrency=1, cpus_per_actor=0.25, beam=BeamConfig(beam_size=2))
    r = predict(cfg, trie)
    assert r.rows_rejected == 1 and r.rows_out == t.num_rows - 1
    assert r.rejected == {"unknown_grid": 1}
    rej = pq.read_table(tmp_path / "o" / "rejected" / "part-00000.parquet").to_pylist()
    assert rej[0]["id"] == t["id"][0].as_py() and rej[0]["detail"] == "grid 'dvorak'"


def test_actors_share_a_read_only_trie(setup):
    import ray

    _, ckpt, trie, _ = setup
    ref = ray.put(trie)
    actor = ray.remote(Predictor).options(num_cpus=0.25).remote(ckpt, ref, BeamConfig(), InputSpec(PointSpec(48)).to_dict(), 32)

    def _mapping_of(array) -> tuple[str, str]:  # (defined here: pickled by value into the actor)
        """The permissions and file of the memory mapping (/proc/self/maps) holding an array's data."""
        at = array.__array_interface__["data"][0]
        for line in open("/proc/self/maps"):
            span, perms, *rest = line.split()
            lo, hi = (int(v, 16) for v in span.split("-"))
            if lo <= at < hi:
                return perms, " ".join(rest[3:])
        return "", ""

    mapped = ray.get(actor.__ray_call__.remote(
        lambda self: [_mapping_of(getattr(self.lexicon.trie, a)) for a in self.lexicon.trie.ARRAYS]))
    ray.kill(actor)
    # each array lies in the object store's shared mapping (a private, read-only copy would not)
    assert all(perms.endswith("s") and "plasma" in path for perms, path in mapped), mapped


def test_evaluate_writes_report_charts_and_wandb(setup, tmp_path):
    import glob

    from swipe.evaluate.report import EvaluateConfig, evaluate
    from swipe.train.config import TrackingConfig

    ds, ckpt, trie, root = setup
    cfg = PredictConfig(checkpoint=ckpt, dataset=ds, split="val", out=str(tmp_path / "p"), concurrency=1,
                        cpus_per_actor=0.25, beam=BeamConfig(beam_size=2), lexicon={"top_n": 300})
    predict(cfg, trie)
    r = evaluate(EvaluateConfig(predictions=str(tmp_path / "p"), beam_sizes=(1, 2), sweep_rows=16, samples=4,
                                tracking=TrackingConfig(wandb="offline"), registry=str(tmp_path / "table.parquet")))
    assert r["registry_rows"] == 1  # one layout → one row in the prediction table
    report = (tmp_path / "p" / "report.md").read_text()
    for part in ("## By word length", "## By layout", "## Beam size sweep", "## Decoding options"):
        assert part in report
    assert (tmp_path / "p" / "report_by_length.png").stat().st_size > 1000
    assert (tmp_path / "p" / "report_beam.png").stat().st_size > 1000
    # attention maps of the model's word for up to 2 hits and 2 misses, linked from the report
    pictures = sorted(p.name for p in (tmp_path / "p").glob("report_attention_*.png"))
    assert pictures and all(n in report for n in pictures) and "## Where each letter looked" in report
    assert {n.split("_")[2] for n in pictures} <= {"hit", "miss"} and len(pictures) <= 4
    assert set(r["beam_sweep"]) == {1, 2} and r["overall"]["n"] > 0
    assert set(r["decoding_options"]) == {"beam_lexicon", "beam + levenshtein_repair", "complete_from_prefixes"}
    # seen/unseen against the training split the checkpoint names: val holds held-out words
    assert set(r["by_seen"]) == {"seen", "unseen"}
    assert sum(m["n"] for m in r["by_seen"].values()) == r["overall"]["n"]
    assert glob.glob(str(tmp_path / "p" / "wandb" / "offline-run-*" / "run-*.wandb"))


def test_bad_rows_and_a_corrupt_shard_are_counted_and_the_rest_decoded(setup, tmp_path):
    """Through the real job: a good shard, a shard of damaged rows, a shard with damaged bytes."""
    from tests.support import damage

    ds, ckpt, trie, _ = setup
    kinds = {**damage.ROW_KINDS, **damage.ARROW_KINDS}
    bad = damage.write_damaged_dataset(ds, tmp_path / "bad", kinds, [(k, i) for i, k in enumerate(kinds)], rows=40)
    cfg = PredictConfig(checkpoint=ckpt, dataset=str(bad.root), split=bad.split, out=str(tmp_path / "o"),
                        concurrency=1, cpus_per_actor=0.25, beam=BeamConfig(beam_size=2))
    r = predict(cfg, trie)
    assert r.rows_in == 40 + len(kinds) + 40 == r.rows_out + r.rows_rejected
    expected = {}
    for _, why in kinds.values():  # each kind once: its reason once
        if why:
            expected[why] = expected.get(why, 0) + 1
    assert r.rejected == bad.rejected == expected | {"corrupt_shard": 40}
    got = read_predictions(r.out)
    assert sorted(got["id"].to_pylist()) == sorted(bad.kept_ids)  # every good row decoded, once


def test_a_killed_predictor_actor_is_replaced_and_no_row_is_lost_or_doubled(setup, tmp_path):
    from tests.support.faults import PREDICT_ACTOR, Killer

    ds, _, trie, _ = setup
    out = tmp_path / "out"
    # many small, slower tasks: the job is still decoding when its first shard is written
    cfg = replace(_cfg(setup, out), batch_size=8, beam=BeamConfig(beam_size=8, top_k=2))
    killer = Killer(PREDICT_ACTOR, ready=lambda: any(out.glob("part-*.parquet"))).start()
    result = predict(cfg, trie)
    assert len(killer.join()) == 1, killer.error
    ids = read_predictions(result.out)["id"].to_pylist()
    assert sorted(ids) == sorted(read_split(ds, "train")["id"].to_pylist())  # every row, exactly once
    assert result.rows_in == result.rows_out and result.rows_rejected == 0


def test_a_dataset_is_read_in_place_from_a_uri(setup, tmp_path):
    """The same job over `file:///…`: the path pyarrow takes for s3:// and gs:// datasets."""
    ds, _, trie, _ = setup
    uri = "file://" + str(ds)
    with pytest.raises(ValueError, match="out="):
        predict(replace(_cfg(setup, ""), dataset=uri, split="val", out=""), trie)
    r = predict(replace(_cfg(setup, tmp_path / "o"), dataset=uri, split="val"), trie)
    assert r.rows_in == r.rows_out == read_split(uri, "val").num_rows > 0


def test_the_template_matcher_is_a_predictor_of_its_own(setup, tmp_path):
    """decoder=template: no checkpoint, the same actor pool and shared lexicon, every row once,
    a report and a row in the prediction table under its own name."""
    from swipe.decode.template import TemplateConfig
    from swipe.evaluate.report import EvaluateConfig, compare_predictions, evaluate
    from swipe.evaluate.table import load_table
    from swipe.train.config import TrackingConfig

    ds, _, trie, _ = setup
    cfg = PredictConfig(decoder="template", dataset=ds, split="val", out=str(tmp_path / "t"), concurrency=2,
                        cpus_per_actor=0.25, lexicon={"top_n": 300}, template=TemplateConfig(top_k=3))
    r = predict(cfg, trie)
    assert r.rows_in == r.rows_out == read_split(ds, "val").num_rows and r.rows_rejected == 0
    preds = read_predictions(r.out)
    words = set(trie.words())
    assert all(0 < len(c) <= 3 and set(c) <= words for c in preds["candidates"].to_pylist())
    m = evaluate(EvaluateConfig(predictions=str(r.out), tracking=TrackingConfig(wandb="disabled"),
                                registry=str(tmp_path / "table.parquet")))
    assert m["overall"]["acc@1"] > 0.5  # clean synthetic swipes: a template matcher reads most of them
    assert m["beam_sweep"] == {} and m["by_seen"] == {}  # nothing neural to sweep, no training split
    assert [row["decoder"] for row in load_table(tmp_path / "table.parquet")] == ["template"]
    assert "| template |" in compare_predictions([str(r.out)])


def test_the_fused_decoder_predicts_through_the_same_actors(setup, tmp_path):
    """decoder=fused: the checkpoint and the template matcher in one actor, the lexicon and its
    template index shared from one ray.put; every row once, candidates from the lexicon, and
    its own row in the prediction table."""
    from swipe.decode.fused import FusedConfig
    from swipe.evaluate.report import EvaluateConfig, evaluate
    from swipe.evaluate.table import load_table
    from swipe.train.config import TrackingConfig

    ds, ckpt, trie, _ = setup
    cfg = replace(_cfg(setup, tmp_path / "f"), decoder="fused", split="val", lexicon={"top_n": 300},
                  fused=FusedConfig(beam_candidates=2, template_candidates=3, top_k=3))
    r = predict(cfg, trie)
    assert r.rows_in == r.rows_out == read_split(ds, "val").num_rows and r.rows_rejected == 0
    words = set(trie.words())
    cands = read_predictions(r.out)["candidates"].to_pylist()
    assert all(0 < len(c) <= 3 and set(c) <= words for c in cands)
    m = evaluate(EvaluateConfig(predictions=str(r.out), tracking=TrackingConfig(wandb="disabled"),
                                registry=str(tmp_path / "table.parquet"), beam_sizes=()))
    assert m["overall"]["acc@1"] > 0.3  # an untrained model, but the matcher's channels read clean swipes
    assert {row["decoder"] for row in load_table(tmp_path / "table.parquet")} == {"fused"}
