"""Training on Ray Train: a TorchTrainer whose workers each run Lightning (RayDDPStrategy).

`train()` is five steps, each a function below:

```
prepare_run    Ray (local or the cluster), the run's name and folder: new, or resumed on purpose
check_data     readable shards (the rest skipped and recorded), feature statistics, the fixed
               validation subset decoded for val/swipe_mrr, the lexicon trie
build_trainer  the Ray datasets, config.yaml, the TorchTrainer whose workers run `_train_loop`
               (the lexicon trie goes to them through the object store, once)
fit            workers report metrics and a self-describing checkpoint after every validation;
               Ray keeps the best by val/swipe_mrr
finish_run     the best checkpoint, the evaluation sets decoded with it, curves.png
```

The same function runs on a laptop (local Ray, CPU) and under `ray job submit` on a GPU cluster.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import pytorch_lightning as pl
import ray
import ray.train
import torch
import yaml
from ray.train import CheckpointConfig, FailureConfig, ScalingConfig
from ray.train import DataConfig as RayDataConfig
from ray.train import RunConfig as RayRunConfig
from ray.train.torch import TorchTrainer

from swipe.cluster.ray_compat import train_report_logger
from swipe.cluster.session import ensure_ray, quiet_loggers
from swipe.config import build_config, config_to_dict
from swipe.console import Progress, quiet, ray_logging_config
from swipe.data.dataset import checked_split_files, head_batch, load_manifest, split_files
from swipe.data.swipes import SwipeBatch
from swipe.decode.search import greedy_words
from swipe.metrics import summarize
from swipe.keyboard import parse_layouts
from swipe.lexicon import Alphabet, LexiconConfig, Trie, build_lexicon_trie, check_language, dataset_lexicon
from swipe.model.checkpoint import (BEST_FILE, TRAINER_FILE, load_meta, load_model, resolve_checkpoint,
                                   save_model_dir)
from swipe.model.features import KeyTable, compute_stats
from swipe.model.inputs import collate
from swipe.model.spec import InputSpec, PointSpec, RepairSpec, load_spec
from swipe.model.transformer import ModelConfig, SwipeModel, count_parameters, resolve
from swipe.plot import plot_training
from swipe.provenance import git_revision, now_iso, redact, run_stamp
from swipe import storage
from swipe.storage import is_uri
from swipe.train.module import OptimConfig, SwipeModule
from swipe.train.stream import DataConfig, PadCollate, train_dataset, val_dataset
from swipe.train.tracking import (METRICS_FILE, TrackingConfig, build_loggers, final_history, mark_restart,
                                  read_metrics)


@dataclass(frozen=True)
class ScaleConfig:
    """How many workers, on what."""

    num_workers: int = 2  # Ray Train workers (data-parallel; one GPU each with use_gpu)
    use_gpu: bool = False  # train on GPUs (one per worker, gpus_per_worker)
    cpus_per_worker: float = 0.45  # keep ≥ 1 CPU free for Ray Data, or reading stalls
    threads_per_worker: int = 0  # torch intra-op threads; 0 = max(1, ceil(cpus_per_worker))
    gpus_per_worker: float = 1.0  # with use_gpu
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"  # Lightning precision (bf16-mixed on GPUs)
    # where the workers go: PACK fills a node first; SPREAD puts them on as many nodes as it can
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"


@dataclass(frozen=True)
class RunConfig:
    """The run's identity, length and checkpoints."""

    name: str | None = None  # default: <dataset>-<model preset>-<UTC time>; reuse + resume=true to continue
    storage_path: str = "runs"  # local folder or a URI (s3://…, gs://…) on a cluster
    resume: bool = False  # continue the run `name` from its latest checkpoint
    init_from: str = ""  # fine-tune: start from this checkpoint's weights (or a run's best); its architecture and feature statistics
    max_steps: int = 1000  # optimizer steps in all (across workers)
    val_every: int = 100  # optimizer steps between validations (and checkpoints)
    seed: int = 0  # seeds torch, the data order and the augmentation
    decode_rows: int = 500  # fixed validation subset decoded for val/swipe_mrr and val/acc@1
    val_beam: int = 4  # beam size of val/swipe_mrr (1: greedy)
    val_freq_weight: float = 0.5  # λ, the validation beam's log-frequency prior (the lexicon's, as prediction has it)
    real_tune: str = ""  # a real dev dataset with users (data/datasets/real_en_dev): val/real_tune_mrr on the
    # swipes of its tuning half (swipe.metrics.user_half, seed 0); its reporting half is never read here
    real_tune_split: str = "dev"  # the split of real_tune read
    select_by: Literal["val/swipe_mrr", "val/real_tune_mrr"] = "val/swipe_mrr"  # the metric checkpoints are kept by
    stats_rows: int = 5000  # training rows used for feature standardisation statistics
    keep_checkpoints: int = 2  # best by val/swipe_mrr
    max_failures: int = 0  # worker failures survived by restarting from the last checkpoint
    num_cpus: int | None = None  # size of a local Ray (ignored on a cluster)


