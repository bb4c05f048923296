"""Per-swipe statistics that say how human a dataset looks, and their side-by-side table.

| statistic          | per swipe                                                        |
| ------------------ | ---------------------------------------------------------------- |
| `points`           | number of touch points                                           |
| `duration_ms`      | t of the last point (t starts at 0)                              |
| `interval_ms`      | median time between consecutive points                          |
| `path_ratio`       | trace length / ideal path through the word's key centres         |
|                    | (words whose ideal path is under one key width are left out)     |
| `speed_keys_per_s` | trace length / duration, in mean letter-key widths per second    |
| `start_dist_px`    | distance from the first point to the first letter's key centre  |
| `end_dist_px`      | distance from the last point to the last letter's key centre    |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.geometry import resample

if TYPE_CHECKING:
    from swipe.data.generators import GeneratorConfig
    from swipe.data.synth import SynthConfig
from swipe.keyboard import Layout

STATS = ("points", "duration_ms", "interval_ms", "path_ratio", "speed_keys_per_s",
         "start_dist_px", "end_dist_px")  # the generator is calibrated to these medians
PROFILE_STATS = ("start_offset_keys", "end_offset_keys", "speed_cv", "speed_lag1", "speed_start_rel",
                 "speed_mid_rel", "speed_end_rel", "turn_per_key", "dwell_first_ms")  # compared as distributions
ALL_STATS = STATS + PROFILE_STATS
DWELL_RADIUS = 0.5  # key widths: the finger has left the first key once it is this far from where it landed


def _word_path(word: str, layout: Layout) -> tuple[np.ndarray | None, float]:
    """Key centres of the word's keyable letters (None if none) and the ideal path length."""
    idx = [layout.letters.index(c) for c in word if c in layout.letters]
    if not idx:
        return None, float("nan")
    c = layout.letter_centres[idx]
    return c, float(np.hypot(*np.diff(c, axis=0).T).sum())


