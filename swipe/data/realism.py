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

from dataclasses import dataclass

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.keyboard import Layout

STATS = ("points", "duration_ms", "interval_ms", "path_ratio", "speed_keys_per_s",
         "start_dist_px", "end_dist_px")


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
    return {"points": batch.lengths.astype(float), "duration_ms": duration.astype(float),
            "interval_ms": interval, "path_ratio": ratio, "speed_keys_per_s": speed,
            "start_dist_px": start_d, "end_dist_px": end_d}


@dataclass
class Comparison:
    """Medians of two datasets, statistic by statistic."""

    name_a: str
    name_b: str
    median_a: dict[str, float]
    median_b: dict[str, float]
    tolerance: float

    def ratio(self, stat: str) -> float:
        return self.median_a[stat] / self.median_b[stat]

    def within(self, stat: str) -> bool:
        return abs(self.ratio(stat) - 1) <= self.tolerance

    @property
    def all_within(self) -> bool:
        return all(self.within(s) for s in STATS)

    def to_markdown(self) -> str:
        lines = [f"| statistic (median) | {self.name_a} | {self.name_b} | ratio | within ±{self.tolerance:.0%} |",
                 "| --- | ---: | ---: | ---: | :---: |"]
        for s in STATS:
            lines.append(f"| {s} | {self.median_a[s]:.3g} | {self.median_b[s]:.3g} | "
                         f"{self.ratio(s):.2f} | {'yes' if self.within(s) else '**no**'} |")
        return "\n".join(lines)


def compare(stats_a: dict[str, np.ndarray], stats_b: dict[str, np.ndarray], name_a: str,
            name_b: str, tolerance: float = 0.15) -> Comparison:
    """Median of every statistic in both datasets (NaNs ignored)."""
    return Comparison(name_a, name_b, {s: float(np.nanmedian(stats_a[s])) for s in STATS},
                      {s: float(np.nanmedian(stats_b[s])) for s in STATS}, tolerance)
