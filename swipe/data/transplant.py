"""Transplanted swipes: real people's deviations carried onto the ideal paths of other words.

A real swipe of word A is stored as a *donor*: how it deviates from A's ideal key-centre
path, and how it spends its time along that path. A synthetic swipe of word B takes a donor
whose path has B's shape and bends B's ideal path the same way:

- **Path.** Both the trace and the ideal path (consecutive repeated keys collapsed) are
  resampled to `points` positions evenly spaced by arc length. The deviation at each
  position is expressed in key units and in the ideal path's local frame (along, across), so
  it follows the path around its turns and does not depend on the keyboard's size.
- **Matching.** A donor is drawn among the `neighbours` nearest by geometry: the same number
  of segments, then the log segment lengths and the signed turn angles at the corners.
- **Warping.** The donor's arc positions are mapped onto the target path corner to corner,
  segment by segment, so a deviation made at a corner lands at the corresponding corner.
- **Timing.** Each segment takes the donor's time for it × (target length / donor length)^
  `time_exponent` (per-segment time grows as about length^0.5 in real English), spread along
  the segment as the donor spread it (pauses and accelerations kept). The donor's dwell at
  landing and lift-off is kept.
- **Sampling.** Touch events at the donor's own median interval, with the parametric
  generator's jitter and dropped frames, integer pixels and milliseconds.

The fitted bank is a small artifact (`models/generators/transplant_en.npz`, made by
`swipe dev fit-generator`); synthesis needs only it, a word list and a layout.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from statistics import NormalDist
from functools import lru_cache

import numpy as np

from swipe import storage
from swipe.data.swipes import SwipeBatch
from swipe.keyboard import Layout, char_positions

OFFSET_UNIT = 0.025  # key units per int8 step of a stored deviation (±3.2 keys)
MOVE_EPS = 0.05  # key units: the finger has started moving once it is this far along its trace
LENGTH_FLOOR = 0.3  # key units added to segment lengths before logs and ratios (short segments)
FRAME_SPAN = 0.01  # arc fraction on either side over which the path's local direction is taken


@dataclass(frozen=True)
class TransplantConfig:
    """How targets find donors and how donors are re-timed."""

    neighbours: int = 4  # a donor is drawn among this many nearest by geometry
    turn_weight: float = 0.5  # weight of the turn angles (radians / π) against the log segment lengths
    time_exponent: float = 0.5  # a segment's time × (target length / donor length)^this


def ideal_path(word: str, layout: Layout) -> np.ndarray:
    """Key centres of the word's keyable letters in key units (x / key width, y / key height),
    consecutive repeats collapsed.  # (m + 1, 2); (0, 2) when no letter has a key"""
    keys = char_positions(layout.letters, word)
    keys = keys[keys >= 0]
    if len(keys):
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    return layout.letter_centres[keys] / _key_units(layout)


def _key_units(layout: Layout) -> np.ndarray:
    return np.array([layout.key_width, float(layout.letter_sizes[:, 1].mean())])


