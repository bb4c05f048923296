"""Ray Tune sweeps: the search space (pure logic), and real sweeps on a local Ray."""

import glob
import os
import signal

import pandas as pd
import pytest

from swipe.config import ConfigError
from swipe.model.transformer import ModelConfig
from swipe.train.config import DataConfig, OptimConfig, RunConfig, ScaleConfig, TrackingConfig, TrainConfig
from swipe.train.sweep import AshaConfig, SweepConfig, results_markdown, run_sweep, summarize_trials, variants
from swipe.train.tracking import final_history, read_metrics


# ----------------------------------------------------------------------------- the space
def test_grid_is_every_combination_in_order():
    cfg = SweepConfig(space={"optim.schedule": ["plateau", "cosine"], "model.features": ["traj", "nearest", "gaussian"]})
    got = variants(cfg)
    assert len(got) == 6 and got[0] == {"optim.schedule": "plateau", "model.features": "traj"}
    assert got[-1] == {"optim.schedule": "cosine", "model.features": "gaussian"}


def test_a_list_search_trains_exactly_the_variants_given():
    listed = ({"data.dataset": "a"}, {"data.dataset": "b", "model.encoder": "conformer", "model.enc_layers": 2})
    assert variants(SweepConfig(search="list", variants=listed)) == [dict(v) for v in listed]
    with pytest.raises(ConfigError, match="search: list takes"):
        variants(SweepConfig(search="list", variants=listed, space={"optim.lr": [1e-3]}))
    with pytest.raises(ConfigError, match="valid keys under model"):
        variants(SweepConfig(search="list", variants=({"model.encodr": "conformer"},)))


def test_random_draws_are_seeded_and_in_range():
    space = {"optim.lr": {"loguniform": [1e-4, 1e-2]}, "optim.warmup_steps": {"randint": [0, 50]},
             "optim.schedule": ["cosine", "onecycle"]}
    a = variants(SweepConfig(space=space, search="random", num_samples=20, seed=3))
    assert a == variants(SweepConfig(space=space, search="random", num_samples=20, seed=3))
    assert a != variants(SweepConfig(space=space, search="random", num_samples=20, seed=4))
    assert all(1e-4 <= v["optim.lr"] <= 1e-2 and 0 <= v["optim.warmup_steps"] < 50 for v in a)
    assert {v["optim.schedule"] for v in a} == {"cosine", "onecycle"}


@pytest.mark.parametrize("space, message", [
    ({"optim.lr": {"loguniform": [1e-4, 1e-2]}}, "grid search takes a list"),
    ({"optim.schedul": ["cosine"]}, "valid keys under optim: .*schedule"),
    ({"optim.schedule": ["cosine", "sometimes"]}, "'sometimes' is not one of"),
    ({"optim.lr": []}, "non-empty list"),
])
def test_bad_spaces_are_errors_before_anything_runs(space, message):
    with pytest.raises(ConfigError, match=message):
        variants(SweepConfig(space=space))


def test_table_is_mean_and_std_over_seeds_best_first():
    v1, v2 = {"optim.schedule": "cosine"}, {"optim.schedule": "plateau"}
    trials = pd.DataFrame([
        {"config": "schedule=cosine", "variant": v1, "seed": 0, "status": "completed", "best_val_swipe_mrr": 0.2,
         "step_at_best": 100, "checkpoint": "a", "curve": [(50, 0.1), (100, 0.2)]},
        {"config": "schedule=cosine", "variant": v1, "seed": 1, "status": "stopped early", "best_val_swipe_mrr": 0.4,
         "step_at_best": 50, "checkpoint": "b", "curve": [(50, 0.4)]},
        {"config": "schedule=plateau", "variant": v2, "seed": 0, "status": "completed", "best_val_swipe_mrr": 0.5,
         "step_at_best": 200, "checkpoint": "c", "curve": [(50, 0.3), (200, 0.5)]},
        {"config": "schedule=plateau", "variant": v2, "seed": 1, "status": "completed", "best_val_swipe_mrr": 0.5,
         "step_at_best": 100, "checkpoint": "d", "curve": [(50, 0.1), (100, 0.5)]},
    ])
    table = summarize_trials(trials)
    assert list(table["config"]) == ["schedule=plateau", "schedule=cosine"]
    cos = table.iloc[1]
    assert cos["swipe_mrr_mean"] == pytest.approx(0.3) and cos["swipe_mrr_std"] == pytest.approx(0.1414, abs=1e-4)
    assert cos["steps_to_best"] == 75 and cos["stopped_early"] == 1 and cos["best_checkpoint"] == "b"
    # like for like: every trial reached step 50 (the early-stopped one stopped there)
    assert table["common_step"].iloc[0] == 50
    assert cos["at_common_mean"] == pytest.approx(0.25) and table.iloc[0]["at_common_mean"] == pytest.approx(0.2)
    md = results_markdown("s", ["optim.schedule"], table, trials)
    assert "| 1 | plateau | 0.5000 ± 0.0000 | 0.2000 ± 0.1414 | 2 | 150 | 0 | `c` |" in md


