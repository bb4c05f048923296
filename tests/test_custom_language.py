"""docs/custom-language.md's commands for German on QWERTZ (ä ö ü ß), run in this process on the
session's Ray with a tiny model and few steps: data → train → predict → evaluate → the served demo's API.

The lexicon is given once, to the dataset; the model takes it from there and every later step from
the model. Two more fits of the same command check what a seed and a fine-tune promise."""

from __future__ import annotations

import pytest

from swipe.commands import check_command, main
from swipe.data.dataset import load_manifest
from swipe.evaluate.predictions import read_info, read_predictions
from swipe.keyboard import load_layouts
from swipe.model.checkpoint import load_meta, resolve_checkpoint
from swipe.model.spec import load_spec
from tests.support.docs import commands_in, swipe_argv
from tests.support.swipes import ideal_swipe
from swipe.train.tracking import read_metrics

from conftest import ROOT

pytestmark = [pytest.mark.ray, pytest.mark.slow]
MARKER = "<!-- custom language commands: tests/test_custom_language.py runs these -->"
TINY = ["model.preset=tiny", "run.max_steps=10", "run.val_every=10", "data.batch_size=16", "data.max_points=48",
        "data.val_rows=96", "run.decode_rows=48", "run.stats_rows=400", "scale.num_workers=1",
        "tracking.wandb=disabled"]


def test_german_from_a_layout_and_a_word_list_to_the_demo(ray_session, in_root, tmp_path, capsys):
    cmds = [swipe_argv(c) for c in commands_in(ROOT / "docs/custom-language.md", MARKER)]
    assert [c[0] for c in cmds] == ["data", "train", "predict", "evaluate", "serve"], cmds
    data, fit, predict, evaluate, serve = cmds
    ds, runs = str(tmp_path / "synth_de"), str(tmp_path / "runs")

    # the words of a German keyboard, told once
    main(data + [f"out={ds}", "n_swipes=1600", "shard_rows=800", "lexicon.top_n=300"])
    manifest = load_manifest(ds)
    assert manifest["lexicon"]["language"] == "de" and manifest["lexicon"]["top_n"] == 300
    assert set("äöüß") <= set(manifest["alphabet"])
    said = manifest["provenance"]["lexicon"]
    assert said["words"] == 300 and said["dropped"]["char_not_in_alphabet"] > 1000  # counted, not silently lost
    assert "é" in said["missing_chars"] and said["unspellable"], said
    assert "the layouts cannot spell" in capsys.readouterr().out
    with pytest.raises(ValueError, match="lexicon.language=de"):  # English words on a German keyboard
        main(data + [f"out={tmp_path / 'en_on_de'}", "n_swipes=10", "lexicon.language=en"])

    # the model takes the dataset's lexicon, and keeps it in its spec
    eval_set = f"eval=[{{name: test, dataset: {ds}, split: test, rows: 48}}]"
    main(fit + TINY + [f"data.dataset={ds}", f"run.storage_path={runs}", eval_set])
    run = f"{runs}/de-small"
    spec = load_spec(load_meta(resolve_checkpoint(run)))
    assert (spec.lexicon.language, spec.lexicon.top_n) == ("de", 300)
    assert "training result" in capsys.readouterr().out

    # the same command, seed and data again: the same run, step for step; then a fine-tune with a
    # learning rate of ~0 validates as the model it started from
    main(fit + TINY + [f"data.dataset={ds}", f"run.storage_path={runs}", "eval=[]", "run.name=twin"])
    pick = lambda rows: [(r["step"], r["val/loss"], r["val/swipe_mrr"]) for r in rows if "val/loss" in r]  # noqa: E731
    assert pick(read_metrics(tmp_path / "runs/de-small")) == pick(read_metrics(tmp_path / "runs/twin"))
    main(fit + TINY + [f"data.dataset={ds}", f"run.storage_path={runs}", "eval=[]", "run.name=tuned",
                       f"run.init_from={run}", "optim.lr=1e-12"])
    assert pick(read_metrics(tmp_path / "runs/tuned"))[0][1] == pytest.approx(
        pick(read_metrics(tmp_path / "runs/de-small"))[0][1], abs=1e-4)
    with pytest.raises(FileExistsError, match="--resume"):  # a used name is refused
        main(fit + TINY + [f"data.dataset={ds}", f"run.storage_path={runs}", "eval=[]"])
    # (--resume itself is tested on object storage: tests/storage/test_object_storage.py)
    capsys.readouterr()

    # prediction reads the lexicon from the model: German words only, every row accounted for
    out = str(tmp_path / "pred")
    main(predict + [f"checkpoint={run}", f"dataset={ds}", f"out={out}", "concurrency=1"])
    info = read_info(out)
    assert info["rows_in"] == info["rows_out"] + info["rows_rejected"] > 0
    words = {w for ws in read_predictions(out)["candidates"].to_pylist() for w in ws}
    german = _lexicon_words(ds)
    assert words and words <= german, words - german
    main(evaluate + [f"predictions={out}", "beam_sizes=[]", "options=false"])
    assert f"report: {out}/report.md" in capsys.readouterr().out

    # the demo's API on the German keyboard, from the same config file `swipe serve` reads: the replica's
    # own code (OnlineDecoder) in this process (HTTP and the page: tests/serve/test_app.py)
    from swipe.serve.service import OnlineDecoder, load_offer, resolve_paths

    cfg = resolve_paths(check_command(serve + [f"models={{de-small: {run}}}", f"users.store={tmp_path / 'users'}"]))
    service = OnlineDecoder(cfg, *load_offer(cfg))
    options = service.options()
    assert options["layouts"] == ["qwertz_german"] and options["lexicon_words"] == 300
    qwertz = load_layouts(ROOT / "data/layouts/qwertz_german.json")["qwertz_german"]
    word = next(w for w in ("über", "können", "müssen", "während", "für") if w in german)
    got = service.decode(ideal_swipe(qwertz, word) | {"layout": "qwertz_german", "decoder": "template"})
    assert word in [c["word"] for c in got["candidates"]], (word, got)
    beam = service.decode(ideal_swipe(qwertz, word) | {"layout": "qwertz_german", "decoder": "beam"})
    assert beam["candidates"] and {c["word"] for c in beam["candidates"]} <= german, beam


def _lexicon_words(ds: str) -> set[str]:
    """The dataset's words, as the model's lexicon has them."""
    from swipe.config import build_config
    from swipe.lexicon import Alphabet, LexiconConfig, load_word_list

    m = load_manifest(ds)
    return set(load_word_list(build_config(LexiconConfig, m["lexicon"]), Alphabet(m["alphabet"])).words)