def geometry(path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segment lengths (m,) and signed turn angles at the interior corners (m - 1,) of a path."""
    d = np.diff(path, axis=0)
    lengths = np.hypot(d[:, 0], d[:, 1])
    ang = np.arctan2(d[:, 1], d[:, 0])
    turns = (np.diff(ang) + np.pi) % (2 * np.pi) - np.pi
    return lengths, turns


def _knots(lengths: np.ndarray) -> np.ndarray:
    """Arc fraction of every corner of a path with these segment lengths.  # (m + 1,)"""
    total = lengths.sum()
    if total <= 0:
        return np.linspace(0.0, 1.0, len(lengths) + 1)
    return np.concatenate([[0.0], np.cumsum(lengths) / total])


def _along(path: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Points of a polyline at arc fractions u.  # (len(u), 2)"""
    if len(path) == 1:
        return np.repeat(path, len(u), axis=0)
    f = _knots(geometry(path)[0])
    return np.stack([np.interp(u, f, path[:, 0]), np.interp(u, f, path[:, 1])], 1)


def _frames(path: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Unit direction of the polyline around each arc fraction (the central difference over
    `FRAME_SPAN`: along a segment its direction, at a corner the bisector; the x axis for a
    point). Continuous in u, so a deviation near a corner keeps its place.  # (len(u), 2)"""
    if len(path) == 1 or geometry(path)[0].sum() <= 0:
        return np.tile([1.0, 0.0], (len(u), 1))
    d = _along(path, np.minimum(u + FRAME_SPAN, 1.0)) - _along(path, np.maximum(u - FRAME_SPAN, 0.0))
    norm = np.hypot(d[:, 0], d[:, 1])
    return np.where(norm[:, None] > 1e-9, d / np.maximum(norm, 1e-12)[:, None], [1.0, 0.0])


def _rotate(v: np.ndarray, tangent: np.ndarray, inverse: bool = False) -> np.ndarray:
    """(along, across) ↔ (x, y) in the frame of each tangent."""
    c, s = tangent[:, 0], tangent[:, 1]
    if inverse:  # (along, across) → (x, y)
        return np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], 1)
    return np.stack([c * v[:, 0] + s * v[:, 1], -s * v[:, 0] + c * v[:, 1]], 1)


def _arc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])


@dataclass
class Donor:
    """One real swipe as a deviation field and a time profile along its word's ideal path."""

    offsets: np.ndarray  # (K, 2) key units, (along, across) the ideal path
    profile: np.ndarray  # (K,) share of the movement time spent before each arc position, 0 → 1
    move_ms: float
    dwell_start_ms: float
    dwell_end_ms: float
    interval_ms: float
    lengths: np.ndarray  # (m,) the ideal path's segment lengths, key units
    turns: np.ndarray  # (m - 1,)


def donor_of(x: np.ndarray, y: np.ndarray, t: np.ndarray, word: str, layout: Layout, points: int) -> Donor | None:
    """A real swipe (pixels, ms) as a donor; None where its word has no keyable letter or the
    swipe has under 2 points."""
    path = ideal_path(word, layout)
    if len(path) == 0 or len(x) < 2:
        return None
    unit = _key_units(layout)
    x, y, t = np.asarray(x, float) / unit[0], np.asarray(y, float) / unit[1], np.asarray(t, float)
    s = _arc(x, y)
    total = s[-1]
    start = int(np.flatnonzero(s <= min(MOVE_EPS, total / 2))[-1])
    end = max(int(np.flatnonzero(s >= total - min(MOVE_EPS, total / 2))[0]), start)
    u = np.linspace(0.0, 1.0, points)
    if total > 0 and end > start:
        sm = s[start:end + 1] - s[start]
        sm = sm / max(sm[-1], 1e-9) + 1e-9 * np.arange(len(sm))  # strictly increasing: pauses become steps
        trace = np.stack([np.interp(u, sm, x[start:end + 1]), np.interp(u, sm, y[start:end + 1])], 1)
        times = np.interp(u, sm, t[start:end + 1])
    else:  # a tap: the finger never moved
        trace = np.tile([x.mean(), y.mean()], (points, 1))
        times = np.linspace(t[start], t[end], points)
    move = float(times[-1] - times[0])
    profile = (times - times[0]) / move if move > 0 else u.copy()
    lengths, turns = geometry(path)
    offsets = _rotate(trace - _along(path, u), _frames(path, u))
    dt = np.diff(t)
    return Donor(offsets, profile, move, float(t[start] - t[0]), float(t[-1] - t[end]),
                 float(np.median(dt[dt > 0])) if (dt > 0).any() else 16.7, lengths, turns)


