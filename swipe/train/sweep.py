"""Ray Tune sweeps over training configurations: every trial runs `swipe.train.fit.train`.

```
driver: variants (grid product or seeded random draws) × seeds ─► Tuner(grid over both)
  trial (a Tune function, 0.01 CPU): TrainConfig + variant + seed ─► train(…, TuneReportCallback)
     └─ TorchTrainer workers (scale.*), reporting after every validation ─► ASHA on val/swipe_mrr
driver: every part's trials (a Tune ExperimentAnalysis) ─► results.csv (a row per trial),
        results.md (a row per configuration, mean ± std over seeds), curves.png (per feature
        set), best_config.yaml (for `swipe train`)
```

Variants are drawn in the driver, not by Tune's samplers, so that every seed of a
configuration trains exactly the same configuration, and a resumed sweep sees the same
trials. Each invocation is one Tune experiment, SWEEP/part-N, over the trials not yet
finished. Trial names are stable (a hash of the configuration, and the seed), and a trial's
training run lives in SWEEP/runs/<trial>, so a restarted trial continues its own run from
its last checkpoint.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import pandas as pd
import ray
import yaml

from swipe import storage
from swipe.cluster.session import ensure_ray, scoped_env
from swipe.config import ConfigError, build_config, config_to_dict, merge
from swipe.provenance import redact, run_stamp
from swipe.train.config import TrainConfig
from swipe.train.fit import check_resources, job_paths, run_exists, train

METRICS = ("val/swipe_mrr", "val/real_tune_mrr")  # what a sweep may rank by (the second needs run.real_tune)
DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")
FINISHED = ("completed", "stopped early")
BASE = "·"  # in result tables: this trial keeps the base config's value of that key  # trial statuses a resumed sweep keeps


@dataclass(frozen=True)
class AshaConfig:
    """Asynchronous successive halving on val/swipe_mrr, one rung unit = one validation."""

    enabled: bool = True  # stop trials early (false: every trial runs to max_steps)
    grace_validations: int = 2  # a trial is never stopped before this many validations
    reduction_factor: int = 2  # at each rung, trials below the top 1/factor so far stop


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: a base training config, a space over its keys, the search, the resources."""

    name: str | None = None  # default: sweep-<UTC time>; reuse it with resume=true to continue
    train: TrainConfig = field(default_factory=TrainConfig)  # what every trial starts from
    # dotted TrainConfig key → a list of values (grid: every combination; random: a choice)
    # or, for random search, {loguniform: [lo, hi]} | {uniform: [lo, hi]} | {randint: [lo, hi)}
    space: dict[str, Any] = field(default_factory=dict)
    # or the configurations themselves (dotted key → value each): a one-at-a-time ablation
    variants: tuple[dict[str, Any], ...] = ()
    metric: str = "val/swipe_mrr"  # ranked by its best validation; val/real_tune_mrr: the dev tuning half
    search: Literal["grid", "random", "list"] = "grid"  # grid: every combination of `space` | random: num_samples draws | list: the configurations in `space`
    num_samples: int = 8  # random search: configurations drawn
    num_seeds: int = 2  # every configuration trains with run.seed = 0 … num_seeds − 1
    seed: int = 0  # of the random draws
    asha: AshaConfig = field(default_factory=AshaConfig)
    max_concurrent: int = 2  # trials at once
    trial_cpus: float = 0.01  # the trial process itself (its workers ask for train.scale.*)
    max_failures: int = 1  # a trial that fails is retried this many times
    storage_path: str = "runs/sweeps"  # where sweeps go: a local folder or a URI
    resume: bool = False  # continue the sweep `name`: finished trials are kept, the rest run
    verbose: int = 1  # Tune's console output: 0 quiet, 1 status tables, 2 every result
    num_cpus: int | None = None  # size of a local Ray (ignored on a cluster)


@dataclass
class SweepResult:
    sweep_dir: Path  # local: the sweep's folder, or the scratch folder its results were written in
    trials: pd.DataFrame  # one row per trial
    table: pd.DataFrame  # one row per configuration, best first
    best_config: Path
    wall_s: float
    sweep_home: str = ""  # where the sweep lives: sweep_dir, or its URI