@dataclass(frozen=True)
class EvalSet:
    """A dataset split decoded with the best checkpoint after training."""

    name: str  # the evaluation set's name in the results
    dataset: str  # its dataset folder or URI
    split: str  # the split of `dataset` decoded
    rows: int = 0  # 0 = all


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    # the words validation and every later decoder search within (saved in the model's spec): the
    # dataset's (its manifest's `lexicon`: the words it was made of), with the keys of
    # swipe.lexicon.LexiconConfig set here replacing its own, e.g. {top_n: null} for all of its words
    lexicon: dict[str, Any] = field(default_factory=dict)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    run: RunConfig = field(default_factory=RunConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    eval: tuple[EvalSet, ...] = ()  # dataset splits decoded with the best checkpoint after training


@dataclass
class TrainResult:
    run_dir: Path  # local: the run's folder, or the scratch copy of one on object storage
    best_checkpoint: Path | None  # local: the checkpoint, or this machine's cached copy of it
    best_metrics: dict[str, Any]
    evals: dict[str, dict[str, float]]
    run_home: str = ""  # where the run lives: run_dir, or its URI
    best_uri: str = ""  # where the best checkpoint lives: its folder, or its URI


@dataclass(frozen=True)
class Run:
    """Where a training run lives."""

    name: str  # the run's name
    storage: str  # an absolute folder, or a URI
    dir: Path  # this run's folder (a local scratch folder when storage is a URI)

    @property
    def home(self) -> str:
        """The run's folder in its storage (Ray Train's checkpoints are in it too)."""
        return storage.join(self.storage, self.name)

    def publish(self, *names: str) -> None:
        """Copy these files of the scratch folder to the run's folder on object storage (a
        no-op for a local run, whose scratch folder is its folder)."""
        if is_uri(self.storage):
            for n in names:
                if (self.dir / n).exists():
                    storage.write_bytes(storage.join(self.home, n), (self.dir / n).read_bytes())


@dataclass
class TrainData:
    """What the driver learned from the dataset, and what every worker gets of it."""

    manifest: dict[str, Any]
    alphabet: Alphabet
    keys: KeyTable
    model: ModelConfig  # resolved: every size field filled in
    train_files: list[str]
    val_files: list[str]
    skipped: list[dict[str, Any]]  # unreadable shards: file, rows, reason
    train_rows: int  # in the readable training shards
    stats: tuple[np.ndarray, np.ndarray]  # feature standardisation: mean, std
    decode_batch: dict[str, torch.Tensor]  # the validation subset decoded after every validation
    decode_words: list[str]
    real_batch: dict[str, torch.Tensor] | None  # the real dev tuning half (run.real_tune), collated
    real_words: list[str]
    trie: Trie  # the lexicon that validation and the evaluation sets decode within
    spec: InputSpec  # what the model reads, saved with every checkpoint


def train(cfg: TrainConfig, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Fit a model as configured; returns the run directory, best checkpoint and evaluations.

    `callbacks` are Ray Train callbacks (a Tune trial passes TuneReportCallback)."""
    if cfg.run.select_by == "val/real_tune_mrr" and not cfg.run.real_tune:  # else it fails after training
        raise ValueError("run.select_by=val/real_tune_mrr needs run.real_tune (a real dev dataset with users)")
    check_inputs(cfg)
    run = prepare_run(cfg)
    data = check_data(cfg)
    trainer = build_trainer(cfg, run, data, callbacks)
    result = trainer.fit()
    return finish_run(cfg, run, data, result)


# ----------------------------------------------------------------------------- the steps
def check_inputs(cfg: TrainConfig) -> None:
    """Every dataset split the run will read, and the model it starts from, looked up before
    Ray starts: a wrong `eval:` path used to surface after training, with no checkpoint kept."""
    sets = [(cfg.data.dataset, cfg.data.train_split), (cfg.data.dataset, cfg.data.val_split)]
    sets += [(cfg.run.real_tune, cfg.run.real_tune_split)] if cfg.run.real_tune else []
    sets += [(ev.dataset, ev.split) for ev in cfg.eval]
    storage.refuse_relative_in_job(*job_paths(cfg))
    build_config(LexiconConfig, dict(cfg.lexicon), "lexicon.")  # a misspelt key, before any work
    for root, split in sets:
        split_files(root, split)  # FileNotFoundError / KeyError naming the dataset and its splits
    if cfg.run.init_from:
        resolve_checkpoint(cfg.run.init_from)


def job_paths(cfg: TrainConfig) -> tuple[dict[str, str], dict[str, str]]:
    """The paths a run reads and the one it writes, by key (what a submitted job checks)."""
    inputs = {"data.dataset": cfg.data.dataset, "run.real_tune": cfg.run.real_tune, "run.init_from": cfg.run.init_from,
              "lexicon.path": cfg.lexicon.get("path") or ""}
    inputs |= {f"eval[{i}].dataset": ev.dataset for i, ev in enumerate(cfg.eval)}
    return inputs, {"run.storage_path": cfg.run.storage_path}


def prepare_run(cfg: TrainConfig) -> Run:
    """Start or join Ray, name the run, and create its folder: a used name is an error unless
    the run is resumed on purpose, and resuming needs a run to resume."""
    if ensure_ray(cfg.run.num_cpus):  # a fixed-size local Ray: no autoscaler will add CPUs or GPUs
        check_resources(cfg.scale, ray.cluster_resources())
    name, root = run_name(cfg), _storage(cfg)
    run = Run(name, root, Path(root) / name if not is_uri(root) else Path(tempfile.mkdtemp(prefix="swipe-run-")) / name)
    exists = run_exists(cfg)
    if exists and not cfg.run.resume:
        raise FileExistsError(f"run {name!r} exists in {root}; pass --resume to continue it, or a new run.name")
    if cfg.run.resume and not exists:
        raise FileNotFoundError(f"cannot resume: no run {name!r} in {root}")
    run.dir.mkdir(parents=True, exist_ok=True)
    if exists and is_uri(root) and storage.exists(storage.join(run.home, METRICS_FILE)):  # continue its history
        (run.dir / METRICS_FILE).write_bytes(storage.read_bytes(storage.join(run.home, METRICS_FILE)))
    return run


def check_data(cfg: TrainConfig) -> TrainData:
    """Check every shard (unreadable ones are skipped, shown and recorded, never silently
    lost), then read what the workers share: feature statistics from the first training
    rows, the fixed validation subset decoded for val/swipe_mrr, and the lexicon trie."""
    manifest = load_manifest(cfg.data.dataset)
    alphabet = Alphabet(manifest["alphabet"])
    keys = KeyTable.build(parse_layouts(manifest["layouts"]), alphabet)
    model_cfg = resolve(cfg.model)
    train_files, bad_train = checked_split_files(cfg.data.dataset, cfg.data.train_split)
    val_files, bad_val = checked_split_files(cfg.data.dataset, cfg.data.val_split)
    skipped = [{"file": p, "rows": r, "reason": why} for p, r, why in bad_train + bad_val]
    for sk in skipped:
        print(f"[train] skipping unreadable shard {sk['file']} ({sk['rows']} rows): {sk['reason']}", flush=True)
    if not train_files or not val_files:
        raise ValueError(f"no readable shards left in {cfg.data.dataset} splits "
                         f"{cfg.data.train_split!r}/{cfg.data.val_split!r}: {skipped}")

    spec = build_input_spec(cfg, manifest)
    check_language(spec.lexicon, {name: grid.get("language") for name, grid in manifest["layouts"].items()})
    if cfg.run.init_from:  # fine-tuning keeps the starting model's architecture, statistics and inputs
        init = load_meta(resolve_checkpoint(cfg.run.init_from))
        check_init_spec(load_spec(init, f"init_from {cfg.run.init_from}"), spec, cfg.run.init_from)

    def padded(batch: SwipeBatch, targets: bool) -> dict[str, torch.Tensor]:
        return collate(batch, keys.index(), alphabet, spec, model_cfg.max_word_len, targets)

    head = padded(head_batch(train_files, cfg.run.stats_rows), targets=True)
    stats = compute_stats([(head["x"], head["y"], head["t"], head["mask"], head["grid"])], keys)
    if cfg.run.init_from:
        if init["alphabet"] != alphabet.chars:
            raise ValueError(f"init_from {cfg.run.init_from}: alphabet {init['alphabet']!r} is not the dataset's "
                             f"{alphabet.chars!r}")
        model_cfg = build_config(ModelConfig, init["model"])
        stats = (np.asarray(init["feature_stats"]["mean"], np.float32), np.asarray(init["feature_stats"]["std"], np.float32))
    dec = head_batch(val_files, cfg.run.decode_rows)
    decode_batch = {k: v for k, v in padded(dec, targets=False).items() if k in ("x", "y", "t", "mask", "grid")}
    real_batch, real_words = real_tune_batch(cfg, spec, alphabet, keys, model_cfg.max_word_len)
    train_rows = manifest["splits"][cfg.data.train_split]["rows"] - sum(r for _, r, _ in bad_train)
    return TrainData(manifest, alphabet, keys, model_cfg, train_files, val_files, skipped, train_rows, stats,
                     decode_batch, list(dec.words), real_batch, real_words, build_lexicon_trie(spec.lexicon, alphabet, say=True),
                     spec)


def real_tune_batch(cfg: TrainConfig, spec: InputSpec, alphabet: Alphabet, keys: KeyTable, max_word_len: int
                    ) -> tuple[dict[str, torch.Tensor] | None, list[str]]:
    """The real dev set's tuning-half swipes (run.real_tune) that the alphabet can spell, collated
    as the model reads them, each on its own keyboard (one of the training dataset's layouts)."""
    if not cfg.run.real_tune:
        return None, []
    from swipe.metrics import user_half

    batch = head_batch(split_files(cfg.run.real_tune, cfg.run.real_tune_split), 0)
    if batch.users is None or any(u is None for u in batch.users):
        raise ValueError(f"run.real_tune {cfg.run.real_tune}: every swipe needs its user (the halves are by user)")
    batch = batch.take(user_half(batch.users, 0) & np.array([w is not None and set(w) <= set(alphabet.chars)
                                                              for w in batch.words]))
    missing = sorted(set(batch.grid_names) - set(keys.index()))
    if missing:
        raise ValueError(f"run.real_tune {cfg.run.real_tune}: its layouts {missing[:5]}… are not in the training "
                         "dataset's layouts (train on a dataset that has them)")
    t = collate(batch, keys.index(), alphabet, spec, max_word_len, targets=False)
    return {k: v for k, v in t.items() if k in ("x", "y", "t", "mask", "grid")}, list(batch.words)


def build_input_spec(cfg: TrainConfig, manifest: dict | None = None) -> InputSpec:
    """What a model trained with `cfg` on the dataset of `manifest` reads: saved with it, read back by
    every other path. Its lexicon is the dataset's: a model decodes within the words it learnt to swipe."""
    return InputSpec(PointSpec(cfg.data.max_points, cfg.data.point_rule, cfg.data.rate_hz), RepairSpec(),
                     dataset_lexicon(manifest or {}, cfg.lexicon))


def check_init_spec(start: InputSpec, spec: InputSpec, where: str) -> None:
    """Fine-tuning must read swipes as the starting model was trained to: refuse other points
    or repairs (the lexicon may change: it is only decoded within)."""
    diff = [d for d in start.differences(spec) if not d.startswith("lexicon.")]
    if diff:
        raise ValueError(f"init_from {where} reads its swipes otherwise than this config would: "
                         + "; ".join(diff) + " (set data.max_points, data.point_rule and data.rate_hz as it has them)")


def build_trainer(cfg: TrainConfig, run: Run, data: TrainData, callbacks: Sequence[Any] = ()) -> TorchTrainer:
    """The Ray datasets, the run's config.yaml, and the TorchTrainer whose workers run
    `_train_loop` (the trie goes to them by one ray.put)."""
    layouts = parse_layouts(data.manifest["layouts"])
    datasets = {"train": train_dataset(data.train_files, {g: lay.key_width for g, lay in layouts.items()},
                                       cfg.data, passes_needed(cfg, data.train_rows)),
                "val": val_dataset(data.val_files, cfg.data)}
    record = run_record(cfg, run, data)
    (run.dir / "config.yaml").write_text(yaml.safe_dump(redact(record), sort_keys=False, allow_unicode=True))
    run.publish("config.yaml")
    init_from = cfg.run.init_from
    if init_from and not is_uri(init_from):  # workers run elsewhere: an absolute path (a URI they fetch themselves)
        init_from = str(resolve_checkpoint(init_from).resolve())
    loop_cfg = {"cfg": cfg, "model_cfg": data.model, "name": run.name, "run_dir": str(run.dir),
                "run_home": run.home if is_uri(run.storage) else "",
                "alphabet": data.alphabet.chars, "layouts_json": data.manifest["layouts"], "stats": data.stats,
                "spec": data.spec,
                "trie": ray.put(data.trie), "decode_batch": data.decode_batch,
                "real_batch": data.real_batch, "real_words": data.real_words,
                "decode_words": data.decode_words, "record": record, "init_from": init_from}
    resources = {"CPU": cfg.scale.cpus_per_worker} | ({"GPU": cfg.scale.gpus_per_worker} if cfg.scale.use_gpu else {})
    ingest = RayDataConfig.default_ingest_options()
    ingest.preserve_order = True  # the same batches in the same order on every run: reproducible
    return TorchTrainer(
        _train_loop, train_loop_config=loop_cfg,
        scaling_config=ScalingConfig(num_workers=cfg.scale.num_workers, use_gpu=cfg.scale.use_gpu,
                                     resources_per_worker=resources, placement_strategy=cfg.scale.placement_strategy),
        run_config=RayRunConfig(name=run.name, storage_path=run.storage,
                                checkpoint_config=CheckpointConfig(num_to_keep=cfg.run.keep_checkpoints,
                                                                   checkpoint_score_attribute=cfg.run.select_by,
                                                                   checkpoint_score_order="max"),
                                failure_config=FailureConfig(max_failures=cfg.run.max_failures),
                                logging_config=ray_logging_config(),  # the controller's INFO lines: to its log files
                                callbacks=list(callbacks)),
        datasets=datasets, dataset_config=RayDataConfig(datasets_to_split=["train"], execution_options=ingest))


def finish_run(cfg: TrainConfig, run: Run, data: TrainData, result: ray.train.Result) -> TrainResult:
    """The best checkpoint (recorded in best_checkpoint.txt), the evaluation sets decoded
    with it, and curves.png from the history the run ended with."""
    best = result.get_best_checkpoint(metric=cfg.run.select_by, mode="max")
    best_metrics = next((m for c, m in (result.best_checkpoints or []) if best and c.path == best.path), {})
    # Ray's path is within its filesystem ("bucket/…" on S3): the checkpoint's own folder below the run's
    best_uri = storage.join(run.home, storage.basename(best.path)) if best is not None else ""
    best_path = resolve_checkpoint(best_uri) if best_uri else None
    evals = {}
    if best_path is not None:
        model, _ = load_model(best_path)
        for ev in cfg.eval:  # each set on its own keyboards, whether the model was trained on them or not
            model.set_keys(KeyTable.build(parse_layouts(load_manifest(ev.dataset)["layouts"]), data.alphabet))
            evals[ev.name] = evaluate_split(model, ev, data.trie, data.spec)
        (run.dir / BEST_FILE).write_text(best_uri + "\n")
    if is_uri(run.storage) and storage.exists(storage.join(run.home, METRICS_FILE)):  # what rank 0 published
        (run.dir / METRICS_FILE).write_bytes(storage.read_bytes(storage.join(run.home, METRICS_FILE)))
    if (run.dir / METRICS_FILE).exists():
        plot_training(final_history(read_metrics(run.dir)), run.dir / "curves.png", title=run.name)
    run.publish(BEST_FILE, "curves.png")
    return TrainResult(run.dir, best_path, best_metrics, evals, run.home, best_uri)


# ----------------------------------------------------------------------------- helpers of the steps
def run_name(cfg: TrainConfig) -> str:
    return cfg.run.name or f"{Path(cfg.data.dataset).name}-{cfg.model.preset}-{run_stamp()}"


def _storage(cfg: TrainConfig) -> str:
    sp = cfg.run.storage_path
    return sp if is_uri(sp) else str(Path(sp).resolve())


def run_exists(cfg: TrainConfig) -> bool:
    """Whether the run `cfg.run.name` has started already in its storage (a folder or a URI)."""
    return storage.is_nonempty_dir(storage.join(_storage(cfg), run_name(cfg)))


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


def passes_needed(cfg: TrainConfig, train_rows: int) -> int:
    """Passes over the training rows that cover max_steps of every worker's batches, plus one
    (a streaming split hands out whole blocks, so a worker's share of a pass is uneven)."""
    steps_per_pass = max(1, train_rows // (cfg.data.batch_size * cfg.scale.num_workers))
    return math.ceil(cfg.run.max_steps / steps_per_pass) + 1


def run_record(cfg: TrainConfig, run: Run, data: TrainData) -> dict[str, Any]:
    """config.yaml: the resolved config (no secrets), git revision, dataset summary, skipped shards."""
    resolved = config_to_dict(cfg) | {"run": {**config_to_dict(cfg.run), "name": run.name}}
    resolved["model"] = config_to_dict(data.model)
    m = data.manifest
    return redact({"config": resolved, "git_revision": git_revision(), "created": now_iso(),
                   "dataset": {k: m[k] for k in ("name", "rows_kept", "alphabet", "provenance")}
                   | {"splits": {s: v["rows"] for s, v in m["splits"].items()}, "skipped_shards": data.skipped}})


@torch.no_grad()
def evaluate_split(model: SwipeModel, ev: EvalSet, trie: Trie, spec: InputSpec, batch_size: int = 256) -> dict[str, float]:
    """Greedy lexicon decoding of a whole split with `model` (CPU, in this process)."""
    batch = head_batch(split_files(ev.dataset, ev.split), ev.rows)
    grid_index = {g: i for i, g in enumerate(model.grid_names)}
    alphabet = trie.alphabet
    words: list[str] = []
    for s in range(0, len(batch), batch_size):
        part = batch.take(np.arange(s, min(s + batch_size, len(batch))))
        tensors = collate(part, grid_index, alphabet, spec, model.cfg.max_word_len, targets=False)
        words += greedy_words(model, tensors, alphabet, trie).words
    in_lexicon = np.mean([w is not None and trie.contains(w) for w in batch.words])
    return summarize([[w] for w in words], batch.words) | {"reference_in_lexicon": float(in_lexicon)}


# ----------------------------------------------------------------------------- worker side
QUIET = ["ray.train", "ray.data", "pytorch_lightning"]  # per-report INFO lines and notices: warnings only


def _train_loop(config: dict[str, Any]) -> None:
    """Runs in every Ray Train worker: Lightning inside, DDP across workers."""
    quiet()  # the worker's edge: swipe.console's list, unless the job runs --verbose
    with quiet_loggers(QUIET + [train_report_logger()]):
        _fit_in_worker(config)


def _fit_in_worker(config: dict[str, Any]) -> None:
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