# ----------------------------------------------------------------------------- the bank
@dataclass
class DonorBank:
    """Every donor, packed: int8 deviations, uint8 time profiles, ragged geometry."""

    offsets: np.ndarray  # (D, K, 2) int8, × OFFSET_UNIT key units
    profile: np.ndarray  # (D, K) uint8, / 255
    timing: np.ndarray  # (D, 4) float32: move_ms, dwell_start_ms, dwell_end_ms, interval_ms
    n_seg: np.ndarray  # (D,) int16
    seg_first: np.ndarray  # (D + 1,) int64 into lengths
    lengths: np.ndarray  # (S,) float16
    turns: np.ndarray  # (S,) float16, aligned with lengths (the last of each donor unused)
    source: str = ""  # what it was fitted on (file, sha256, rows)

    def __len__(self) -> int:
        return len(self.n_seg)

    @property
    def points(self) -> int:
        return self.offsets.shape[1]

    @classmethod
    def from_donors(cls, donors: list[Donor], source: str = "") -> "DonorBank":
        n_seg = np.array([len(d.lengths) for d in donors], np.int16)
        first = np.concatenate([[0], np.cumsum(n_seg)]).astype(np.int64)
        turns = [np.concatenate([d.turns, [0.0]])[:len(d.lengths)] for d in donors]
        return cls(
            offsets=np.clip(np.round(np.stack([d.offsets for d in donors]) / OFFSET_UNIT), -127, 127).astype(np.int8),
            profile=np.round(255 * np.stack([d.profile for d in donors])).astype(np.uint8),
            timing=np.array([[d.move_ms, d.dwell_start_ms, d.dwell_end_ms, d.interval_ms] for d in donors], np.float32),
            n_seg=n_seg, seg_first=first,
            lengths=np.concatenate([d.lengths for d in donors]).astype(np.float16),
            turns=np.concatenate(turns).astype(np.float16), source=source)

    def save(self, path: str) -> int:
        """Write the bank (compressed npz); returns its size in bytes."""
        buf = io.BytesIO()
        np.savez_compressed(buf, offsets=self.offsets, profile=self.profile, timing=self.timing, n_seg=self.n_seg,
                            seg_first=self.seg_first, lengths=self.lengths, turns=self.turns,
                            source=np.array(self.source))
        storage.write_bytes(path, buf.getvalue())
        return len(buf.getvalue())

    @classmethod
    def load(cls, path: str) -> "DonorBank":
        z = np.load(io.BytesIO(storage.read_bytes(path)))
        return cls(**{k: z[k] for k in ("offsets", "profile", "timing", "n_seg", "seg_first", "lengths", "turns")},
                   source=str(z["source"]))

    def features(self, m: int, rows: np.ndarray) -> np.ndarray:
        """The matching vector of donors with m segments: log lengths, then turns.  # (len(rows), 2m - 1)"""
        idx = self.seg_first[rows][:, None] + np.arange(m)[None, :]
        lengths = self.lengths[idx].astype(np.float64)
        turns = self.turns[idx[:, :-1]].astype(np.float64) if m > 1 else np.zeros((len(rows), 0))
        return _feature(lengths, turns)


def _feature(lengths: np.ndarray, turns: np.ndarray, turn_weight: float = 1.0) -> np.ndarray:
    return np.concatenate([np.log(lengths + LENGTH_FLOOR), turn_weight * turns / np.pi], axis=-1)


@lru_cache(maxsize=4)
def load_bank(path: str) -> DonorBank:
    """A bank, read once per process (every Ray task of a dataset job uses the same one)."""
    return DonorBank.load(path)


def fit_bank(batch: SwipeBatch, layouts: dict[str, Layout], points: int = 48, source: str = "") -> DonorBank:
    """Every labelled swipe of a batch (on a known keyboard) as a donor."""
    donors = []
    for i, (word, grid) in enumerate(zip(batch.words, batch.grid_names)):
        if word is None or grid not in layouts:
            continue
        s, e = batch.offsets[i], batch.offsets[i + 1]
        d = donor_of(batch.x[s:e], batch.y[s:e], batch.t[s:e], word, layouts[grid], points)
        if d is not None:
            donors.append(d)
    if not donors:
        raise ValueError("no donors: the batch has no labelled swipe on a known keyboard")
    return DonorBank.from_donors(donors, source)