def compute_stats(batch: SwipeBatch, layouts: dict[str, Layout]) -> dict[str, np.ndarray]:
    """Every statistic for every swipe (NaN where undefined).  # name → (N,)"""
    n = len(batch)
    rows = batch.row_of_point
    same = rows[1:] == rows[:-1]
    seg = np.hypot(np.diff(batch.x), np.diff(batch.y))[same]
    path = np.bincount(rows[1:][same], weights=seg, minlength=n)
    first, last = batch.offsets[:-1], batch.offsets[1:] - 1
    duration = batch.t[last] - batch.t[first]
    dt = np.diff(batch.t)[same]
    interval = np.full(n, np.nan)
    order = np.lexsort((dt, rows[1:][same]))  # per swipe, sorted intervals → medians by index
    sorted_dt, counts = dt[order], np.bincount(rows[1:][same], minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts > 0
    lo = starts + (counts - 1) // 2
    hi = starts + counts // 2
    interval[has] = (sorted_dt[lo[has]] + sorted_dt[hi[has]]) / 2

    ideal = np.full(n, np.nan)
    start_d = np.full(n, np.nan)
    end_d = np.full(n, np.nan)
    key_w = np.full(n, np.nan)
    cache: dict[tuple[str, str], tuple[np.ndarray | None, float]] = {}
    for i, (word, grid) in enumerate(zip(batch.words, batch.grid_names)):
        if word is None or grid not in layouts:
            continue
        if (word, grid) not in cache:
            cache[(word, grid)] = _word_path(word, layouts[grid])
        centres, ideal[i] = cache[(word, grid)]
        key_w[i] = layouts[grid].key_width
        if centres is not None:
            start_d[i] = np.hypot(batch.x[first[i]] - centres[0, 0], batch.y[first[i]] - centres[0, 1])
            end_d[i] = np.hypot(batch.x[last[i]] - centres[-1, 0], batch.y[last[i]] - centres[-1, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ideal >= key_w, path / ideal, np.nan)
        speed = np.where(duration > 0, path / key_w / duration * 1000.0, np.nan)
    out = {"points": batch.lengths.astype(float), "duration_ms": duration.astype(float),
           "interval_ms": interval, "path_ratio": ratio, "speed_keys_per_s": speed,
           "start_dist_px": start_d, "end_dist_px": end_d,
           "start_offset_keys": start_d / key_w, "end_offset_keys": end_d / key_w}
    return out | _profile(batch, np.where(np.isfinite(key_w), key_w, np.nan))


def _profile(batch: SwipeBatch, key_w: np.ndarray) -> dict[str, np.ndarray]:
    """How each swipe moves: its speed's spread and lag-1 autocorrelation, its speed at the
    start, middle and end (first, middle, last fifth of its points) relative to its mean, its
    turning per key width of path, and how long it dwells where it landed."""
    names = ("speed_cv", "speed_lag1", "speed_start_rel", "speed_mid_rel", "speed_end_rel", "turn_per_key",
             "dwell_first_ms")
    out = {k: np.full(len(batch), np.nan) for k in names}
    for i in range(len(batch)):
        s, e = batch.offsets[i], batch.offsets[i + 1]
        x, y, t = batch.x[s:e].astype(float), batch.y[s:e].astype(float), batch.t[s:e].astype(float)
        if len(x) < 4 or not np.isfinite(key_w[i]):
            continue
        seg = np.hypot(np.diff(x), np.diff(y))
        dt = np.maximum(np.diff(t), 1.0)
        v = seg / dt
        if v.mean() > 0:
            out["speed_cv"][i] = v.std() / v.mean()
            if v[:-1].std() > 0 and v[1:].std() > 0:
                out["speed_lag1"][i] = np.corrcoef(v[:-1], v[1:])[0, 1]
            k = max(1, len(v) // 5)
            mid = len(v) // 2
            out["speed_start_rel"][i] = v[:k].mean() / v.mean()
            out["speed_mid_rel"][i] = v[mid - k // 2: mid - k // 2 + k].mean() / v.mean()
            out["speed_end_rel"][i] = v[-k:].mean() / v.mean()
        moving = seg > 0
        if moving.sum() >= 2:
            ang = np.arctan2(np.diff(y)[moving], np.diff(x)[moving])
            turn = np.abs((np.diff(ang) + np.pi) % (2 * np.pi) - np.pi).sum()
            out["turn_per_key"][i] = turn / max(seg.sum() / key_w[i], 1e-6)
        away = np.flatnonzero(np.hypot(x - x[0], y - y[0]) > DWELL_RADIUS * key_w[i])
        out["dwell_first_ms"][i] = t[away[0]] - t[0] if len(away) else t[-1] - t[0]
    return out


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov–Smirnov statistic: the largest gap between the empirical
    distribution functions of a and b (NaNs ignored; 0 = the same distribution, 1 = disjoint)."""
    a, b = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
    if not len(a) or not len(b):
        return float("nan")
    at = np.concatenate([a, b])
    return float(np.abs(np.searchsorted(a, at, side="right") / len(a) - np.searchsorted(b, at, side="right") / len(b)).max())


@dataclass
class Comparison:
    """Two datasets, statistic by statistic: medians (the calibration) and whole distributions (KS)."""

    name_a: str
    name_b: str
    median_a: dict[str, float]
    median_b: dict[str, float]
    tolerance: float
    ks: dict[str, float] = field(default_factory=dict)  # every statistic of ALL_STATS
    c2st_auc: float | None = None  # the classifier two-sample test, where it was run

    @property
    def worst_ks(self) -> tuple[str, float]:
        """The statistic whose distributions differ most, and its KS statistic."""
        name = max(self.ks, key=lambda k: -1.0 if np.isnan(self.ks[k]) else self.ks[k])
        return name, self.ks[name]

    def ratio(self, stat: str) -> float:
        return self.median_a[stat] / self.median_b[stat] if self.median_b[stat] else float("nan")

    def within(self, stat: str) -> bool:
        return abs(self.ratio(stat) - 1) <= self.tolerance

    @property
    def all_within(self) -> bool:
        return all(self.within(s) for s in STATS)

    def to_markdown(self) -> str:
        lines = [f"| statistic | median: {self.name_a} | {self.name_b} | ratio | within ±{self.tolerance:.0%} | KS |",
                 "| --- | ---: | ---: | ---: | :---: | ---: |"]
        for s in ALL_STATS:
            calibrated = ("yes" if self.within(s) else "**no**") if s in STATS else "(not calibrated)"
            lines.append(f"| {s} | {self.median_a[s]:.3g} | {self.median_b[s]:.3g} | {self.ratio(s):.2f} | "
                         f"{calibrated} | {self.ks.get(s, float('nan')):.3f} |")
        return "\n".join(lines)


def compare(stats_a: dict[str, np.ndarray], stats_b: dict[str, np.ndarray], name_a: str,
            name_b: str, tolerance: float = 0.15) -> Comparison:
    """Median of every statistic in both datasets (NaNs ignored), and its KS statistic."""
    return Comparison(name_a, name_b, {s: float(np.nanmedian(stats_a[s])) for s in ALL_STATS},
                      {s: float(np.nanmedian(stats_b[s])) for s in ALL_STATS}, tolerance,
                      {s: ks_statistic(stats_a[s], stats_b[s]) for s in ALL_STATS})


# ----------------------------------------------------------------------------- can a classifier tell them apart?
def swipe_features(batch: SwipeBatch, layouts: dict[str, Layout], n: int = 16) -> np.ndarray:
    """A vector per swipe for the two-sample classifier: every statistic, and the swipe
    resampled to n points as offsets from its word's ideal key-centre path (key widths) with
    its speed there relative to its mean.  # (N, F); NaN → 0, with a flag per statistic"""
    stats = compute_stats(batch, layouts)
    cols = [np.nan_to_num(np.clip(stats[s], -1e6, 1e6)) for s in ALL_STATS] + \
           [np.isnan(stats[s]).astype(float) for s in ALL_STATS]
    path = np.zeros((len(batch), 3 * n))
    for i, (word, grid) in enumerate(zip(batch.words, batch.grid_names)):
        s, e = batch.offsets[i], batch.offsets[i + 1]
        lay = layouts.get(grid)
        centres = _word_path(word, lay)[0] if word is not None and lay is not None else None
        if centres is None or e - s < 2:
            continue
        kw = lay.key_width
        pts = np.stack([batch.x[s:e], batch.y[s:e]], 1)[None].astype(np.float32)
        p = resample(pts, np.array([e - s]), n)[0]
        ideal = resample(centres[None].astype(np.float32), np.array([len(centres)]), n)[0]
        tt = np.interp(np.linspace(0, 1, n), np.linspace(0, 1, e - s), batch.t[s:e])
        v = np.hypot(*np.gradient(p, axis=0).T) / np.maximum(np.gradient(tt), 1.0)
        path[i] = np.concatenate([((p - ideal) / kw).ravel(), v / max(v.mean(), 1e-9)])
    return np.column_stack(cols + [path])


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random
    negative (ties count half), from the rank sum of the positives."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # 1-based, tied scores share their mean rank
    pos = labels.astype(bool)
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def c2st_auc(real: np.ndarray, synthetic: np.ndarray, folds: int = 5, seed: int = 0, hidden: int = 32,
             steps: int = 300) -> float:
    """Classifier two-sample test: a small MLP (one hidden layer) learns to tell real feature
    vectors from synthetic ones; cross-validated ROC AUC on the held-out folds. 0.5: the
    classifier cannot tell them apart; 1.0: every synthetic swipe is recognisable."""
    import torch

    x = np.concatenate([real, synthetic]).astype(np.float32)
    y = np.concatenate([np.ones(len(real)), np.zeros(len(synthetic))]).astype(np.float32)
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(x)) % folds
    scores = np.zeros(len(x))
    torch.manual_seed(seed)
    for f in range(folds):
        tr, te = fold != f, fold == f
        mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
        xt = torch.from_numpy((x[tr] - mu) / sd)
        yt = torch.from_numpy(y[tr])
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
        opt = torch.optim.Adam(net.parameters(), 1e-2, weight_decay=1e-3)
        for _ in range(steps):  # full batch: a few thousand rows
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(net(xt)[:, 0], yt).backward()
            opt.step()
        with torch.no_grad():
            scores[te] = net(torch.from_numpy((x[te] - mu) / sd))[:, 0].numpy()
    return roc_auc(scores, y)


def synthesize_like(real: SwipeBatch, layouts: dict[str, Layout], cfg: "SynthConfig", rng: np.random.Generator,
                    gen: "GeneratorConfig | None" = None) -> SwipeBatch:
    """Synthetic swipes of real's words, each on the keyboard its real swipe was made on
    (grouped by keyboard) and, where real knows its people, by the same person: the synthetic
    half of every like-for-like comparison. `gen`: which generator (None: parametric, `cfg`)."""
    from swipe.data.generators import GeneratorConfig, generate

    grids = np.array(real.grid_names)
    users = np.array([str(u) for u in real.user_list()]) if real.users is not None else None
    parts = []
    for g in sorted(set(real.grid_names)):
        rows = np.flatnonzero(grids == g)
        parts.append(generate([real.words[i] for i in rows], layouts[g], cfg, gen or GeneratorConfig(), rng,
                              users=None if users is None else users[rows]))
    return SwipeBatch.concat(parts)


def load_real_sample(path: str, layouts: dict[str, Layout], max_swipes: int, rng: np.random.Generator,
                     skip: np.ndarray | None = None) -> tuple[SwipeBatch, np.ndarray]:
    """Up to `max_swipes` valid swipes drawn at random from a How We Swipe JSONL(.gz) file
    (lines in `skip` left out), and the line numbers drawn: a real sample to compare with."""
    import gzip

    from swipe.data.checks import ValidationConfig, validate
    from swipe.data.importers.yandex import parse_yandex_lines

    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    lines = raw.splitlines()
    pool = np.setdiff1d(np.arange(len(lines)), skip if skip is not None else [])
    picked = np.sort(rng.choice(pool, min(max_swipes, len(pool)), replace=False))
    batch, _, _ = parse_yandex_lines([lines[i] for i in picked], 0, layouts, "real")
    alphabet = "".join(sorted({c for lay in layouts.values() for c in lay.letters} | {"'"}))
    return validate(batch, layouts, alphabet, ValidationConfig()).kept, picked


def realism_score(real: SwipeBatch, layouts: dict[str, Layout], cfg: "SynthConfig", seed: int = 0,
                  gen: "GeneratorConfig | None" = None) -> dict:
    """How far the generator's swipes of real's words, on real's keyboards, are from real (`gen`;
    None: the parametric one with `cfg`): the classifier two-sample test's AUC, the mean and
    worst KS statistic and every KS."""
    synth = synthesize_like(real, layouts, cfg, np.random.default_rng(seed), gen)
    auc = c2st_auc(swipe_features(real, layouts), swipe_features(synth, layouts), seed=seed)
    comp = compare(compute_stats(synth, layouts), compute_stats(real, layouts), "synthetic", "real")
    worst, ks = comp.worst_ks
    return {"c2st_auc": round(auc, 4), "mean_ks": round(float(np.nanmean(list(comp.ks.values()))), 4),
            "worst_ks": round(ks, 4), "worst_ks_stat": worst, "ks": {k: round(v, 4) for k, v in comp.ks.items()},
            "table": comp.to_markdown()}