# ----------------------------------------------------------------------------- real sweeps


def _sweep(dataset, tmp_path, name, space, steps=20, wandb="disabled", batch_size=16, **kw):
    base = TrainConfig(
        data=DataConfig(dataset=dataset, batch_size=batch_size, max_points=48, val_rows=96, read_blocks=4),
        model=ModelConfig(preset="tiny"), optim=OptimConfig(lr=3e-3, warmup_steps=5),
        lexicon={"top_n": 200}, scale=ScaleConfig(num_workers=1, cpus_per_worker=0.45),
        run=RunConfig(max_steps=steps, val_every=10, decode_rows=48, stats_rows=400, keep_checkpoints=1),
        tracking=TrackingConfig(wandb=wandb))
    return SweepConfig(name=name, train=base, space=space, num_seeds=1, max_concurrent=1,
                       storage_path=str(tmp_path), **kw)


@pytest.mark.ray
@pytest.mark.slow
def test_interrupted_sweep_resumes_and_a_killed_trial_is_retried(tiny_dataset, tmp_path, in_root):
    """Interrupted after its first trial, the sweep resumes with the other one only; in the
    resumed part that trial's process is SIGKILLed once Train has registered a checkpoint
    of its run, and Tune's retry (max_failures=1) continues that run to the end from there."""
    from ray import tune

    from tests.support.faults import TUNE_TRIAL, Killer, train_checkpoint_registered

    class InterruptAfterFirstTrial(tune.Callback):
        """What Ctrl-C does: Tune's own signal handler saves the state and stops."""

        def on_trial_complete(self, iteration, trials, trial, **info):
            os.kill(os.getpid(), signal.SIGUSR1)

    cfg = _sweep(tiny_dataset, tmp_path, "resume", {"model.features": ["traj", "nearest"]}, steps=40,
                 wandb="offline", asha=AshaConfig(enabled=False))
    first = run_sweep(cfg, callbacks=[InterruptAfterFirstTrial()])
    done = first.trials[first.trials["status"] == "completed"]
    assert len(done) == 1, first.trials[["config", "status"]]
    finished_run = done.iloc[0]["run"]
    before = read_metrics(finished_run)
    with pytest.raises(FileExistsError, match="--resume"):
        run_sweep(cfg)
    others = lambda: [d for d in (tmp_path / "resume" / "runs").glob("*") if str(d) != str(finished_run)]  # noqa: E731
    def checkpointed() -> bool:  # the other trial's run has a checkpoint Train will restore
        return any(train_checkpoint_registered(d) for d in others())

    killer = Killer(TUNE_TRIAL, ready=checkpointed).start()
    second = run_sweep(SweepConfig(**{**cfg.__dict__, "resume": True, "max_failures": 1}))
    assert len(killer.join()) == 1, killer.error
    assert len(second.trials) == 2 and set(second.trials["status"]) == {"completed"}
    assert (second.sweep_dir / "part-2").is_dir()  # the second invocation ran only what was left
    assert read_metrics(finished_run) == before  # the finished trial did not train again
    retried = second.trials[second.trials["run"] != finished_run].iloc[0]
    assert retried["last_step"] == 40  # retried to the end
    steps = [r["step"] for r in read_metrics(retried["run"]) if "val/loss" in r]
    # continued from a registered checkpoint, not from the start: the first validation ran once.
    # Later ones may repeat: Train's controller registers reports at its poll (every 0.5 s in the
    # suite, tests/conftest.py), so those made since are lost with the trial. 40 steps: the run
    # outlasts a few polls here.
    assert steps.count(9) == 1 and set(steps) == {9, 19, 29, 39}, steps
    final = [r["step"] for r in final_history(read_metrics(retried["run"])) if "val/loss" in r]
    assert final == [9, 19, 29, 39]
    # one W&B offline run per trial (grouped by the sweep), the retried one continued, not a new one
    runs = glob.glob(str(second.sweep_dir / "runs" / "*" / "wandb" / "offline-run-*" / "run-*.wandb"))
    assert len({r.rsplit("run-", 1)[1] for r in runs}) == 2, runs
    # (ASHA, the results files and the best configuration: the sweep of tests/storage/test_object_storage.py)

