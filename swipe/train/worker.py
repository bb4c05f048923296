"""What runs in every Ray Train worker: Lightning inside, DDP across workers, a report and a
self-describing checkpoint after every validation, and rank 0's progress line."""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl
import ray
import ray.train
import torch

from swipe import storage
from swipe.cluster.ray_compat import train_report_logger
from swipe.cluster.session import quiet_loggers
from swipe.console import Progress, quiet
from swipe.keyboard import parse_layouts
from swipe.lexicon import Alphabet, Trie
from swipe.model.checkpoint import TRAINER_FILE, load_meta, load_model, resolve_checkpoint, save_model_dir
from swipe.model.features import KeyTable
from swipe.model.spec import InputSpec
from swipe.model.transformer import SwipeModel, count_parameters
from swipe.train.module import SwipeModule
from swipe.train.stream import PadCollate
from swipe.train.tracking import METRICS_FILE, build_loggers, mark_restart

if TYPE_CHECKING:
    from swipe.train.config import TrainConfig

QUIET = ["ray.train", "ray.data", "pytorch_lightning"]  # per-report INFO lines and notices: warnings only


def train_loop(config: dict[str, Any]) -> None:
    """Runs in every Ray Train worker: Lightning inside, DDP across workers."""
    quiet()  # the worker's edge: swipe.console's list, unless the job runs --verbose
    with quiet_loggers(QUIET + [train_report_logger()]):
        fit_in_worker(config)


def fit_in_worker(config: dict[str, Any]) -> None:
    from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment, prepare_trainer

    cfg: TrainConfig = config["cfg"]
    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    pl.seed_everything(cfg.run.seed, workers=True, verbose=False)
    torch.set_num_threads(cfg.scale.threads_per_worker or max(1, math.ceil(cfg.scale.cpus_per_worker)))
    alphabet = Alphabet(config["alphabet"])
    keys = KeyTable.build(parse_layouts(config["layouts_json"]), alphabet)
    model = SwipeModel(config["model_cfg"], keys, alphabet.size)
    model.features.set_stats(*config["stats"])
    if config["init_from"]:  # the starting weights (an absolute path: workers run elsewhere), this dataset's keys
        model = load_model(resolve_checkpoint(config["init_from"]), "cpu", parse_layouts(config["layouts_json"]))[0].train()
    trie: Trie = ray.get(config["trie"])
    module = SwipeModule(model, cfg.optim, cfg.run.max_steps, cfg.run.val_every, alphabet, trie,
                         config["decode_batch"], config["decode_words"], cfg.run.val_beam, cfg.run.val_freq_weight,
                         config["real_batch"], config["real_words"])
    coll = PadCollate(keys.index(), alphabet, config["spec"], model.cfg.max_word_len)
    train_iter = ray.train.get_dataset_shard("train").iter_torch_batches(
        batch_size=cfg.data.batch_size, collate_fn=coll, drop_last=True,
        local_shuffle_buffer_size=cfg.data.shuffle_buffer or None, local_shuffle_seed=cfg.run.seed + rank)
    val_iter = ray.train.get_dataset_shard("val").iter_torch_batches(batch_size=256, collate_fn=coll)
    if rank == 0:
        print(f"[train] {count_parameters(model):,} parameters, features={model.cfg.features}, "
              f"{ctx.get_world_size()} worker(s)", flush=True)
    trainer = pl.Trainer(
        max_steps=cfg.run.max_steps, val_check_interval=cfg.run.val_every, check_val_every_n_epoch=None,
        num_sanity_val_steps=0, accelerator="gpu" if cfg.scale.use_gpu else "cpu", devices="auto",
        strategy=RayDDPStrategy(), plugins=[RayLightningEnvironment()], precision=cfg.scale.precision,
        gradient_clip_val=cfg.optim.grad_clip or None, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=10,
        logger=build_loggers(config["run_dir"], config["name"], cfg.tracking, config["record"], rank,
                             config["run_home"]) or False,
        callbacks=[ReportEveryValidation(alphabet, config["layouts_json"], config["spec"], config["record"],
                                         config["run_dir"], config["run_home"])]
        + ([ConsoleProgress(cfg.run.max_steps)] if rank == 0 else []))
    trainer = prepare_trainer(trainer)
    resume_from, step = _resume_point(rank)
    if rank == 0:
        mark_restart(config["run_dir"], step)  # rows a lost attempt logged after `step` are superseded
    trainer.fit(module, train_dataloaders=train_iter, val_dataloaders=val_iter, ckpt_path=resume_from,
                weights_only=True)  # resuming unpickles no code: tensors, numbers, strings only