# ----------------------------------------------------------------------------- the space
def variants(cfg: SweepConfig) -> list[dict[str, Any]]:
    """The configurations to train: dotted key → value, in a fixed order."""
    if cfg.search == "list" or cfg.variants:
        if cfg.search != "list" or not cfg.variants or cfg.space:
            raise ConfigError("search: list takes `variants` (a list of dotted key → value mappings) and no `space`")
        out = [dict(v) for v in cfg.variants]
        for v in out:
            apply_variant(cfg.train, v)
        return out
    keys = list(cfg.space)
    for k in keys:
        v = cfg.space[k]
        if isinstance(v, dict):
            if cfg.search == "grid":
                raise ConfigError(f"space.{k}: grid search takes a list of values, not {v!r}")
            if len(v) != 1 or next(iter(v)) not in DISTRIBUTIONS:
                raise ConfigError(f"space.{k}: a distribution is one of {DISTRIBUTIONS} → [args], got {v!r}")
        elif not isinstance(v, (list, tuple)) or not v:
            raise ConfigError(f"space.{k}: expected a non-empty list of values or a distribution, got {v!r}")
    if cfg.search == "grid":
        out = [dict(zip(keys, combo)) for combo in itertools.product(*(cfg.space[k] for k in keys))]
    else:
        rng = np.random.default_rng(cfg.seed)
        out = [{k: _draw(cfg.space[k], rng) for k in keys} for _ in range(cfg.num_samples)]
    for v in out:  # every variant must make a valid training config, before anything starts
        apply_variant(cfg.train, v)
    return out


def _draw(spec: Any, rng: np.random.Generator) -> Any:
    if isinstance(spec, (list, tuple)):
        return spec[int(rng.integers(len(spec)))]
    (kind, args), = spec.items()
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    lo, hi = args
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    if kind == "uniform":
        return float(rng.uniform(lo, hi))
    return int(rng.integers(lo, hi))  # randint: [lo, hi)


def apply_variant(base: TrainConfig | dict[str, Any], variant: dict[str, Any]) -> TrainConfig:
    """The training config of one variant (dotted keys, checked like any override)."""
    if not isinstance(base, dict):
        base = config_to_dict(base)
    nested: dict[str, Any] = {}
    for key, value in variant.items():
        node = nested
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    try:
        return build_config(TrainConfig, merge(base, nested))
    except ConfigError as e:
        raise ConfigError(f"sweep space: {e}") from None


def label(variant: dict[str, Any]) -> str:
    """A short name: `schedule=cosine features=traj`."""
    return " ".join(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in variant.items())


