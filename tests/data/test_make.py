"""The dataset job end to end on the session's local Ray: real tasks, real Parquet."""

import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from test_importers import MALFORMED

from swipe.data.dataset import read_split, split_files, verify_dataset
from swipe.data.generators import GeneratorConfig
from swipe.data.make import ImportSource, MakeDatasetConfig, make_dataset, summary_table
from swipe.data.synth import SynthConfig, synthesize
from swipe.data.transplant import fit_bank
from swipe.lexicon import LexiconConfig

from conftest import ROOT

pytestmark = pytest.mark.ray


def test_synthesize_dataset(ray_session, tmp_path, in_root, qwerty):
    cfg = MakeDatasetConfig(out=str(tmp_path / "ds"), n_swipes=3000, shard_rows=1000,
                            lexicon=LexiconConfig(top_n=2000))
    m = make_dataset(cfg)
    assert m["rows_in"] == 3000 == m["rows_kept"] + m["rows_rejected"]
    assert set(m["splits"]) == {"train", "val", "test"}
    assert sum(len(s["files"]) for s in m["splits"].values()) == 9  # 3 tasks × 3 splits
    assert verify_dataset(cfg.out) == []
    train = read_split(cfg.out, "train")
    held = set((tmp_path / "ds/heldout_words.txt").read_text().split())
    assert held and not held & set(train["word"].to_pylist())
    ids = [i for s in m["splits"] for i in read_split(cfg.out, s)["id"].to_pylist()]
    assert sorted(ids) == list(range(3000))  # every swipe exactly once
    assert m["generator"]["smoothness"] == cfg.synth.smoothness and m["alphabet"].endswith("'")
    assert "rows in" in summary_table(m)
    # same config and seed → the same content, here written by the tasks to a URI (the path
    # pyarrow takes for s3:// and gs://: no shared filesystem needed on a cluster)
    uri = "file://" + str(tmp_path / "ds2")
    again = make_dataset(MakeDatasetConfig(**{**cfg.__dict__, "out": uri}))
    assert again["splits"] == m["splits"] and again["name"] == "ds2"
    assert verify_dataset(uri) == [] and (tmp_path / "ds2" / "heldout_words.txt").read_text() == \
           (tmp_path / "ds" / "heldout_words.txt").read_text()
    assert not list(tmp_path.glob("ds*/*/*.tmp"))
    with pytest.raises(FileExistsError):
        make_dataset(cfg)
    with pytest.raises(FileExistsError):
        make_dataset(MakeDatasetConfig(**{**cfg.__dict__, "out": uri}))
    (tmp_path / "ds2" / "train" / "stale.parquet").write_bytes(b"")
    # replaced, by a mix of the parametric and the transplant generator (a bank of parametric donors here)
    donors = synthesize(["hello", "world", "swipe", "the", "a", "keyboard"] * 50, qwerty, SynthConfig(),
                        np.random.default_rng(0))
    fit_bank(donors, {qwerty.name: qwerty}).save(str(tmp_path / "bank.npz"))
    mix = GeneratorConfig(mix={"parametric": 0.5, "transplant": 0.5}, bank=str(tmp_path / "bank.npz"))
    replaced = make_dataset(MakeDatasetConfig(**{**cfg.__dict__, "out": uri, "overwrite": True, "generator": mix}))
    assert not (tmp_path / "ds2" / "train" / "stale.parquet").exists()
    assert {k: s["rows"] for k, s in replaced["splits"].items()} == {k: s["rows"] for k, s in m["splits"].items()}
    assert replaced["provenance"]["generator"]["shares"] == {"parametric": 0.5, "transplant": 0.5}
    assert str(tmp_path / "bank.npz") in replaced["provenance"]["generator"]["sha256"]
    sources = read_split(uri, "train")["source"].to_pylist()
    assert 0.3 < sources.count("transplant") / len(sources) < 0.7
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("not a dataset")
    with pytest.raises(FileExistsError, match="not a swipe dataset"):
        make_dataset(MakeDatasetConfig(**{**cfg.__dict__, "out": "file://" + str(tmp_path / "notes"),
                                          "overwrite": True}))
    # the shards stream through Ray Data as they are: ragged list<float32> columns intact
    import ray.data

    ds = ray.data.read_parquet(split_files(cfg.out, "val"))
    rows = ds.take_all()
    assert len(rows) == m["splits"]["val"]["rows"]
    assert all(len(r["x"]) == len(r["y"]) == len(r["t"]) >= 2 for r in rows)


def test_import_in_parallel_chunks_quarantines_bad_rows(ray_session, tmp_path, in_root):
    sample = (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_text().splitlines()[:300]
    bad = [line.replace('"qwerty_english"', '"hws_360x197"') for line in MALFORMED.values()]  # on a dev keyboard
    lines = sample[:150] + bad + sample[150:]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    cfg = MakeDatasetConfig(out=str(tmp_path / "imp"), mode="import", chunk_mb=0.05,
                            layouts="data/layouts/howweswipe_devices.json",
                            inputs=(ImportSource(path=str(path), split="auto"),))
    m = make_dataset(cfg)
    assert len(m["splits"]["train"]["files"]) > 2  # several Ray tasks
    assert m["rows_in"] == len(lines) == m["rows_kept"] + m["rows_rejected"]
    for reason in MALFORMED:
        assert m["rejected"].get(reason, 0) >= 1, reason
    q = [pq.read_table(tmp_path / "imp" / f["file"]) for f in m["quarantine"]]
    reasons = [r for t in q for r in t["reason"].to_pylist()]
    assert len(reasons) == m["rows_rejected"]
    kept = [i for s in m["splits"] for i in read_split(cfg.out, s)["id"].to_pylist()]
    quarantined = [i for t in q for i in t["id"].to_pylist()]
    assert sorted(kept + quarantined) == list(range(len(lines)))  # each line exactly once
    # the input read in place from a URI (as from s3:// on a cluster): the same chunks, the same dataset
    via_uri = make_dataset(MakeDatasetConfig(**{**cfg.__dict__, "out": str(tmp_path / "imp_uri"), "inputs": (
        ImportSource(path="file://" + str(path), split="auto"),)}))
    assert via_uri["splits"] == m["splits"] and via_uri["rejected"] == m["rejected"]


def test_cli_help_and_bad_keys(in_root):
    out = subprocess.run([sys.executable, "jobs/make_dataset.py", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "synth.smoothness" in out.stdout
    bad = subprocess.run([sys.executable, "jobs/make_dataset.py", "--config", "configs/synth_en.yaml",
                          "n_swipe=5"], capture_output=True, text=True)
    assert bad.returncode == 2 and "n_swipes" in bad.stderr and "n_swipe" in bad.stderr
