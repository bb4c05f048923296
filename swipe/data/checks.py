"""Validation of swipes on every path in: keep good rows, quarantine bad ones with a reason.

Checks, in order (a row is rejected for the first one it fails):

| reason                 | rule                                                            |
| ---------------------- | --------------------------------------------------------------- |
| `unknown_grid`         | `grid_name` is not among the dataset's layouts                  |
| `non_finite`           | some x, y or t is NaN or ±inf                                   |
| `out_of_range`         | a value beyond float32 (how swipes are stored), or a swipe      |
|                        | lasting longer than `max_duration_ms` (60 s)                    |
| `time_not_increasing`  | t decreases somewhere                                           |
| `too_few_points`       | fewer than `min_points` points (after the repair below)         |
| `off_keyboard`         | a point lies farther than `max_key_distance` mean key           |
|                        | half-diagonals from every letter key's hitbox                   |
| `missing_word`         | no word, where labels are required                              |
| `char_not_in_alphabet` | the word has a character outside the dataset's alphabet         |

Repairs (documented, counted, never silent): a point whose t equals the previous point's t
(two touch events in one millisecond) is dropped, keeping the first; t is shifted so the
first point is at 0 ms. Parsing problems found by importers (`bad_json`, `missing_field`,
`bad_type`, `length_mismatch`, `missing_ref`, `bad_grid`) use the same quarantine.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pyarrow as pa

from swipe.data.swipes import SwipeBatch
from swipe.keyboard import Layout

QUARANTINE_SCHEMA = pa.schema([
    pa.field("id", pa.int64()),  # row id when known (line number for imports)
    pa.field("source", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("detail", pa.string()),
    pa.field("raw", pa.string()),  # the rejected record as JSON text
])


@dataclass(frozen=True)
class ValidationConfig:
    """What a valid swipe is."""

    min_points: int = 2  # a swipe with fewer points (after repair) is rejected
    max_key_distance: float = 3.0  # in mean key half-diagonals from the nearest letter hitbox
    require_word: bool = True  # labelled data: a missing word is a rejection
    repair_duplicate_times: bool = True  # drop points repeating the previous t (else reject)
    max_duration_ms: float = 60_000.0  # a swipe is one word: a minute is far beyond any real one


F32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Rejects:
    """Quarantined rows, accumulated column-wise."""

    ids: list[int | None] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    raws: list[str] = field(default_factory=list)

    def add(self, id_: int | None, source: str, reason: str, detail: str, raw: str) -> None:
        self.ids.append(id_)
        self.sources.append(source)
        self.reasons.append(reason)
        self.details.append(detail)
        self.raws.append(raw)

    def extend(self, other: "Rejects") -> None:
        for name in ("ids", "sources", "reasons", "details", "raws"):
            getattr(self, name).extend(getattr(other, name))

    def __len__(self) -> int:
        return len(self.reasons)

    def counts(self) -> Counter:
        return Counter(self.reasons)

    def to_arrow(self) -> pa.Table:
        return pa.Table.from_arrays(
            [pa.array(self.ids, pa.int64()), pa.array(self.sources, pa.string()),
             pa.array(self.reasons, pa.string()), pa.array(self.details, pa.string()),
             pa.array(self.raws, pa.string())], schema=QUARANTINE_SCHEMA)


@dataclass
class Validated:
    kept: SwipeBatch
    rejects: Rejects
    repaired_rows: int  # rows kept after dropping duplicate-time points


def _row_any(flags: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Per swipe: is any of its points flagged?  # (N,) bool"""
    return np.bincount(rows[flags], minlength=n) > 0


def _record_json(b: SwipeBatch, i: int) -> str:
    s, e = b.offsets[i], b.offsets[i + 1]
    return json.dumps({"id": int(b.ids[i]), "word": b.words[i], "grid_name": b.grid_names[i],
                       "x": b.x[s:e].tolist(), "y": b.y[s:e].tolist(), "t": b.t[s:e].tolist()},
                      allow_nan=True)