# ----------------------------------------------------------------------------- synthesis
def match(bank: DonorBank, paths: list[np.ndarray], cfg: TransplantConfig, rng: np.random.Generator) -> np.ndarray:
    """A donor for every target path: among the `neighbours` nearest of those with the same
    number of segments (or, where none has it, the nearest count there is).  # (N,) donor rows"""
    m_of = np.array([len(p) - 1 for p in paths])
    have = np.unique(bank.n_seg)
    out = np.empty(len(paths), np.int64)
    for m in np.unique(m_of):
        targets = np.flatnonzero(m_of == m)
        dm = int(have[np.argmin(np.abs(have - m) + 0.5 * (have < m))])  # prefer more segments on a tie
        rows = np.flatnonzero(bank.n_seg == dm)
        k = min(cfg.neighbours, len(rows))
        if dm != m or dm == 0:  # no like-shaped donor: any of that count
            out[targets] = rows[rng.integers(0, len(rows), len(targets))]
            continue
        donor_f = bank.features(dm, rows)
        donor_f[:, dm:] *= cfg.turn_weight
        for c in range(0, len(targets), 512):
            chunk = targets[c:c + 512]
            geo = [geometry(paths[i]) for i in chunk]
            f = _feature(np.stack([g[0] for g in geo]), np.stack([g[1] for g in geo]), cfg.turn_weight)
            d = ((f[:, None, :] - donor_f[None, :, :]) ** 2).sum(-1)  # (chunk, donors)
            near = np.argpartition(d, k - 1, axis=1)[:, :k]
            out[chunk] = rows[near[np.arange(len(chunk)), rng.integers(0, k, len(chunk))]]
    return out


