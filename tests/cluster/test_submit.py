"""`ray job submit` for real: a `ray start --head` cluster of its own, training and
prediction submitted as jobs, the prediction job stopped mid-way and resubmitted."""

import pytest

from swipe.data.make import MakeDatasetConfig, make_dataset
from swipe.lexicon import LexiconConfig
from tests.support.submission import submit_train_and_predict

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TINY = ["model.preset=tiny", "run.max_steps=10", "run.val_every=10", "data.batch_size=16", "data.max_points=48",
        "data.val_rows=96", "run.decode_rows=48", "run.stats_rows=400", "scale.num_workers=1",
        "lexicon.top_n=200", "tracking.wandb=disabled"]


def _files_containing(root, secret: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and not p.is_symlink() and secret in p.read_bytes()]


def test_train_and_predict_jobs_on_a_started_cluster(ray_session, tmp_path):
    """… and a W&B key in the nodes' environment (as cluster.yaml sets it) reaches no file."""
    import secrets
    from pathlib import Path

    secret = "swipe-fake-key-" + secrets.token_hex(12)
    ds = tmp_path / "ds"
    make_dataset(MakeDatasetConfig(out=str(ds), n_swipes=1600, shard_rows=200, lexicon=LexiconConfig(top_n=200)))
    r = submit_train_and_predict(str(ds), tmp_path / "out", "configs/quickstart.yaml",
                                 TINY + ["tracking.wandb=offline"],
                                 ["lexicon.top_n=200", "batch_size=8", "beam.beam_size=8", "concurrency=1"],
                                 split="train", num_cpus=2, node_env={"WANDB_API_KEY": secret})
    assert r.train_status == "SUCCEEDED", open(r.logs["train"]).read()[-3000:]
    assert r.predict_status == "SUCCEEDED", open(r.logs["predict_2"]).read()[-3000:]
    assert r.predict_interrupted, open(r.logs["predict_1"]).read()[-3000:]  # stopped mid-way, then resubmitted
    assert r.relative_refused, open(r.logs["relative"]).read()[-3000:]  # data/datasets/… is not uploaded
    assert r.rows_in == r.rows_out + r.rows_rejected and r.rows_in > 1000
    assert r.duplicate_rows == 0 and r.missing_rows == 0
    assert r.leftover_processes == 0  # the cluster it started is gone; the suite's own Ray is untouched
    assert ray_session.is_initialized() and ray_session.cluster_resources().get("CPU") == 2
    # our outputs (run config, metrics, checkpoints, predictions, job logs) and Ray's own logs
    assert _files_containing(tmp_path / "out", secret.encode()) == []
    assert _files_containing(Path(r.ray_temp_dir), secret.encode()) == []
