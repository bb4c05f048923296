"""Training on Ray Train: a TorchTrainer whose workers each run Lightning (RayDDPStrategy).

The driver prepares everything workers share — feature statistics from the training data,
the lexicon trie (in the object store once), a fixed validation subset to decode, the Ray
datasets — and the workers fit. After every validation the workers report metrics and a
self-describing checkpoint; Ray keeps the best by `val/swipe_mrr`. The same function runs
on a laptop (local Ray, CPU) and under `ray job submit` on a GPU cluster.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import pytorch_lightning as pl
import ray
import torch
import yaml

from swipe.checkpoint import TRAINER_FILE, load_meta, load_model, save_model_dir
from swipe.config import config_to_dict
from swipe.data import DataConfig, PadCollate, collate, train_dataset, val_dataset
from swipe.dataset import checked_split_files, head_table, load_manifest, split_files
from swipe.decode import greedy_words
from swipe.features import KeyTable, compute_stats
from swipe.keyboard import parse_layouts
from swipe.lexicon import Alphabet, LexiconConfig, Trie, build_lexicon_trie
from swipe.lightning_module import OptimConfig, SwipeModule
from swipe.metrics import summarize
from swipe.model import ModelConfig, SwipeModel, count_parameters, resolve
from swipe.provenance import git_revision, now_iso
from swipe.ray_env import ensure_ray
from swipe.swipes import SwipeBatch
from swipe.plot import plot_training
from swipe.tracking import TrackingConfig, build_loggers, final_history, mark_restart, read_metrics, scrub


@dataclass(frozen=True)
class ScaleConfig:
    """How many workers, on what."""

    num_workers: int = 2
    use_gpu: bool = False
    cpus_per_worker: float = 0.45  # keep ≥ 1 CPU free for Ray Data, or reading stalls
    threads_per_worker: int = 0  # torch intra-op threads; 0 = max(1, ceil(cpus_per_worker))
    gpus_per_worker: float = 1.0  # with use_gpu
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"


@dataclass(frozen=True)
class RunConfig:
    """The run's identity, length and checkpoints."""

    name: str | None = None  # default: <dataset>-<model preset>-<UTC time>; reuse + resume=true to continue
    storage_path: str = "runs"  # local folder or a URI (s3://…, gs://…) on a cluster
    resume: bool = False  # continue the run `name` from its latest checkpoint
    max_steps: int = 1000
    val_every: int = 100  # optimizer steps between validations (and checkpoints)
    seed: int = 0
    decode_rows: int = 500  # fixed validation subset decoded for val/swipe_mrr and val/acc@1
    stats_rows: int = 5000  # training rows used for feature standardisation statistics
    keep_checkpoints: int = 2  # best by val/swipe_mrr
    max_failures: int = 0  # worker failures survived by restarting from the last checkpoint
    num_cpus: int | None = None  # size of a local Ray (ignored on a cluster)


