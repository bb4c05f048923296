"""Training noise: jitter, affine, time warp, point dropout and resampling of a SwipeBatch.

Noise is a pure function of (seed, epoch, row id, point index) — counter-based hashing,
not a generator — so a row gets the same noise whichever block or batch it lands in, and
a seeded run is reproducible. All work is vectorised over the batch's flat points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from swipe.data.swipes import SwipeBatch
from swipe.hashrand import normal, uniform


@dataclass(frozen=True)
class AugmentConfig:
    """Training-only noise; each transform applies to a swipe with its probability."""

    enabled: bool = True  # apply these transforms to training swipes (never to validation or prediction)
    jitter_prob: float = 1.0  # share of swipes whose points get jitter_sigma
    jitter_sigma: float = 0.04  # per-point Gaussian jitter, in key widths
    affine_prob: float = 0.8  # share of swipes shifted, scaled and rotated (shift_sigma, scale_sigma, rotate_sigma_deg)
    shift_sigma: float = 0.25  # global shift, in key widths
    scale_sigma: float = 0.05  # global scale, relative
    rotate_sigma_deg: float = 2.0  # global rotation about the swipe's centroid
    time_warp_prob: float = 0.5  # share of swipes whose times are warped (time_scale_sigma, interval_jitter)
    time_scale_sigma: float = 0.2  # log-normal factor on all times
    interval_jitter: float = 0.1  # relative jitter of each interval
    dropout_prob: float = 0.3  # share of swipes that lose point_drop of their interior points
    point_drop: float = 0.1  # share of interior points dropped
    resample_prob: float = 0.2  # share of swipes resampled at another point count (resample_min … resample_max)
    resample_min: float = 0.6  # the swipe is resampled uniformly at n · factor points,
    resample_max: float = 1.6  # factor ~ U(min, max), by linear interpolation
    seed: int = 0  # the noise's seed (each worker and epoch derives its own from it)


# stream ids: which random draw is which (keeps the draws independent)
_S_JIT_X, _S_JIT_Y, _S_APPLY, _S_SHIFT, _S_SCALE, _S_ROT, _S_TSCALE, _S_DT, _S_DROP, _S_RES = range(10)


def augment(batch: SwipeBatch, key_width: dict[str, float], cfg: AugmentConfig, epoch: int) -> SwipeBatch:
    """Noisy copy of `batch`; deterministic in (cfg.seed, epoch, ids)."""
    n = len(batch)
    if n == 0 or not cfg.enabled:
        return batch
    ids, rows = batch.ids, batch.row_of_point
    pidx = np.arange(len(batch.x)) - batch.offsets[:-1][rows]  # index of each point in its swipe
    seed = (cfg.seed, epoch)
    kw = np.array([key_width[g] for g in batch.grid_names])  # (N,)

    def applies(transform: int, prob: float) -> np.ndarray:  # (N,) bool
        return uniform(*seed, ids, _S_APPLY, transform) < prob

    x, y, t = batch.x.astype(np.float64), batch.y.astype(np.float64), batch.t.astype(np.float64)
    # per-point jitter scaled by key size
    j = applies(0, cfg.jitter_prob)[rows] * cfg.jitter_sigma * kw[rows]
    x = x + j * normal(*seed, ids[rows], pidx, _S_JIT_X)
    y = y + j * normal(*seed, ids[rows], pidx, _S_JIT_Y)
    # global shift / scale / rotation about the centroid
    a = applies(1, cfg.affine_prob)
    cnt = batch.lengths
    cx = np.bincount(rows, weights=x, minlength=n) / cnt
    cy = np.bincount(rows, weights=y, minlength=n) / cnt
    scale = 1 + a * cfg.scale_sigma * normal(*seed, ids, _S_SCALE)
    theta = a * np.deg2rad(cfg.rotate_sigma_deg) * normal(*seed, ids, _S_ROT)
    sx = a * cfg.shift_sigma * kw * normal(*seed, ids, _S_SHIFT, 0)
    sy = a * cfg.shift_sigma * kw * normal(*seed, ids, _S_SHIFT, 1)
    dx, dy = x - cx[rows], y - cy[rows]
    c, s = np.cos(theta)[rows], np.sin(theta)[rows]
    x = cx[rows] + scale[rows] * (c * dx - s * dy) + sx[rows]
    y = cy[rows] + scale[rows] * (s * dx + c * dy) + sy[rows]
    # time warp: scale all times, jitter each interval (times stay increasing)
    w = applies(2, cfg.time_warp_prob)
    tscale = np.exp(w * cfg.time_scale_sigma * normal(*seed, ids, _S_TSCALE))
    dt = np.diff(t, prepend=0.0)
    dt[batch.offsets[:-1]] = 0.0
    dt = dt * tscale[rows] * np.maximum(1 + w[rows] * cfg.interval_jitter * normal(*seed, ids[rows], pidx, _S_DT), 0.2)
    cum = np.cumsum(dt)
    t = cum - cum[batch.offsets[:-1]][rows]
    out = batch.with_points(x, y, t, batch.offsets)
    # point dropout: interior points only, never below 2 points
    d = applies(3, cfg.dropout_prob)
    last = batch.offsets[1:] - 1
    interior = (pidx > 0) & (np.arange(len(x)) != last[rows])
    drop = d[rows] & interior & (uniform(*seed, ids[rows], pidx, _S_DROP) < cfg.point_drop)
    if drop.any():
        out = _keep_points(out, ~drop)
    # uniform resampling at a different density
    r = applies(4, cfg.resample_prob)
    if r.any():
        factor = cfg.resample_min + (cfg.resample_max - cfg.resample_min) * uniform(*seed, ids, _S_RES)
        out = _resample(out, np.where(r, factor, 1.0), r)
    return out


def _keep_points(b: SwipeBatch, keep: np.ndarray) -> SwipeBatch:
    lens = np.bincount(b.row_of_point[keep], minlength=len(b))
    return b.with_points(b.x[keep], b.y[keep], b.t[keep], np.concatenate([[0], np.cumsum(lens)]))


def _resample(b: SwipeBatch, factor: np.ndarray, which: np.ndarray) -> SwipeBatch:
    """Swipes in `which` → max(2, round(n·factor)) points at uniform times, linearly interpolated."""
    n_old = b.lengths
    n_new = np.where(which, np.maximum(2, np.round(n_old * factor)).astype(np.int64), n_old)
    first, last = b.offsets[:-1], b.offsets[1:] - 1
    dur = b.t[last] - b.t[first]
    new_rows = np.repeat(np.arange(len(b)), n_new)
    k = np.arange(n_new.sum()) - np.repeat(np.cumsum(n_new) - n_new, n_new)
    t_new = dur[new_rows] * k / np.maximum(n_new[new_rows] - 1, 1)
    # one global, increasing timeline: swipes laid end to end so np.interp never mixes two
    gap = np.concatenate([[0.0], np.cumsum(dur + 1.0)[:-1]])
    g_old = b.t + gap[b.row_of_point]
    g_new = t_new + gap[new_rows]
    x, y = np.interp(g_new, g_old, b.x), np.interp(g_new, g_old, b.y)
    # rows not resampled keep their exact points
    keep_old = ~which[new_rows]
    old_idx = np.repeat(first, n_new) + k
    x[keep_old], y[keep_old], t_new[keep_old] = b.x[old_idx[keep_old]], b.y[old_idx[keep_old]], b.t[old_idx[keep_old]]
    return b.with_points(x, y, t_new, np.concatenate([[0], np.cumsum(n_new)]))


class Augment:
    """map_batches callable (pyarrow in, pyarrow out) for one epoch of training data."""

    def __init__(self, key_width: dict[str, float], cfg: AugmentConfig, epoch: int):
        self.key_width, self.cfg, self.epoch = key_width, cfg, epoch

    def __call__(self, table: pa.Table) -> pa.Table:
        return augment(SwipeBatch.from_arrow(table), self.key_width, self.cfg, self.epoch).to_arrow()
