"""Fit the synthesizer to real people: coordinate descent on the mean KS statistic.

The procedure (re-runnable: `swipe dev fit-synth`, whose result is a dataset config):
1. read up to `max_swipes` real swipes (the real train split: people disjoint from dev);
2. synthesize the same words on the same keyboards, grouped by the same people
   (`realism.synthesize_like`), with one fixed seed, so that two settings differ only by
   their parameters (common random numbers: the objective is smooth enough to descend);
3. the objective is the mean, over every realism statistic (`realism.ALL_STATS`), of the
   two-sample KS statistic between the real and the synthetic distribution: whole
   distributions, not medians;
4. for each parameter in turn, try a grid around its value (within its bounds) and keep
   the best; repeat for `rounds` rounds, halving the grid's step each round;
5. report the classifier two-sample test (`c2st_auc`) and the KS table before and after,
   on other real swipes than the ones fitted (a second draw, `check_swipes`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from swipe import storage
from swipe.config import config_to_dict, load_config

from swipe.data.realism import ALL_STATS, compare, compute_stats, load_real_sample, realism_score, synthesize_like
from swipe.data.swipes import SwipeBatch
from swipe.data.synth import SynthConfig
from swipe.keyboard import Layout, load_layouts

# parameter → (low, high, scale): "log" steps multiply, "lin" steps add
BOUNDS: dict[str, tuple[float, float, str]] = {
    "move_ms": (150.0, 3000.0, "log"),
    "length_exponent": (0.0, 1.0, "lin"),
    "segment_exponent": (0.0, 1.0, "lin"),
    "speed_sigma": (0.02, 0.8, "log"),
    "user_tempo_sigma": (0.02, 0.8, "log"),
    "start_speed": (0.0, 2.0, "lin"),
    "end_speed": (0.0, 2.0, "lin"),
    "smoothness": (0.2, 3.0, "log"),
    "dwell_start_ms": (5.0, 400.0, "log"),
    "dwell_end_ms": (5.0, 400.0, "log"),
    "dwell_sigma": (0.1, 1.5, "log"),
    "via_sigma_rel": (0.02, 0.5, "log"),
    "end_spread": (0.5, 3.0, "log"),
    "corner_cut_max": (0.0, 0.6, "lin"),
    "drift_keys": (0.0, 0.5, "lin"),
    "drift_ms": (30.0, 1000.0, "log"),
    "point_noise_px": (0.0, 4.0, "lin"),
    "frame_drop_prob": (0.0, 0.4, "lin"),
    "user_offset_sigma": (0.0, 0.4, "lin"),
    "user_rotation_sigma": (0.0, 0.15, "lin"),
}


@dataclass(frozen=True)
class FitConfig:
    """How the fit searches: which parameters, how widely, how long."""

    params: tuple[str, ...] = tuple(BOUNDS)  # fitted in this order each round
    rounds: int = 3  # passes of coordinate descent over every parameter
    points: int = 7  # grid values tried per parameter and round (odd: the current one in the middle)
    log_step: float = 1.5  # first round's grid spans value × log_step^(±(points-1)/2)…
    lin_step: float = 0.1  # … or value ± lin_step·(points-1)/2
    seed: int = 0  # one seed for every setting tried, so settings differ only in themselves


@dataclass
class FitResult:
    """The fitted config and how far it moved the realism score."""

    synth: SynthConfig
    objective_before: float
    objective_after: float
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per parameter and round
    evaluations: int = 0
    wall_s: float = 0.0


def mean_ks(real_stats: dict[str, np.ndarray], real: SwipeBatch, layouts: dict[str, Layout], cfg: SynthConfig,
            seed: int) -> float:
    """The objective: mean KS statistic over every realism statistic (lower is more real)."""
    synth = synthesize_like(real, layouts, cfg, np.random.default_rng(seed))
    comp = compare(compute_stats(synth, layouts), real_stats, "synthetic", "real")
    return float(np.nanmean([comp.ks[s] for s in ALL_STATS]))


def _grid(value: float, name: str, cfg: FitConfig, shrink: float) -> list[float]:
    lo, hi, scale = BOUNDS[name]
    half = (cfg.points - 1) // 2
    if scale == "log":
        step = cfg.log_step ** shrink
        vals = [value * step ** k for k in range(-half, half + 1)]
    else:
        step = cfg.lin_step * (hi - lo) * shrink
        vals = [value + step * k for k in range(-half, half + 1)]
    return sorted({float(np.clip(v, lo, hi)) for v in vals})


def fit_synth(real: SwipeBatch, layouts: dict[str, Layout], start: SynthConfig, cfg: FitConfig,
              log: Callable[[str], None] = print) -> FitResult:
    """Coordinate descent from `start` on the mean KS to `real` (see the module docstring)."""
    t0 = time.perf_counter()
    unknown = sorted(set(cfg.params) - set(BOUNDS))
    if unknown:
        raise ValueError(f"cannot fit {unknown}; fittable: {sorted(BOUNDS)}")
    real_stats = compute_stats(real, layouts)
    current = start
    best = before = mean_ks(real_stats, real, layouts, current, cfg.seed)
    result = FitResult(start, before, before, evaluations=1)
    log(f"fit: {len(real)} real swipes, mean KS {before:.4f} at the start")
    for r in range(cfg.rounds):
        shrink = 0.5 ** r
        for name in cfg.params:
            value = float(getattr(current, name))
            tried = {}
            for v in _grid(value, name, cfg, shrink):
                trial = dataclasses.replace(current, **{name: v})
                tried[v] = best if v == value else mean_ks(real_stats, real, layouts, trial, cfg.seed)
                result.evaluations += v != value
            chosen = min(tried, key=lambda v: (tried[v], abs(v - value)))
            grid = sorted(tried)
            result.history.append({"round": r, "param": name, "from": value, "to": chosen,
                                   "objective": tried[chosen], "grid": [grid[0], grid[-1]],
                                   "at_edge": chosen in (grid[0], grid[-1]) and chosen not in BOUNDS[name][:2]})
            if tried[chosen] < best:
                best = tried[chosen]
                current = dataclasses.replace(current, **{name: chosen})
        log(f"fit: round {r + 1}/{cfg.rounds}: mean KS {best:.4f}")
    result.synth, result.objective_after = current, best
    result.wall_s = round(time.perf_counter() - t0, 1)
    return result


@dataclass(frozen=True)
class FitJobConfig:
    real: str = ""  # How We Swipe JSONL(.gz): the real train split
    layouts: str = "data/layouts/howweswipe_devices.json"  # the keyboards its grid_names name
    base: str = "configs/synth_en_people.yaml"  # dataset config whose synth block is fitted
    out: str = "configs/synth_en_fitted.yaml"  # the dataset config written, the fit's figures in its header
    dataset_out: str = "data/datasets/synth_en_fitted"  # where the written config makes its dataset
    fit_swipes: int = 3000  # real swipes the objective is measured on
    check_swipes: int = 3000  # other real swipes the before/after figures are measured on
    fit: FitConfig = field(default_factory=FitConfig)
    overwrite: bool = False  # replace an existing `out` (refused before any work otherwise)


def write_fitted_config(cfg: FitJobConfig) -> dict:
    """Fit the synthesizer to `cfg.real`, measure realism before and after, write the dataset config."""
    from swipe.data.make import MakeDatasetConfig  # the dataset job loads Ray: only when run
    if not cfg.real:
        raise SystemExit("fit_synth: set real=PATH (a How We Swipe JSONL of people outside the dev set)")
    storage.refuse_existing(cfg.out, cfg.overwrite)
    layouts = load_layouts(cfg.layouts)
    base = load_config(MakeDatasetConfig, cfg.base)
    rng = np.random.default_rng(cfg.fit.seed)
    fit_real, picked = load_real_sample(cfg.real, layouts, cfg.fit_swipes, rng)
    check_real, _ = load_real_sample(cfg.real, layouts, cfg.check_swipes, rng, skip=picked)
    result = fit_synth(fit_real, layouts, base.synth, cfg.fit)
    before = realism_score(check_real, layouts, base.synth, cfg.fit.seed)
    after = realism_score(check_real, layouts, result.synth, cfg.fit.seed)
    edges = [h["param"] for h in result.history if h["round"] == cfg.fit.rounds - 1 and h["at_edge"]]
    moved = {k: v for k, v in dataclasses.asdict(result.synth).items() if getattr(base.synth, k) != v}
    header = [
        "Synthetic English swipes with the generator fitted to real people (written by `swipe dev fit-synth`;",
        "do not edit by hand, re-run it):",
        f"  swipe dev fit-synth real={cfg.real} base={cfg.base}",
        f"Procedure: swipe/dev/fit_synth.py, {cfg.fit.rounds} rounds of coordinate descent on the mean KS over every",
        f"realism statistic, {len(fit_real)} real swipes of {Path(cfg.real).name}; {result.evaluations} settings in",
        f"{result.wall_s} s. Mean KS on them {result.objective_before:.4f} -> {result.objective_after:.4f}.",
        f"On {len(check_real)} other real swipes: c2st_auc {before['c2st_auc']} -> {after['c2st_auc']}, "
        f"mean KS {before['mean_ks']} -> {after['mean_ks']},",
        f"worst KS {before['worst_ks']} ({before['worst_ks_stat']}) -> {after['worst_ks']} ({after['worst_ks_stat']}).",
        "Parameters whose last-round optimum lay on its grid's edge: " + (", ".join(edges) or "none") + ".",
        "Make the dataset:  swipe data --config " + cfg.out,
    ]
    body = config_to_dict(dataclasses.replace(base, synth=result.synth, out=cfg.dataset_out))
    text = "".join(f"# {line}\n" for line in header) + yaml.safe_dump(body, sort_keys=False)
    Path(cfg.out).write_text(text)
    return {"out": cfg.out, "fit_swipes": len(fit_real), "check_swipes": len(check_real),
            "mean_ks_fit": [round(result.objective_before, 4), round(result.objective_after, 4)],
            "before": {k: v for k, v in before.items() if k != "table"},
            "after": {k: v for k, v in after.items() if k != "table"},
            "moved": moved, "at_edge": edges, "wall_s": result.wall_s,
            "table_before": before["table"], "table_after": after["table"]}