@dataclass(frozen=True)
class EvalSet:
    """A dataset split decoded with the best checkpoint after training."""

    name: str
    dataset: str
    split: str
    rows: int = 0  # 0 = all


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    lexicon: LexiconConfig = field(default_factory=lambda: LexiconConfig(top_n=20_000))  # for decoding
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    run: RunConfig = field(default_factory=RunConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    eval: tuple[EvalSet, ...] = ()


@dataclass
class TrainResult:
    run_dir: Path
    best_checkpoint: Path | None
    best_metrics: dict[str, Any]
    evals: dict[str, dict[str, float]]


# ----------------------------------------------------------------------------- driver side
def _head_rows(files: list[str], n: int) -> SwipeBatch:
    """The first n rows of a split, read with plain pyarrow (no Ray needed)."""
    return SwipeBatch.from_arrow(head_table(files, n))


def check_resources(scale: ScaleConfig, cluster: dict[str, float]) -> None:
    """On a fixed-size Ray, refuse a worker group that would leave Ray Data no CPU (its reads
    would wait forever) or that asks for GPUs the machine does not have (it would never start)."""
    total = cluster.get("CPU", 0.0)
    asked = scale.num_workers * scale.cpus_per_worker
    if asked > total - 1:
        raise ValueError(f"{scale.num_workers} workers × {scale.cpus_per_worker} CPU = {asked:g} of the "
                         f"cluster's {total:g} CPUs; leave at least 1 for Ray Data (lower "
                         f"scale.cpus_per_worker or scale.num_workers)")
    if scale.use_gpu and scale.num_workers * scale.gpus_per_worker > cluster.get("GPU", 0.0):
        raise ValueError(f"{scale.num_workers} workers × {scale.gpus_per_worker} GPU, but the cluster "
                         f"has {cluster.get('GPU', 0.0):g} GPUs")


def _run_name(cfg: TrainConfig) -> str:
    return cfg.run.name or f"{Path(cfg.data.dataset).name}-{cfg.model.preset}-{now_iso().replace(':', '')[:17]}"


def _storage(cfg: TrainConfig) -> str:
    sp = cfg.run.storage_path
    return sp if "://" in sp else str(Path(sp).resolve())


def run_exists(cfg: TrainConfig) -> bool:
    """Whether the run `cfg.run.name` has started already in its (local) storage."""
    run_dir = Path(_storage(cfg)) / _run_name(cfg)
    return "://" not in cfg.run.storage_path and run_dir.exists() and any(run_dir.iterdir())


def train(cfg: TrainConfig, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Fit a model as configured; returns the run directory, best checkpoint and evaluations.

    `callbacks` are Ray Train callbacks (a Tune trial passes TuneReportCallback)."""
    from ray.data import DataContext
    from ray.train import CheckpointConfig, FailureConfig, ScalingConfig
    from ray.train import DataConfig as RayDataConfig
    from ray.train import RunConfig as RayRunConfig
    from ray.train.torch import TorchTrainer

    if ensure_ray(cfg.run.num_cpus):  # a fixed-size local Ray: no autoscaler will add CPUs or GPUs
        check_resources(cfg.scale, ray.cluster_resources())
    DataContext.get_current().execution_options.preserve_order = True  # reproducible order
    DataContext.get_current().enable_progress_bars = False
    manifest = load_manifest(cfg.data.dataset)
    layouts = parse_layouts(manifest["layouts"])
    alphabet = Alphabet(manifest["alphabet"])
    keys = KeyTable.build(layouts, alphabet)
    grid_index = keys.index()
    model_cfg = resolve(cfg.model)

    name, storage = _run_name(cfg), _storage(cfg)
    run_dir = Path(storage) / name if "://" not in storage else Path(tempfile.mkdtemp()) / name
    exists = run_exists(cfg)
    if exists and not cfg.run.resume:
        raise FileExistsError(f"run {name!r} exists in {storage}; pass --resume to continue it, or a new run.name")
    if cfg.run.resume and not exists:
        raise FileNotFoundError(f"cannot resume: no run {name!r} in {storage}")
    run_dir.mkdir(parents=True, exist_ok=True)

    train_files, bad_train = checked_split_files(cfg.data.dataset, cfg.data.train_split)
    val_files, bad_val = checked_split_files(cfg.data.dataset, cfg.data.val_split)
    skipped = [{"file": p, "rows": r, "reason": why} for p, r, why in bad_train + bad_val]
    for sk in skipped:  # counted, shown, recorded with the run: never silently lost
        print(f"[train] skipping unreadable shard {sk['file']} ({sk['rows']} rows): {sk['reason']}", flush=True)
    if not train_files or not val_files:
        raise ValueError(f"no readable shards left in {cfg.data.dataset} splits "
                         f"{cfg.data.train_split!r}/{cfg.data.val_split!r}: {skipped}")
    head = collate(_head_rows(train_files, cfg.run.stats_rows), grid_index, alphabet, cfg.data.max_points,
                   model_cfg.max_word_len)
    stats_mean, stats_std = compute_stats([(head["x"], head["y"], head["t"], head["mask"], head["grid"])], keys)
    dec = _head_rows(val_files, cfg.run.decode_rows)
    decode_batch = collate(dec, grid_index, alphabet, cfg.data.max_points, model_cfg.max_word_len, targets=False)
    decode_batch = {k: v for k, v in decode_batch.items() if k in ("x", "y", "t", "mask", "grid")}
    trie = build_lexicon_trie(cfg.lexicon, alphabet)

    rows = manifest["splits"][cfg.data.train_split]["rows"] - sum(r for _, r, _ in bad_train)
    steps_per_pass = max(1, rows // (cfg.data.batch_size * cfg.scale.num_workers))
    epochs = math.ceil(cfg.run.max_steps / steps_per_pass) + 1
    key_width = {g: float(lay.letter_sizes[:, 0].mean()) for g, lay in layouts.items()}
    datasets = {"train": train_dataset(train_files, key_width, cfg.data, epochs),
                "val": val_dataset(val_files, cfg.data)}

    resolved = scrub(config_to_dict(cfg)) | {"run": {**config_to_dict(cfg.run), "name": name}}
    resolved["model"] = config_to_dict(model_cfg)
    record = {"config": resolved, "git_revision": git_revision(), "created": now_iso(),
              "dataset": {k: manifest[k] for k in ("name", "rows_kept", "alphabet", "provenance")}
              | {"splits": {s: v["rows"] for s, v in manifest["splits"].items()}, "skipped_shards": skipped}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(record, sort_keys=False, allow_unicode=True))

    loop_cfg = {"cfg": cfg, "model_cfg": model_cfg, "name": name, "run_dir": str(run_dir),
                "alphabet": alphabet.chars, "layouts_json": manifest["layouts"], "stats": (stats_mean, stats_std),
                "trie": ray.put(trie), "decode_batch": decode_batch, "decode_words": dec.words,
                "record": record}
    resources = {"CPU": cfg.scale.cpus_per_worker} | ({"GPU": cfg.scale.gpus_per_worker} if cfg.scale.use_gpu else {})
    trainer = TorchTrainer(
        _train_loop, train_loop_config=loop_cfg,
        scaling_config=ScalingConfig(num_workers=cfg.scale.num_workers, use_gpu=cfg.scale.use_gpu,
                                     resources_per_worker=resources),
        run_config=RayRunConfig(name=name, storage_path=storage,
                                checkpoint_config=CheckpointConfig(num_to_keep=cfg.run.keep_checkpoints,
                                                                   checkpoint_score_attribute="val/swipe_mrr",
                                                                   checkpoint_score_order="max"),
                                failure_config=FailureConfig(max_failures=cfg.run.max_failures),
                                callbacks=list(callbacks)),
        datasets=datasets, dataset_config=RayDataConfig(datasets_to_split=["train"]))
    result = trainer.fit()
    best = result.get_best_checkpoint(metric="val/swipe_mrr", mode="max")
    best_metrics = next((m for c, m in (result.best_checkpoints or []) if best and c.path == best.path), {})
    best_path = Path(best.path) if best is not None and "://" not in storage else None
    evals = {}
    if best_path is not None:
        model, _ = load_model(best_path)
        for ev in cfg.eval:
            evals[ev.name] = evaluate_split(model, ev, trie, cfg.data.max_points)
        (run_dir / "best_checkpoint.txt").write_text(str(best_path) + "\n")
    if (run_dir / "metrics.jsonl").exists():
        plot_training(final_history(read_metrics(run_dir)), run_dir / "curves.png", title=name)
    return TrainResult(run_dir, best_path, best_metrics, evals)


@torch.no_grad()
def evaluate_split(model: SwipeModel, ev: EvalSet, trie: Trie, max_points: int, batch_size: int = 256) -> dict[str, float]:
    """Greedy lexicon decoding of a whole split with `model` (CPU, in this process)."""
    files = split_files(ev.dataset, ev.split)
    batch = _head_rows(files, ev.rows or 1 << 62)
    grid_index = {g: i for i, g in enumerate(model.grid_names)}
    alphabet = trie.alphabet
    words: list[str] = []
    for s in range(0, len(batch), batch_size):
        part = batch.take(np.arange(s, min(s + batch_size, len(batch))))
        tensors = collate(part, grid_index, alphabet, max_points, model.cfg.max_word_len, targets=False)
        words += greedy_words(model, tensors, alphabet, trie).words
    in_lexicon = np.mean([w is not None and trie.contains(w) for w in batch.words])
    return summarize([[w] for w in words], batch.words) | {"reference_in_lexicon": float(in_lexicon)}


# ----------------------------------------------------------------------------- worker side
def _train_loop(config: dict[str, Any]) -> None:
    """Runs in every Ray Train worker: Lightning inside, DDP across workers."""
    import ray.train
    from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment, prepare_trainer

    cfg: TrainConfig = config["cfg"]
    quiet_worker_logs()
    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    pl.seed_everything(cfg.run.seed, workers=True, verbose=False)
    torch.set_num_threads(cfg.scale.threads_per_worker or max(1, math.ceil(cfg.scale.cpus_per_worker)))
    alphabet = Alphabet(config["alphabet"])
    layouts = parse_layouts(config["layouts_json"])
    keys = KeyTable.build(layouts, alphabet)
    model = SwipeModel(config["model_cfg"], keys, alphabet.size)
    model.features.set_stats(*config["stats"])
    trie: Trie = ray.get(config["trie"])
    module = SwipeModule(model, cfg.optim, cfg.run.max_steps, cfg.run.val_every, alphabet, trie,
                         config["decode_batch"], config["decode_words"])
    coll = PadCollate(keys.index(), alphabet, cfg.data.max_points, model.cfg.max_word_len)
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
        logger=build_loggers(config["run_dir"], config["name"], cfg.tracking, config["record"], rank) or False,
        callbacks=[ReportEveryValidation(alphabet, config["layouts_json"], config["record"])])
    trainer = prepare_trainer(trainer)
    resume_from, step = None, 0
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:  # a resumed run or a restarted worker group: continue from the last report
        local = Path(tempfile.mkdtemp(prefix="swipe-resume-"))
        with ckpt.as_directory() as d:
            shutil.copy(Path(d) / TRAINER_FILE, local / TRAINER_FILE)
            step = load_meta(d)["step"]
        resume_from = str(local / TRAINER_FILE)
        if rank == 0:
            print(f"[train] resuming from {ckpt.path} (step {step})", flush=True)
    if rank == 0:
        mark_restart(config["run_dir"], step)  # rows a lost attempt logged after `step` are superseded
    trainer.fit(module, train_dataloaders=train_iter, val_dataloaders=val_iter, ckpt_path=resume_from,
                weights_only=True)  # resuming unpickles no code: tensors, numbers, strings only


def quiet_worker_logs() -> None:
    """Workers print per-report INFO lines and progress bars by default; keep warnings only."""
    import logging

    from ray.data import DataContext

    from ray.train.v2._internal.execution import context, storage

    DataContext.get_current().enable_progress_bars = False
    # two of Train's chattiest loggers are named by file path, not by module
    for name in ("ray.train", "ray.data", "pytorch_lightning", context.__file__, storage.__file__):
        logging.getLogger(name).setLevel(logging.WARNING)


class ReportEveryValidation(pl.Callback):
    """After each validation every rank reports metrics (a barrier); rank 0 attaches a
    self-describing checkpoint, which Ray keeps if it is among the best by val/swipe_mrr."""

    def __init__(self, alphabet: Alphabet, layouts_json: dict, record: dict):
        self.alphabet, self.layouts_json, self.record = alphabet, layouts_json, record

    def on_validation_end(self, trainer: pl.Trainer, module: SwipeModule) -> None:
        import ray.train

        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        metrics["step"] = trainer.global_step
        tmp = Path(tempfile.mkdtemp(prefix="swipe-ckpt-"))
        trainer.save_checkpoint(tmp / TRAINER_FILE, weights_only=False)  # collective: every rank calls it
        checkpoint = None
        if trainer.global_rank == 0:
            save_model_dir(tmp, module.model, self.alphabet, self.layouts_json,
                           {"step": trainer.global_step, "metrics": metrics, "train": self.record})
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=checkpoint)
        shutil.rmtree(tmp, ignore_errors=True)