def _fmt(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# ----------------------------------------------------------------------------- running
def config_key(variant: dict[str, Any]) -> str:
    """A configuration's stable short name (a hash of its values)."""
    return hashlib.sha1(json.dumps(variant, sort_keys=True).encode()).hexdigest()[:8]


def trial_key(variant: dict[str, Any], seed: int) -> str:
    """A trial's stable name: the same configuration and seed give the same name in every
    part of a resumed sweep, so an interrupted trial finds its own training run again."""
    return f"{config_key(variant)}-s{seed}"


def _trial(config: dict[str, Any]) -> None:
    """One Tune trial: the training job with this variant and seed, reporting to Tune."""
    from ray.tune.integration.ray_train import TuneReportCallback

    base = config["base"]  # plain data: Tune's saved state turns dataclasses into dicts
    variant, seed = config["trial"]["variant"], config["trial"]["seed"]
    cfg = apply_variant(base, variant)
    tags = tuple(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in variant.items()) + (f"seed={seed}",)
    cfg = replace(cfg, run=replace(cfg.run, name=trial_key(variant, seed), storage_path=config["runs_dir"], seed=seed),
                  tracking=replace(cfg.tracking, group=config["sweep"], tags=cfg.tracking.tags + tags))
    # a retried or resumed trial continues its own run from the last checkpoint
    cfg = replace(cfg, run=replace(cfg.run, resume=run_exists(cfg)))
    train(cfg, callbacks=[TuneReportCallback()])


def run_sweep(cfg: SweepConfig, callbacks: Sequence[Any] = ()) -> SweepResult:
    """Run (or resume) the sweep and write its results; returns them. `callbacks` are Tune
    callbacks.

    Each run of the sweep is a Tune experiment SWEEP/part-N over the trials not finished
    yet. Resuming reads the earlier parts' results, keeps the finished trials (completed or
    stopped early) and runs the rest (Tune's own restore does not re-create grid trials it
    had not yet started). ASHA compares trials within a part.
    """
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    t0 = time.perf_counter()
    # every variant's input paths, before Ray or Tune start (inside a trial, a refusal would be retried)
    for variant in variants(cfg):
        reads, _ = job_paths(apply_variant(cfg.train, variant))
        storage.refuse_relative_in_job({f"train.{k}": v for k, v in reads.items()}, {"storage_path": cfg.storage_path})
    local = ensure_ray(cfg.num_cpus)
    name = cfg.name or f"sweep-{run_stamp()}"
    root = cfg.storage_path if storage.is_uri(cfg.storage_path) else str(Path(cfg.storage_path).resolve())
    home = storage.join(root, name)  # a folder or a URI: Tune's experiments, the trials' runs, the results
    exists = storage.is_nonempty_dir(home)
    if exists and not cfg.resume:
        raise FileExistsError(f"sweep {name!r} exists in {root}; pass --resume to continue it, or a new name")
    if cfg.resume and not exists:
        raise FileNotFoundError(f"cannot resume: no sweep {name!r} in {root}")
    found = variants(cfg)
    if cfg.metric not in METRICS:
        raise ConfigError(f"metric {cfg.metric!r}: choose from {METRICS}")
    if cfg.metric == "val/real_tune_mrr" and not cfg.train.run.real_tune:
        raise ConfigError("metric val/real_tune_mrr needs train.run.real_tune (the real dev dataset)")
    run = cfg.train.run
    max_t = run.max_steps // run.val_every  # validations in a full trial
    if max_t < 1:
        raise ConfigError(f"train.run.val_every ({run.val_every}) exceeds max_steps: trials would never validate")
    if local:  # concurrent trials' workers must still leave Ray Data a CPU
        scale = cfg.train.scale
        total = replace(scale, num_workers=scale.num_workers * cfg.max_concurrent,
                        cpus_per_worker=scale.cpus_per_worker + cfg.trial_cpus / scale.num_workers)
        check_resources(total, ray.cluster_resources())
    storage.write_text(storage.join(home, "sweep.yaml"), yaml.safe_dump(redact(config_to_dict(replace(cfg, name=name))),
                                                                         sort_keys=False))
    final_step = max_t * run.val_every
    parts = sorted((d for d in storage.list_dirs(home) if storage.basename(d).startswith("part-")),
                   key=lambda p: int(storage.basename(p).split("-")[1]))
    earlier = [collect_trials(_load_part(p), final_step, cfg.metric) for p in parts]
    finished = {t for df in earlier if len(df) for t in df.loc[df["status"].isin(FINISHED), "trial"]}
    todo = [{"variant": v, "seed": s} for v in found for s in range(cfg.num_seeds)
            if trial_key(v, s) not in finished]
    if todo:
        scheduler = (ASHAScheduler(time_attr="training_iteration", max_t=max_t,
                                   grace_period=cfg.asha.grace_validations, reduction_factor=cfg.asha.reduction_factor)
                     if cfg.asha.enabled else FIFOScheduler())
        space = {"trial": tune.grid_search(todo), "base": config_to_dict(cfg.train), "sweep": name,
                 "runs_dir": storage.join(home, "runs")}
        tuner = tune.Tuner(
            tune.with_resources(_trial, {"CPU": cfg.trial_cpus}), param_space=space,
            tune_config=tune.TuneConfig(metric=cfg.metric, mode="max", scheduler=scheduler,
                                        max_concurrent_trials=cfg.max_concurrent),
            run_config=tune.RunConfig(name=f"part-{len(parts) + 1}", storage_path=home, verbose=cfg.verbose,
                                      callbacks=list(callbacks),
                                      failure_config=tune.FailureConfig(max_failures=cfg.max_failures)))
        # trials keep the job's working directory (Tune would enter each trial's folder), so the
        # config's relative paths mean the same in every trial; Tune forwards this to them
        with scoped_env(RAY_CHDIR_TO_TRIAL_DIR="0"):
            tuner.fit()
        earlier.append(collect_trials(_load_part(storage.join(home, f"part-{len(parts) + 1}")), final_step, cfg.metric))
    trials = latest_trials(earlier)
    table = summarize_trials(trials)
    sweep_dir = Path(home) if not storage.is_uri(home) else Path(tempfile.mkdtemp(prefix="swipe-sweep-")) / name
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_results(cfg, name, sweep_dir, trials, table)
    if storage.is_uri(home):  # the results beside the experiments
        storage.upload_tree(sweep_dir, home)
    return SweepResult(sweep_dir, trials, table, sweep_dir / "best_config.yaml", time.perf_counter() - t0, home)


def _load_part(path: str) -> Any:
    """The trials of one part, read from its folder (nothing runs): a Tune ExperimentAnalysis,
    whose Trial objects carry the status that the Results of a ResultGrid lack."""
    from ray.tune import ExperimentAnalysis

    return ExperimentAnalysis(path)


def latest_trials(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per (configuration, seed) over all parts: the finished one, else the latest."""
    frames = [p.assign(part=i) for i, p in enumerate(parts) if len(p)]
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True)
    rows["finished"] = rows["status"].isin(FINISHED)
    rows = rows.sort_values(["finished", "part"]).drop_duplicates(["key", "seed"], keep="last")
    return rows.sort_index().drop(columns=["finished", "part"]).reset_index(drop=True)


# ----------------------------------------------------------------------------- results
def collect_trials(analysis: Any, final_step: int, metric: str = "val/swipe_mrr") -> pd.DataFrame:
    """A row per trial of a part (an ExperimentAnalysis): its configuration, seed, status,
    best `metric` and curve.

    Status: `completed` (reached the last validation, `final_step`), `stopped early` (ended
    by the scheduler before it), `error`, or `not finished` (an interrupted sweep)."""
    from ray.tune import ResultGrid
    from ray.tune.experiment import Trial

    rows = []
    # a ResultGrid builds one Result per trial of the analysis, in the analysis' order
    for r, t in zip(ResultGrid(analysis), analysis.trials):
        variant, seed = r.config["trial"]["variant"], r.config["trial"]["seed"]
        df = r.metrics_dataframe
        has = df is not None and metric in df and df[metric].notna().any()
        best = df.loc[df[metric].idxmax()] if has else None
        last_step = int(df["step"].max()) if has else 0
        if r.error:
            status = "error"
        elif last_step >= final_step:
            status = "completed"
        else:
            status = "stopped early" if t.status == Trial.TERMINATED else "not finished"
        rows.append({"trial": trial_key(variant, seed), "key": config_key(variant),
                     "config": label(variant), "variant": variant, "seed": seed, "status": status,
                     "best_val_swipe_mrr": float(best[metric]) if has else float("nan"),
                     "step_at_best": int(best["step"]) if has else 0, "last_step": last_step,
                     "checkpoint": storage.join(r.config["runs_dir"], trial_key(variant, seed),
                                                storage.basename(best["checkpoint_path"]))
                     if has and best.get("checkpoint_path") else "",
                     "run": storage.join(r.config["runs_dir"], trial_key(variant, seed)),
                     "curve": list(zip(df["step"].astype(int), df[metric].astype(float))) if has else [],
                     "error": str(r.error).splitlines()[0] if r.error else ""})
    return pd.DataFrame(rows)


def summarize_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """A row per configuration: mean ± std over its seeds of the best val/swipe_mrr, best first.

    ASHA lets early trials run on and stops later ones, so bests come from different
    lengths of training; `at_common` is also given: the best val/swipe_mrr up to the last
    validation that every trial reached (`common_step`), the like-for-like comparison."""
    ran = [c for c in trials["curve"] if c]
    common = min(c[-1][0] for c in ran) if ran else 0
    at_common = trials["curve"].map(lambda c: max((m for st, m in c if st <= common), default=float("nan")))
    out = []
    for config, g in trials.assign(at_common=at_common).groupby("config", sort=False):
        scores = g["best_val_swipe_mrr"].dropna()
        top = g.loc[g["best_val_swipe_mrr"].idxmax()] if len(scores) else g.iloc[0]
        out.append({"config": config, "variant": g["variant"].iloc[0], "seeds": len(g),
                    "swipe_mrr_mean": float(scores.mean()) if len(scores) else float("nan"),
                    "swipe_mrr_std": float(scores.std(ddof=1)) if len(scores) > 1 else 0.0,
                    "at_common_mean": float(g["at_common"].mean()),
                    "at_common_std": float(g["at_common"].std(ddof=1)) if len(g) > 1 else 0.0,
                    "common_step": common, "steps_to_best": float(g["step_at_best"].mean()),
                    "stopped_early": int((g["status"] == "stopped early").sum()),
                    "errors": int((g["status"] == "error").sum()), "best_checkpoint": top["checkpoint"]})
    table = pd.DataFrame(out)
    return table.sort_values("swipe_mrr_mean", ascending=False, na_position="last").reset_index(drop=True)


def write_results(cfg: SweepConfig, name: str, sweep_dir: Path, trials: pd.DataFrame, table: pd.DataFrame) -> None:
    """results.csv, results.md, curves.png and best_config.yaml in the sweep folder."""
    from swipe.plot import plot_sweep

    keys = list(cfg.space) or list(dict.fromkeys(k for v in cfg.variants for k in v))
    flat = trials.drop(columns=["variant", "curve"]).copy()
    for k in keys:
        flat.insert(1, k, [v.get(k, BASE) for v in trials["variant"]])
    flat.drop(columns=["config"]).to_csv(sweep_dir / "results.csv", index=False)
    (sweep_dir / "results.md").write_text(results_markdown(name, keys, table, trials, cfg.metric))
    plot_sweep(trials, keys, sweep_dir / "curves.png", title=name, metric=cfg.metric, panels_by_key=not cfg.variants)
    best = table.iloc[0]
    best_cfg = apply_variant(cfg.train, best["variant"])
    best_cfg = replace(best_cfg, run=replace(best_cfg.run, name=None, resume=False),
                       tracking=replace(best_cfg.tracking, group=None))
    header = (f"# Best configuration of sweep {name}: {best['config']}\n"
              f"# val/swipe_mrr {best['swipe_mrr_mean']:.4f} ± {best['swipe_mrr_std']:.4f} over "
              f"{best['seeds']} seed(s). Train it:  swipe train --config THIS_FILE\n")
    (sweep_dir / "best_config.yaml").write_text(
        header + yaml.safe_dump(redact(config_to_dict(best_cfg)), sort_keys=False, allow_unicode=True))


def results_markdown(name: str, keys: list[str], table: pd.DataFrame, trials: pd.DataFrame,
                     metric: str = "val/swipe_mrr") -> str:
    short = [k.rsplit(".", 1)[-1] for k in keys]
    common = int(table["common_step"].iloc[0]) if len(table) else 0
    lines = [f"# Sweep {name}", "",
             f"{len(trials)} trials: {int((trials['status'] == 'completed').sum())} ran to the end, "
             f"{int((trials['status'] == 'stopped early').sum())} stopped early by ASHA, "
             f"{int((trials['status'] == 'error').sum())} failed"
             + (f", {int((trials['status'] == 'not finished').sum())} not finished (resume the sweep)"
                if (trials["status"] == "not finished").any() else "") + ". "
             f"`{metric}`: the best validation of each trial, mean ± std over seeds"
             + (" (the beam's swipe_mrr on the dev set's tuning half, with the model's own lexicon)"
                if metric == "val/real_tune_mrr" else "") + f"; `{BASE}`: the base config's value.", "",
             f"`at step {common}`: the best up to the last validation every trial reached "
             "(ASHA stops later trials early, so this is the like-for-like comparison).", "",
             "| rank | " + " | ".join(short) + f" | {metric} | at step {common} | seeds | steps to best "
             "| stopped early | best checkpoint |",
             "|---:|" + "---|" * len(short) + "---:|---:|---:|---:|---:|---|"]
    for i, row in table.iterrows():
        vals = " | ".join(_fmt(row["variant"].get(k, BASE)) for k in keys)
        lines.append(f"| {i + 1} | {vals} | {row['swipe_mrr_mean']:.4f} ± {row['swipe_mrr_std']:.4f} | "
                     f"{row['at_common_mean']:.4f} ± {row['at_common_std']:.4f} | {row['seeds']} | {row['steps_to_best']:.0f} | {row['stopped_early']} | "
                     f"`{row['best_checkpoint']}` |")
    return "\n".join(lines) + "\n"
