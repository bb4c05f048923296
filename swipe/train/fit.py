"""Training on Ray Train: a TorchTrainer whose workers each run Lightning (RayDDPStrategy).

`train()` is five steps, each a function below:

```
prepare_run    Ray (local or the cluster), the run's name and folder: new, or resumed on purpose
check_data     readable shards (the rest skipped and recorded), feature statistics, the fixed
               validation subset decoded for val/swipe_mrr, the lexicon trie
build_trainer  the Ray datasets, config.yaml, the TorchTrainer whose workers run `swipe.train.worker.train_loop`
               (the lexicon trie goes to them through the object store, once)
fit            workers report metrics and a self-describing checkpoint after every validation;
               Ray keeps the best by val/swipe_mrr
finish_run     the best checkpoint, the evaluation sets decoded with it, curves.png
```

The same function runs on a laptop (local Ray, CPU) and under `ray job submit` on a GPU cluster.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import ray
import ray.train
import torch
import yaml
from ray.train import CheckpointConfig, FailureConfig, ScalingConfig
from ray.train import DataConfig as RayDataConfig
from ray.train import RunConfig as RayRunConfig
from ray.train.torch import TorchTrainer

from swipe.cluster.session import ensure_ray
from swipe.config import build_config, config_to_dict
from swipe.console import ray_logging_config
from swipe.data.dataset import checked_split_files, head_batch, load_manifest, split_files
from swipe.data.swipes import SwipeBatch
from swipe.keyboard import parse_layouts
from swipe.lexicon import Alphabet, LexiconConfig, Trie, build_lexicon_trie, check_language, dataset_lexicon
from swipe.model.checkpoint import BEST_FILE, load_meta, load_model, resolve_checkpoint
from swipe.model.features import KeyTable, compute_stats
from swipe.model.inputs import collate
from swipe.model.spec import InputSpec, PointSpec, RepairSpec, load_spec
from swipe.model.transformer import ModelConfig, resolve
from swipe.plot import plot_training
from swipe.provenance import git_revision, now_iso, redact, run_stamp
from swipe import storage
from swipe.storage import is_uri
from swipe.train.config import ScaleConfig, TrainConfig
from swipe.train.evaluation import evaluate_split
from swipe.train.worker import train_loop
from swipe.train.stream import train_dataset, val_dataset
from swipe.train.tracking import METRICS_FILE, final_history, read_metrics


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
    `swipe.train.worker.train_loop` (the trie goes to them by one ray.put)."""
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
        train_loop, train_loop_config=loop_cfg,
        scaling_config=ScalingConfig(num_workers=cfg.scale.num_workers, use_gpu=cfg.scale.use_gpu,
                                     resources_per_worker=resources, placement_strategy=cfg.scale.placement_strategy),
        run_config=RayRunConfig(name=run.name, storage_path=run.storage,
                                checkpoint_config=CheckpointConfig(num_to_keep=cfg.run.keep_checkpoints,
                                                                   checkpoint_score_attribute=cfg.run.select_by,
                                                                   checkpoint_score_order="max"),
                                failure_config=FailureConfig(max_failures=cfg.run.max_failures),
                                logging_config=ray_logging_config(),  # the controller's INFO lines: to its log files
                                callbacks=list(callbacks)),
        # one worker reads the whole stream itself: a split of one would start a coordinator actor for nothing
        datasets=datasets, dataset_config=RayDataConfig(datasets_to_split=["train"] if cfg.scale.num_workers > 1 else [],
                                                        execution_options=ingest))


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
            model.set_keys(KeyTable.build(parse_layouts(load_manifest(ev.dataset)["layouts"]), data.alphabet,
                                          unknown_ok=model.key_head is not None))
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


