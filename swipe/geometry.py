"""Paths as arrays: polylines resampled to evenly spaced points (swipes and key-centre templates alike)."""

from __future__ import annotations

import numpy as np


def resample(points: np.ndarray, lengths: np.ndarray, n: int) -> np.ndarray:
    """Polylines (C, L, 2), each of its first `lengths` points, → n points each, evenly spaced
    by arc length.  # (C, n, 2). A polyline of no length (a tap, a one-letter word) is n copies
    of its point. (x and y are handled as separate arrays: the gathers are the cost here.)"""
    c, width = points.shape[:2]
    if width == 1:
        return np.repeat(points, n, axis=1)
    xs, ys = np.ascontiguousarray(points[..., 0]), np.ascontiguousarray(points[..., 1])
    dx, dy = np.diff(xs, axis=1), np.diff(ys, axis=1)
    seg = np.sqrt(dx * dx + dy * dy) * (np.arange(1, width)[None, :] < lengths[:, None])  # (C, L-1); padding: 0
    cum = np.cumsum(seg, 1)  # length at the end of each segment
    target = cum[:, -1:] * np.linspace(0.0, 1.0, n, dtype=points.dtype)[None, :]  # (C, n)
    idx = np.count_nonzero(cum[:, None, :-1] < target[:, :, None], axis=-1)  # the segment each target is on
    idx = np.minimum(idx, np.maximum(lengths[:, None] - 2, 0))
    seg_len, seg_end = np.take_along_axis(seg, idx, 1), np.take_along_axis(cum, idx, 1)
    frac = np.clip(1.0 - (seg_end - target) / np.where(seg_len > 0, seg_len, 1.0), 0.0, 1.0)
    frac = np.where(seg_len > 0, frac, 0.0)
    out = []
    for v in (xs, ys):
        a = np.take_along_axis(v, idx, 1)
        out.append(a + frac * (np.take_along_axis(v, idx + 1, 1) - a))
    return np.stack(out, -1)