def _resume_point(rank: int) -> tuple[str | None, int]:
    """A resumed run or a restarted worker group continues from Ray Train's last registered
    checkpoint: (a local copy of its trainer state, its step); (None, 0) for a fresh start."""
    ckpt = ray.train.get_checkpoint()
    if ckpt is None:
        return None, 0
    local = Path(tempfile.mkdtemp(prefix="swipe-resume-"))
    with ckpt.as_directory() as d:
        shutil.copy(Path(d) / TRAINER_FILE, local / TRAINER_FILE)
        step = load_meta(d)["step"]
    if rank == 0:
        print(f"[train] resuming from {ckpt.path} (step {step})", flush=True)
    return str(local / TRAINER_FILE), step


class ConsoleProgress(pl.Callback):
    """Rank 0's progress line: step of max_steps, steps/s, ETA, the smoothed training loss and
    the last validation (every 15 s, and after each validation)."""

    def __init__(self, max_steps: int, every_s: float = 15.0):
        self.progress = Progress("train", max_steps, "steps", every_s)
        self.progress.start_count = -1  # not started yet
        self.val = ""

    def on_train_batch_end(self, trainer: pl.Trainer, module: SwipeModule, *args: Any) -> None:
        if self.progress.start_count < 0:  # the rate starts after the first step (start-up is not training)
            self.progress.start_count, self.progress.t0 = trainer.global_step, time.monotonic()
            return
        loss = trainer.callback_metrics.get("train/loss")
        self.progress.update(trainer.global_step, (f"loss {float(loss):.3f}" if loss is not None else "") + self.val)

    def on_validation_end(self, trainer: pl.Trainer, module: SwipeModule) -> None:
        m = trainer.callback_metrics
        if not trainer.sanity_checking and "val/swipe_mrr" in m:
            self.val = f"  val/loss {float(m['val/loss']):.3f}  val/swipe_mrr {float(m['val/swipe_mrr']):.4f}"
            if "val/real_tune_mrr" in m:
                self.val += f"  val/real_tune_mrr {float(m['val/real_tune_mrr']):.4f}"
            self.progress.update(trainer.global_step, self.val.strip(), force=True)


class ReportEveryValidation(pl.Callback):
    """After each validation every rank reports metrics (a barrier); rank 0 attaches a
    self-describing checkpoint, which Ray keeps if it is among the best by val/swipe_mrr."""

    def __init__(self, alphabet: Alphabet, layouts_json: dict, spec: InputSpec, record: dict, run_dir: str = "",
                 run_home: str = ""):
        """`run_home`: the run's URI on object storage, where rank 0 publishes metrics.jsonl
        after each validation (its disk may be on any node); "" for a local run."""
        self.alphabet, self.layouts_json, self.spec, self.record = alphabet, layouts_json, spec, record
        self.run_dir, self.run_home = run_dir, run_home

    def on_validation_end(self, trainer: pl.Trainer, module: SwipeModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        metrics["step"] = trainer.global_step
        tmp = Path(tempfile.mkdtemp(prefix="swipe-ckpt-"))
        trainer.save_checkpoint(tmp / TRAINER_FILE, weights_only=False)  # collective: every rank calls it
        checkpoint = None
        if trainer.global_rank == 0:
            save_model_dir(tmp, module.model, self.alphabet, self.layouts_json, self.spec,
                           {"step": trainer.global_step, "metrics": metrics, "train": self.record})
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=checkpoint)
        shutil.rmtree(tmp, ignore_errors=True)
        history = Path(self.run_dir) / METRICS_FILE
        if trainer.global_rank == 0 and self.run_home and history.exists():
            storage.write_bytes(storage.join(self.run_home, METRICS_FILE), history.read_bytes())
