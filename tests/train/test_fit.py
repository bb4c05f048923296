"""Ray Train end to end on CPU: real workers, real Parquet, real checkpoints and W&B files.

Each fit starts a worker group: one fit here (with a killed worker); the seeded repeat and the
fine-tune run in tests/test_custom_language.py, on the German model of docs/custom-language.md.
"""

import glob
from dataclasses import replace

import pytest

from swipe.data.dataset import head_batch, split_files
from swipe.decode.search import greedy_words
from swipe.metrics import summarize
from swipe.lexicon import Alphabet, build_lexicon_trie
from swipe.model.checkpoint import load_meta, load_model
from swipe.model.inputs import collate
from swipe.model.transformer import ModelConfig
from swipe.train.config import DataConfig, EvalSet, OptimConfig, RunConfig, ScaleConfig, TrackingConfig, TrainConfig
from swipe.train.fit import train
from swipe.train.tracking import final_history, read_metrics
from swipe.model.spec import load_spec

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _cfg(dataset, tmp_path, name, workers, steps, **run):
    return TrainConfig(
        data=DataConfig(dataset=dataset, batch_size=16, max_points=48, val_rows=96, read_blocks=4),
        model=ModelConfig(preset="tiny"), optim=OptimConfig(lr=3e-3, warmup_steps=5),
        lexicon={"top_n": 200},
        scale=ScaleConfig(num_workers=workers, cpus_per_worker=0.45),
        run=RunConfig(name=name, storage_path=str(tmp_path), max_steps=steps, val_every=10, decode_rows=48,
                      stats_rows=400, **run),
        tracking=TrackingConfig(wandb="offline" if workers == 2 else "disabled"),
        eval=(EvalSet("val", dataset, "val", rows=48),))


def test_two_workers_learn_checkpoint_log_and_survive_a_killed_worker(tiny_dataset, tmp_path):
    """One fit of two workers, one of which is SIGKILLed once the first checkpoint is in:
    the group restarts from that checkpoint (max_failures=1) and the run ends as planned."""
    from tests.support.faults import TRAIN_WORKER, Killer, train_checkpoint_registered

    cfg = _cfg(tiny_dataset, tmp_path, "two", workers=2, steps=40, max_failures=1)
    killer = Killer(TRAIN_WORKER, ready=lambda: train_checkpoint_registered(tmp_path / "two")).start()
    result = train(cfg)
    assert len(killer.join()) == 1, killer.error
    rows = read_metrics(result.run_dir)
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    vals = [r for r in rows if "val/swipe_mrr" in r]
    steps = [v["step"] for v in vals]
    # resumed, not restarted from scratch: the first validation is not repeated; all 40 steps ran
    assert steps.count(9) == 1 and set(steps) == {9, 19, 29, 39}, steps
    # the restart is marked, and the history the run ended with has each validation once
    assert [r["resumed_at_step"] for r in rows if "resumed_at_step" in r] == [10], rows
    assert [r["step"] for r in final_history(rows) if "val/swipe_mrr" in r] == [9, 19, 29, 39]
    assert max(load_meta(c)["step"] for c in result.run_dir.glob("checkpoint_*") if c.is_dir()) == 40
    # the loss goes down: on the same 96 validation rows, and on the training batches
    assert vals[-1]["val/loss"] < vals[0]["val/loss"] - 0.1, [v["val/loss"] for v in vals]
    assert losses[-1] < losses[0]
    assert {"val/loss", "val/token_acc", "val/acc@1"} <= set(vals[-1])
    # W&B offline files on rank 0 only: one W&B run, continued by the restarted group
    runs = glob.glob(str(result.run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len({r.rsplit("run-", 1)[1] for r in runs}) == 1, runs
    # the best checkpoint is self-describing and reloads into the predictions it was scored on
    ckpt = result.best_checkpoint
    assert {"model.pt", "model.json", "lightning.ckpt"} <= {p.name for p in ckpt.iterdir()}
    meta = load_meta(ckpt)
    kept = {v["step"]: v for v in vals}.values()  # a validation repeated after the restart: the later one
    assert meta["metrics"]["val/swipe_mrr"] == max(v["val/swipe_mrr"] for v in kept)
    model, _ = load_model(ckpt)
    alphabet = Alphabet(meta["alphabet"])
    dec = head_batch(split_files(tiny_dataset, "val"), 48)
    batch = collate(dec, {g: i for i, g in enumerate(model.grid_names)}, alphabet, load_spec(meta), model.cfg.max_word_len)
    words = greedy_words(model, batch, alphabet, build_lexicon_trie(load_spec(meta).lexicon, alphabet)).words
    # (val/acc@1 is the beam's, by which checkpoints are kept; greedy is logged beside it)
    assert summarize([[w] for w in words], dec.words)["acc@1"] == pytest.approx(meta["metrics"]["val/greedy_acc@1"])
    assert "val" in result.evals and result.evals["val"]["n"] == 48
    # a local Ray's fits start no preemption watcher (swipe.cluster.session.start_local_ray): nothing to preempt
    import ray
    from ray.util.state import list_actors

    address = ray.get_runtime_context().gcs_address  # the suite's Ray (another may run beside it)
    assert list_actors(address, filters=[("class_name", "=", "PreemptionWatcher")]) == []
    assert list_actors(address, filters=[("class_name", "=", "RayTrainWorker")])  # (the filter finds Train's actors)


def test_a_wrong_dataset_path_fails_before_ray_starts(tiny_dataset, tmp_path, monkeypatch):
    """A wrong eval set (or dataset, real_tune set, starting model) is found before any work:
    it used to surface after training, with no best_checkpoint.txt written."""
    import swipe.train.fit as fit

    def no_ray(cfg):
        raise AssertionError("Ray started (prepare_run) before the inputs were checked")

    monkeypatch.setattr(fit, "prepare_run", no_ray)
    good = _cfg(tiny_dataset, tmp_path, "wrong", 1, 5)
    for bad, says in ((replace(good, eval=(EvalSet("x", str(tmp_path / "no_such"), "val"),)), "not a swipe dataset"),
                      (replace(good, eval=(EvalSet("x", tiny_dataset, "dev"),)), "no split 'dev'"),
                      (replace(good, run=replace(good.run, init_from=str(tmp_path / "none"))), "neither a checkpoint")):
        with pytest.raises((FileNotFoundError, KeyError), match=says):
            train(bad)
