"""The LightningModule with a plain single-process Lightning Trainer (schedules, masking)."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from swipe.data.synth import SynthConfig, synthesize
from swipe.lexicon import PAD, build_alphabet, build_trie
from swipe.model.features import KeyTable
from swipe.model.inputs import collate
from swipe.model.transformer import ModelConfig, SwipeModel
from swipe.train.config import OptimConfig
from swipe.train.module import SwipeModule, build_scheduler, lexicon_allowed
from swipe.train.tracking import JsonlLogger, read_metrics
from swipe.model.spec import InputSpec, PointSpec

WORDS = ["hello", "help", "world", "word", "swipe", "keyboard", "a", "the"]


@pytest.fixture(scope="module")
def parts(qwerty):
    alpha = build_alphabet([qwerty], "'")
    keys = KeyTable.build({"qwerty_english": qwerty}, alpha)
    rng = np.random.default_rng(0)
    b = synthesize(list(rng.choice(WORDS, 256)), qwerty, SynthConfig(), rng)
    batches = [collate(b.take(np.arange(s, s + 32)), {"qwerty_english": 0}, alpha, InputSpec(PointSpec(128)), 32)
               for s in range(0, 256, 32)]
    trie = build_trie(WORDS, np.arange(1, 9, dtype=float), alpha)
    return alpha, keys, batches, trie, b


def _module(parts, optim, max_steps, val_every, references=None):
    alpha, keys, batches, trie, b = parts
    torch.manual_seed(0)
    model = SwipeModel(ModelConfig(preset="tiny"), keys, alpha.size)
    dec = {k: v for k, v in batches[0].items() if k in ("x", "y", "t", "mask", "grid")}
    return SwipeModule(model, optim, max_steps, val_every, alpha, trie, dec, references or b.words[:32])


def _fit(module, batches, tmp_path, max_steps, val_every):
    trainer = pl.Trainer(max_steps=max_steps, val_check_interval=val_every, check_val_every_n_epoch=None,
                         num_sanity_val_steps=0, accelerator="cpu", devices=1, logger=JsonlLogger(tmp_path),
                         log_every_n_steps=1, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False)
    trainer.fit(module, train_dataloaders=DataLoader(batches * 50, batch_size=None),
                val_dataloaders=DataLoader(batches[:2], batch_size=None))
    return read_metrics(tmp_path)


def test_plateau_steps_once_per_validation(parts, tmp_path):
    """patience 0 and a metric that cannot improve (references outside the lexicon, so
    val/swipe_mrr stays 0): LR halves after every validation but the first."""
    optim = OptimConfig(lr=1e-3, schedule="plateau", plateau_factor=0.5, plateau_patience=0)
    module = _module(parts, optim, max_steps=12, val_every=3, references=["qqq"] * 32)
    rows = _fit(module, parts[2], tmp_path, 12, 3)
    lr = {r["step"]: r["lr"] for r in rows if "lr" in r}
    vals = [r for r in rows if "val/swipe_mrr" in r]
    assert len(vals) == 4  # validations after steps 3, 6, 9, 12
    # validation k ends the window of 3 steps; the LR used in the next window is halved
    assert {v["val/swipe_mrr"] for v in vals} == {0.0}
    # logged step s is optimizer step s+1; validations follow logged steps 2, 5, 8, 11
    assert lr[1] == pytest.approx(1e-3) and lr[4] == pytest.approx(1e-3)  # the first one sets the best
    assert lr[7] == pytest.approx(0.5e-3) and lr[10] == pytest.approx(0.25e-3)
    assert module.plateau.state_dict()["last_epoch"] == 4  # stepped once per validation


def test_training_loss_goes_down_and_metrics_are_logged(parts, tmp_path):
    optim = OptimConfig(lr=3e-3, schedule="constant", warmup_steps=5, lexicon_mask=True)
    rows = _fit(_module(parts, optim, 60, 20), parts[2], tmp_path, 60, 20)
    names = set().union(*rows)
    assert {"train/loss", "lr", "val/loss", "val/token_acc", "val/swipe_mrr", "val/acc@1"} <= names
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "constant", "milestones"])
def test_step_schedules(schedule):
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    cfg = OptimConfig(lr=1.0, schedule=schedule, warmup_steps=10, milestones=(50, 80), milestone_gamma=0.1)
    sched = build_scheduler(opt, cfg, max_steps=100)["scheduler"]
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    if schedule == "cosine":
        assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
        assert lrs[99] == pytest.approx(0.05, abs=0.01) and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    elif schedule == "milestones":  # the same steps in every experiment
        assert lrs[49] == pytest.approx(1.0) and lrs[50] == pytest.approx(0.1) and lrs[80] == pytest.approx(0.01)
    elif schedule == "onecycle":
        assert max(lrs) == pytest.approx(1.0, rel=0.05) and lrs[0] < 0.1 and lrs[-1] < 0.01
    else:
        assert lrs[9:] == [1.0] * 91


def test_smoothed_loss_matches_torch_and_ignores_impossible_tokens():
    import torch.nn.functional as F

    from swipe.train.module import smoothed_cross_entropy

    torch.manual_seed(0)
    logits = torch.randn(3, 5, 9)
    target = torch.randint(1, 9, (3, 5))
    target[0, 3:] = PAD
    ref = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=PAD, label_smoothing=0.1)
    torch.testing.assert_close(smoothed_cross_entropy(logits, target, 0.1, None), ref)
    allowed = torch.rand(3, 5, 9) < 0.5
    allowed.scatter_(-1, target.unsqueeze(-1), True)
    masked = smoothed_cross_entropy(logits.masked_fill(~allowed, 1e4), target, 0.1, allowed)
    assert torch.isfinite(masked) and masked < ref  # fewer choices, none of them impossible


def test_lexicon_mask_allows_exactly_the_continuations(parts):
    alpha, _, _, trie, _ = parts
    from swipe.model.inputs import encode_targets

    _, tout = encode_targets(["help", "the"], alpha, 32)
    allowed = lexicon_allowed(trie, tout)
    h, e, l_ = alpha.encode("hel")
    assert set(np.flatnonzero(allowed[0, 0].numpy())) == {alpha.encode(w[0])[0] for w in WORDS}
    assert set(np.flatnonzero(allowed[0, 3].numpy())) == set(alpha.encode("lp"))  # hel → hell(o) / help
    assert allowed[1, :, PAD].sum() <= 1  # PAD only where it is the target (after EOS)


def test_resources_leave_ray_data_a_cpu():
    from swipe.train.config import ScaleConfig
    from swipe.train.fit import check_resources

    check_resources(ScaleConfig(num_workers=2, cpus_per_worker=0.45), {"CPU": 2.0})
    with pytest.raises(ValueError, match="leave at least 1 for Ray Data"):
        check_resources(ScaleConfig(num_workers=2, cpus_per_worker=1.0), {"CPU": 2.0})
    with pytest.raises(ValueError, match="GPU"):
        check_resources(ScaleConfig(num_workers=2, use_gpu=True, cpus_per_worker=1), {"CPU": 8.0, "GPU": 1.0})


@pytest.mark.parametrize("schedule", ["plateau", "onecycle"])
def test_trainer_checkpoint_resumes_with_weights_only(parts, tmp_path, schedule):
    """Resuming (train.py: fit(ckpt_path=..., weights_only=True)) must not need to unpickle
    code: the optimizer, scheduler and loop states are tensors, numbers and strings."""
    optim = OptimConfig(lr=1e-3, schedule=schedule, warmup_steps=2)
    first = pl.Trainer(max_steps=4, val_check_interval=2, check_val_every_n_epoch=None,
                       num_sanity_val_steps=0, accelerator="cpu", devices=1, logger=False,
                       enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    batches = parts[2]
    first.fit(_module(parts, optim, 8, 2), DataLoader(batches * 50, batch_size=None),
              DataLoader(batches[:2], batch_size=None))
    first.save_checkpoint(tmp_path / "lightning.ckpt", weights_only=False)
    assert {"optimizer_states", "lr_schedulers", "loops"} <= set(
        torch.load(tmp_path / "lightning.ckpt", weights_only=True))
    again = pl.Trainer(max_steps=8, val_check_interval=2, check_val_every_n_epoch=None,
                       num_sanity_val_steps=0, accelerator="cpu", devices=1, logger=False,
                       enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    again.fit(_module(parts, optim, 8, 2), DataLoader(batches * 50, batch_size=None),
              DataLoader(batches[:2], batch_size=None), ckpt_path=tmp_path / "lightning.ckpt",
              weights_only=True)
    assert again.global_step == 8


def test_final_history_drops_what_a_lost_attempt_logged_after_the_checkpoint(tmp_path):
    """Attempt 1 validates after steps 10, 20, 30 and dies; Train had registered only the step-10
    checkpoint, so attempt 2 restarts there: its validations at 20 and 30 replace the lost ones."""
    from swipe.train.tracking import final_history, mark_restart

    log = JsonlLogger(tmp_path)
    mark_restart(tmp_path, 0)  # the first start: nothing to supersede, no marker
    for step in (9, 19, 29):
        log.log_metrics({"train/loss": 1.0 / (step + 1)}, step)
        log.log_metrics({"val/loss": 1.0}, step)
    mark_restart(tmp_path, 10)
    for step in (10, 19, 29, 39):
        log.log_metrics({"train/loss": 2.0}, step)
        if step % 10 == 9:
            log.log_metrics({"val/loss": 2.0}, step)
    rows = read_metrics(tmp_path)
    assert [r["step"] for r in rows if "val/loss" in r] == [9, 19, 29, 19, 29, 39]  # as logged
    final = final_history(rows)
    assert [(r["step"], r["val/loss"]) for r in final if "val/loss" in r] == [(9, 1.0), (19, 2.0), (29, 2.0), (39, 2.0)]
    assert [r["step"] for r in final if "train/loss" in r] == [9, 10, 19, 29, 39]
    mark_restart(tmp_path, 0)  # a restart with no checkpoint: from scratch
    assert final_history(read_metrics(tmp_path)) == []