def validate(batch: SwipeBatch, layouts: dict[str, Layout], alphabet_chars: str | None,
             cfg: ValidationConfig) -> Validated:
    """Split `batch` into valid swipes (repaired as documented) and quarantined rejects.

    `alphabet_chars=None` leaves words unchecked (prediction: a reference word is only a label)."""
    n = len(batch)
    rows = batch.row_of_point
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)

    def reject(mask: np.ndarray, why: str, what: Callable[[int], str] = lambda i: "") -> None:
        new = np.flatnonzero(mask & (reason == ""))
        reason[new] = why
        detail[new] = [what(i) for i in new]  # formatted for rejected rows only

    known = np.array([g in layouts for g in batch.grid_names], dtype=bool)
    reject(~known, "unknown_grid", lambda i: f"grid {batch.grid_names[i]!r}")
    finite = np.isfinite(batch.x) & np.isfinite(batch.y) & np.isfinite(batch.t)
    reject(_row_any(~finite, rows, n), "non_finite")
    too_big = (np.abs(batch.x) > F32_MAX) | (np.abs(batch.y) > F32_MAX) | (np.abs(batch.t) > F32_MAX)
    reject(_row_any(too_big, rows, n), "out_of_range", lambda i: "a value beyond float32")
    empty = batch.lengths == 0
    span = np.zeros(n)
    starts, ends = batch.offsets[:-1][~empty], batch.offsets[1:][~empty] - 1  # an empty last row has no index
    with np.errstate(invalid="ignore", over="ignore"):
        span[~empty] = batch.t[ends] - batch.t[starts]
    reject(np.abs(span) > cfg.max_duration_ms, "out_of_range",
           lambda i: f"lasts {span[i]:.3g} ms (at most {cfg.max_duration_ms:.0f})")

    # time: decreasing → reject; equal to the previous point → drop the point (repair)
    same_row = rows[1:] == rows[:-1]
    dt = np.diff(batch.t)
    reject(_row_any(same_row & (dt < 0), rows[1:], n), "time_not_increasing")
    dup = np.zeros(len(rows), bool)
    dup[1:] = same_row & (dt == 0)
    if not cfg.repair_duplicate_times:
        reject(_row_any(dup, rows, n), "time_not_increasing", lambda i: "repeated timestamp")
        dup[:] = False
    n_after = batch.lengths - np.bincount(rows[dup], minlength=n)
    reject(n_after < cfg.min_points, "too_few_points", lambda i: f"{n_after[i]} point(s)")

    # distance to the letter keys, per grid, for rows still standing
    worst = np.zeros(n)
    for name, lay in layouts.items():
        sel_rows = (reason == "") & np.array([g == name for g in batch.grid_names], dtype=bool)
        if not sel_rows.any():
            continue
        pts = sel_rows[rows]
        d = lay.distance_to_letter_keys(batch.x[pts], batch.y[pts]) / lay.mean_half_diagonal
        np.maximum.at(worst, rows[pts], d)
    reject(worst > cfg.max_key_distance, "off_keyboard",
           lambda i: f"{worst[i]:.1f} half-diagonals from the nearest letter key")

    if cfg.require_word:
        reject(np.array([w is None for w in batch.words], dtype=bool), "missing_word")
    if alphabet_chars is not None:
        allowed = set(alphabet_chars)
        bad_chars = np.array([w is not None and not allowed.issuperset(w) for w in batch.words], dtype=bool)
        reject(bad_chars, "char_not_in_alphabet", lambda i: repr(sorted(set(batch.words[i]) - allowed)))

    ok = reason == ""
    rejects = Rejects()
    srcs = batch.sources()
    for i in np.flatnonzero(~ok):
        rejects.add(int(batch.ids[i]), srcs[i], reason[i], detail[i], _record_json(batch, i))

    # apply the repairs to the kept rows: drop duplicate-time points, start t at 0
    kept = batch.take(ok)
    kept_dup = dup[ok[rows]]
    repaired = int(np.unique(kept.row_of_point[kept_dup]).size)
    if kept_dup.any():
        keep_pts = ~kept_dup
        lens = np.bincount(kept.row_of_point[keep_pts], minlength=len(kept))
        kept = kept.with_points(kept.x[keep_pts], kept.y[keep_pts], kept.t[keep_pts],
                                np.concatenate([[0], np.cumsum(lens)]).astype(np.int64))
    if len(kept):
        kept.t = kept.t - kept.t[kept.offsets[:-1]][kept.row_of_point]
    return Validated(kept=kept, rejects=rejects, repaired_rows=repaired)


def format_counts(rows_in: int, rows_kept: int, rejected: Counter, repaired: int = 0) -> str:
    """The table every import/synthesis job prints; raises if rows were lost."""
    lines = [f"{'rows in':<24}{rows_in:>10}", f"{'rows kept':<24}{rows_kept:>10}"]
    if repaired:
        lines.append(f"{'  of which repaired':<24}{repaired:>10}  (duplicate timestamps dropped)")
    lines.append(f"{'rows rejected':<24}{sum(rejected.values()):>10}")
    for why, k in sorted(rejected.items(), key=lambda kv: -kv[1]):
        lines.append(f"{'  ' + why:<24}{k:>10}")
    if rows_in != rows_kept + sum(rejected.values()):
        raise RuntimeError("rows lost: in != kept + rejected\n" + "\n".join(lines))
    lines.append(f"{'check':<24}{'in = kept + rejected':>10}")
    return "\n".join(lines)