def _warp(from_knots: np.ndarray, to_knots: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Arc fractions on one path → on another, corner to corner (identity where the counts differ)."""
    if len(from_knots) != len(to_knots) or len(from_knots) < 2:
        return u
    return np.interp(u, from_knots, to_knots)


def transplant_one(path: np.ndarray, layout: Layout, bank: DonorBank, row: int, cfg: TransplantConfig,
                   jitter: float, drop_prob: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One swipe of the word whose ideal path (key units) is `path`, from donor `row`:
    positions (P, 2) in pixels and times (P,) in ms from 0."""
    d_lengths = bank.lengths[bank.seg_first[row]:bank.seg_first[row + 1]].astype(np.float64)
    return render(path, layout, bank.offsets[row].astype(np.float64) * OFFSET_UNIT,
                  bank.profile[row].astype(np.float64) / 255.0, bank.timing[row], d_lengths, cfg, jitter,
                  drop_prob, rng)


def render(path: np.ndarray, layout: Layout, offsets: np.ndarray, profile: np.ndarray, timing: np.ndarray,
           d_lengths: np.ndarray | None, cfg: TransplantConfig, jitter: float, drop_prob: float,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A deviation field (K, 2) and time profile (K,) along a path (made for a path whose segment
    lengths are `d_lengths`; None: for this path itself) as touch events: positions (P, 2) in
    pixels and times (P,) in ms from 0. `timing`: move_ms, dwell_start_ms, dwell_end_ms, interval_ms."""
    m = len(path) - 1
    lengths, _ = geometry(path)
    same = d_lengths is None
    d_lengths = lengths if same else d_lengths
    dm = len(d_lengths)
    grid = np.linspace(0.0, 1.0, len(profile))
    move_ms, dwell0, dwell1, interval = (float(v) for v in timing)

    # the donor's arc positions on the target path (corner to corner), bent by its deviations there
    t_knots, d_knots = _knots(lengths), _knots(d_lengths)
    u = _warp(d_knots, t_knots, grid)
    pos = _along(path, u) + _rotate(offsets, _frames(path, u), inverse=True)

    # time: the donor's profile, each segment scaled by its length ratio^time_exponent
    donor_t = move_ms * profile
    if same:
        times = donor_t
    elif m == dm and m > 0:
        seg = np.clip(np.searchsorted(d_knots, grid, side="right") - 1, 0, m - 1)
        scale = ((lengths + LENGTH_FLOOR) / (d_lengths + LENGTH_FLOOR)) ** cfg.time_exponent
        d_at_knot = move_ms * np.interp(d_knots, grid, profile)
        start_of = np.concatenate([[0.0], np.cumsum(np.diff(d_at_knot) * scale)])
        times = start_of[seg] + scale[seg] * (donor_t - d_at_knot[seg])
    else:
        ratio = (lengths.sum() + LENGTH_FLOOR) / (d_lengths.sum() + LENGTH_FLOOR)
        times = donor_t * ratio ** cfg.time_exponent
    times = np.maximum.accumulate(np.maximum(times, 0.0)) + dwell0
    total = times[-1] + dwell1

    # touch events: the donor's interval with jitter and dropped frames; the touch-up at `total`.
    # `interval` is the donor's median: the frame that, jittered and with drops, has that median
    interval = max(interval, 1.0) / (1 + jitter * NormalDist().inv_cdf(min(0.5 / (1 - drop_prob), 0.99)))
    n_draw = int(total / (interval * max(1 - 3 * jitter, 0.2))) + 2
    dts = interval * (1 + jitter * rng.standard_normal(n_draw))
    dts = np.where(rng.random(n_draw) < drop_prob, dts + interval * rng.integers(1, 3, n_draw), dts)
    dts = np.maximum(np.round(dts), 1.0)
    ts = np.concatenate([[0.0], np.cumsum(dts)])
    ts = ts[ts < np.round(total)]
    ts = np.concatenate([ts, [max(np.round(total), ts[-1] + 1)]])
    xy = np.stack([np.interp(ts, times, pos[:, 0]), np.interp(ts, times, pos[:, 1])], 1)
    return np.round(xy * _key_units(layout)), ts


def to_batch(words: list[str], layout: Layout, swipes: list[tuple[np.ndarray, np.ndarray]], first_id: int,
             source: str) -> SwipeBatch:
    """Rendered swipes (positions, times) of `words` on `layout` as a batch."""
    lengths = [len(t) for _, t in swipes]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return SwipeBatch(ids=np.arange(first_id, first_id + len(words), dtype=np.int64), words=list(words),
                      grid_names=[layout.name] * len(words), x=np.concatenate([xy[:, 0] for xy, _ in swipes]),
                      y=np.concatenate([xy[:, 1] for xy, _ in swipes]), t=np.concatenate([t for _, t in swipes]),
                      offsets=offsets, source=source)


def word_paths(words: list[str], layout: Layout) -> list[np.ndarray]:
    """Every word's ideal path; a clear error for a word with no key on the layout."""
    paths = [ideal_path(w, layout) for w in words]
    empty = [w for w, p in zip(words, paths) if len(p) == 0]
    if empty:
        raise ValueError(f"word {empty[0]!r} has no character with a key on layout {layout.name!r}")
    return paths


def transplant(words: list[str], layout: Layout, bank: DonorBank, cfg: TransplantConfig, rng: np.random.Generator,
               jitter: float = 0.08, drop_prob: float = 0.13, first_id: int = 0,
               source: str = "transplant") -> SwipeBatch:
    """One transplanted swipe per word on `layout`; deterministic for the state of `rng`."""
    paths = word_paths(words, layout)
    rows = match(bank, paths, cfg, rng)
    swipes = [transplant_one(p, layout, bank, int(r), cfg, jitter, drop_prob, rng) for p, r in zip(paths, rows)]
    return to_batch(words, layout, swipes, first_id, source)
