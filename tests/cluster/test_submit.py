"""`ray job submit` for real: a `ray start --head` cluster of its own, a prediction job stopped
mid-way and resubmitted (the training job before it: `swipe bench reliability`)."""

import pytest

from tests.support.submission import submit_train_and_predict

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _files_containing(root, secret: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and not p.is_symlink() and secret in p.read_bytes()]


def test_a_prediction_job_stopped_mid_way_and_resubmitted_on_a_started_cluster(ray_session, tiny_dataset, tmp_path):
    """The smallest submission that proves it (`swipe bench reliability` adds a training job
    before it): a relative data path refused beside a prediction job that is stopped after
    its first shard and resubmitted; every row comes out once; a W&B key in the nodes'
    environment (as cluster.yaml sets it) reaches no file of ours or Ray's."""
    import secrets
    from pathlib import Path

    import torch

    from swipe.data.dataset import load_manifest
    from swipe.keyboard import parse_layouts
    from swipe.lexicon import Alphabet, LexiconConfig
    from swipe.model.checkpoint import save_model_dir
    from swipe.model.features import KeyTable
    from swipe.model.spec import InputSpec, PointSpec
    from swipe.model.transformer import ModelConfig, SwipeModel

    manifest = load_manifest(tiny_dataset)
    alphabet = Alphabet(manifest["alphabet"])
    torch.manual_seed(0)
    model = SwipeModel(ModelConfig(preset="tiny", max_word_len=12),
                       KeyTable.build(parse_layouts(manifest["layouts"]), alphabet), alphabet.size)
    ckpt = save_model_dir(tmp_path / "ckpt", model, alphabet, manifest["layouts"],
                          InputSpec(PointSpec(48), lexicon=LexiconConfig(top_n=200)), {"step": 0})
    secret = "swipe-fake-key-" + secrets.token_hex(12)
    r = submit_train_and_predict(tiny_dataset, tmp_path / "out", predict_overrides=[
        "batch_size=8", "beam.beam_size=8", "concurrency=1"], split="train", num_cpus=2,
        node_env={"WANDB_API_KEY": secret}, checkpoint=str(ckpt))
    assert r.predict_status == "SUCCEEDED", open(r.logs["predict_2"]).read()[-3000:]
    assert r.predict_interrupted, open(r.logs["predict_1"]).read()[-3000:]  # stopped mid-way, then resubmitted
    assert r.relative_refused, open(r.logs["relative"]).read()[-3000:]  # data/datasets/… is not uploaded
    assert r.rows_in == r.rows_out + r.rows_rejected and r.rows_in > 1000
    assert r.duplicate_rows == 0 and r.missing_rows == 0
    assert r.leftover_processes == 0  # the cluster it started is gone; the suite's own Ray is untouched
    assert ray_session.is_initialized() and ray_session.cluster_resources().get("CPU") == 2
    # our outputs (predictions, job logs) and Ray's own logs
    assert _files_containing(tmp_path / "out", secret.encode()) == []
    assert _files_containing(Path(r.ray_temp_dir), secret.encode()) == []
