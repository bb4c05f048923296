"""Synthetic swipes: word + layout → a human-like (x, y, t) trajectory, vectorised.

The model follows the published accounts of gesture typing:
- one via-point per letter, drawn around the key centre with the dual-Gaussian touch
  spread of Bi & Zhai (σ² = α·size² + σ_abs², per axis);
- corner cutting: interior via-points pulled toward the chord of their neighbours;
- per-segment durations from Fitts' law (a + b·log2(D/W + 1)), scaled by a per-swipe
  speed; a repeated letter adds a dwell (a small loop through two nearby via-points);
- motion between via-points is minimum-jerk: quintic Hermite segments with zero
  acceleration at the via-points, zero velocity at the ends and Catmull-Rom velocities
  at interior via-points (the piecewise-quintic shape of Flash & Hogan's via-point
  solution, without solving a linear system per swipe);
- dwell at the start and end; device-like sampling intervals with jitter and dropped
  frames; a per-swipe "user" bias (scale and offset of the whole keyboard); motor noise;
  integer pixels and milliseconds like real touch screens.

All work is on flat arrays over every via-point and every sample of a batch; there is no
Python loop over swipes. Characters without a key on the layout (e.g. `'`) are swiped past.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.keyboard import Layout, char_positions


@dataclass(frozen=True)
class SynthConfig:
    """Generator parameters. Lengths in key widths/heights, times in milliseconds.

    Defaults are calibrated on the real How We Swipe dev set (data/samples/), each swipe on
    its participant's own keyboard: synthetic swipes of the same words on the same keyboards
    have every median of the realism statistics within ±15% of the real ones
    (tests/data/test_synth.py).
    """

    via_sigma_rel: float = 0.18  # touch spread relative to key size (√α of the dual Gaussian)
    via_sigma_abs: float = 0.06  # absolute touch spread, in key widths (σ_abs)
    end_spread: float = 1.5  # the last via-point's spread × this: lift-off is less careful
    corner_cut_max: float = 0.10  # interior via-points move up to this share toward the chord
    smoothness: float = 1.6  # scale of the Catmull-Rom velocity at interior via-points
    fitts_a_ms: float = 45.0  # Fitts intercept per segment
    fitts_b_ms: float = 90.0  # Fitts slope, per bit of log2(D/W + 1)
    speed_sigma: float = 0.35  # log-normal spread of a per-swipe speed factor
    double_letter_ms: float = 110.0  # extra time for a repeated letter (dwell / small loop)
    double_letter_offset: float = 0.25  # the loop's second via-point, in key widths from the first
    dwell_start_ms: float = 85.0  # median dwell before moving (log-normal)
    dwell_end_ms: float = 35.0  # median dwell after arriving at the last letter
    dwell_sigma: float = 0.6  # log-normal spread of both dwells
    sample_interval_ms: float = 16.7  # the device's frame interval (60 Hz)
    sample_jitter: float = 0.08  # relative jitter of each interval
    frame_drop_prob: float = 0.05  # chance an interval spans 2 or more frames
    user_scale_sigma: float = 0.04  # per-swipe keyboard scale bias (phones differ in size)
    user_offset_sigma: float = 0.08  # per-swipe offset bias, in key widths (0.25 had fitted mis-registered swipes)
    point_noise_px: float = 0.8  # motor noise added to every sample
    integer_pixels: bool = True  # round x, y and t like touch screens report them


def _log_normal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(n))


def _word_keys(words: list[str], layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Letter-key index of every keyable character, flat, and the count per word."""
    keys = char_positions(layout.letters, "".join(words))
    owner = np.repeat(np.arange(len(words)), [len(w) for w in words])
    keep = keys >= 0
    counts = np.bincount(owner[keep], minlength=len(words))
    if (counts == 0).any():
        bad = words[int(np.flatnonzero(counts == 0)[0])]
        raise ValueError(f"word {bad!r} has no character with a key on layout {layout.name!r}")
    return keys[keep], counts


def synthesize(words: list[str], layout: Layout, cfg: SynthConfig, rng: np.random.Generator,
               first_id: int = 0, source: str = "synth") -> SwipeBatch:
    """One synthetic swipe per word on `layout`; deterministic for the state of `rng`."""
    n = len(words)
    keys, n_via = _word_keys(words, layout)
    owner = np.repeat(np.arange(n), n_via)  # (V,) swipe of every via-point
    first = np.concatenate([[0], np.cumsum(n_via)[:-1]])  # (N,) first via-point of each swipe
    last = first + n_via - 1
    is_first = np.zeros(len(keys), bool)
    is_first[first] = True
    is_last = np.zeros(len(keys), bool)
    is_last[last] = True
    key_w = layout.key_width

    # via-points around key centres: dual-Gaussian spread per axis  # (V, 2)
    size = layout.letter_sizes[keys]
    sigma = np.sqrt(cfg.via_sigma_rel ** 2 * size ** 2 + (cfg.via_sigma_abs * key_w) ** 2)
    sigma = np.where(is_last[:, None], cfg.end_spread * sigma, sigma)
    via = layout.letter_centres[keys] + sigma * rng.standard_normal((len(keys), 2))
    # repeated letter: the second via-point is a small loop away from the first
    repeat = np.zeros(len(keys), bool)
    repeat[1:] = (keys[1:] == keys[:-1]) & ~is_first[1:]
    angle = rng.uniform(0, 2 * np.pi, len(keys))
    loop = cfg.double_letter_offset * key_w * np.stack([np.cos(angle), np.sin(angle)], 1)
    via = np.where(repeat[:, None], via + loop, via)

    # corner cutting toward the neighbours' midpoint (interior points only)
    interior = ~is_first & ~is_last
    cut = rng.uniform(0, cfg.corner_cut_max, n)[owner]
    prev_p = np.roll(via, 1, axis=0)
    next_p = np.roll(via, -1, axis=0)
    via = np.where(interior[:, None], via + cut[:, None] * ((prev_p + next_p) / 2 - via), via)

    # per-swipe user bias: the whole keyboard scaled and shifted
    centre = np.array([layout.width / 2, layout.height / 2])
    scale = 1 + cfg.user_scale_sigma * rng.standard_normal(n)
    offset = cfg.user_offset_sigma * key_w * rng.standard_normal((n, 2))
    via = centre + scale[owner, None] * (via - centre) + offset[owner]

    # knot times: dwell, then Fitts' law durations per segment  # (V,)
    seg_d = np.hypot(*(np.roll(via, -1, axis=0) - via).T)  # distance to the next via-point
    speed = _log_normal(rng, 1.0, cfg.speed_sigma, n)[owner]
    seg_t = speed * (cfg.fitts_a_ms + cfg.fitts_b_ms * np.log2(seg_d / key_w + 1))
    seg_t = seg_t + cfg.double_letter_ms * np.roll(repeat, -1)
    seg_t[is_last] = 0.0
    dwell0 = _log_normal(rng, cfg.dwell_start_ms, cfg.dwell_sigma, n)
    dwell1 = _log_normal(rng, cfg.dwell_end_ms, cfg.dwell_sigma, n)
    cum = np.cumsum(seg_t)
    knot_t = cum - seg_t - (cum - seg_t)[first][owner] + dwell0[owner]  # time at via-point
    total = knot_t[last] + dwell1  # (N,) swipe duration

    # velocities at the knots: Catmull-Rom inside, rest at the ends  # (V, 2)
    dt_span = np.roll(knot_t, -1) - np.roll(knot_t, 1)
    chord = np.roll(via, -1, axis=0) - np.roll(via, 1, axis=0)
    vel = cfg.smoothness * chord / np.maximum(dt_span, 1e-3)[:, None]
    vel[~interior] = 0.0

    # sample times: frame intervals with jitter and dropped frames, then the touch-up
    frame = cfg.sample_interval_ms
    n_draw = np.ceil(total / (frame * (1 - 3 * cfg.sample_jitter))).astype(np.int64) + 1
    dts = frame * (1 + cfg.sample_jitter * rng.standard_normal(n_draw.sum()))
    drops = rng.random(len(dts)) < cfg.frame_drop_prob
    dts = np.where(drops, dts + frame * rng.integers(1, 3, len(dts)), dts)
    draw_owner = np.repeat(np.arange(n), n_draw)
    draw_first = np.concatenate([[0], np.cumsum(n_draw)[:-1]])
    if cfg.integer_pixels:
        dts = np.maximum(np.round(dts), 1.0)
    dts[draw_first] = 0.0  # every swipe starts at t = 0
    c = np.cumsum(dts)
    t = c - c[draw_first][draw_owner]
    end_t = np.round(total) if cfg.integer_pixels else total
    keep = t < end_t[draw_owner]
    keep[draw_first] = True
    t, s_owner = t[keep], draw_owner[keep]
    # append the touch-up sample at the end of the movement (after the last kept sample)
    n_pts = np.bincount(s_owner, minlength=n) + 1
    pt_first = np.concatenate([[0], np.cumsum(n_pts)[:-1]])
    up = pt_first + n_pts - 1
    full_t = np.empty(n_pts.sum())
    mask = np.ones(len(full_t), bool)
    mask[up] = False
    full_t[mask] = t
    full_t[up] = np.maximum(end_t, t[np.cumsum(n_pts - 1) - 1] + 1)
    pt_owner = np.repeat(np.arange(n), n_pts)

    # positions: find each sample's segment on one global timeline  # (P, 2)
    gap = np.concatenate([[0.0], np.cumsum(full_t[up] + 1.0)[:-1]])  # swipes laid end to end
    g_knot = knot_t + gap[owner]
    g_t = full_t + gap[pt_owner]
    seg = np.searchsorted(g_knot, g_t, side="right") - 1
    seg = np.clip(seg, first[pt_owner], last[pt_owner])
    nxt = np.minimum(seg + 1, last[pt_owner])
    h = np.maximum(knot_t[nxt] - knot_t[seg], 1e-6)
    s = np.clip((full_t - knot_t[seg]) / h, 0.0, 1.0)[:, None]
    s3, s4, s5 = s ** 3, s ** 4, s ** 5
    h0 = 1 - 10 * s3 + 15 * s4 - 6 * s5
    h1 = s - 6 * s3 + 8 * s4 - 3 * s5
    h4 = -4 * s3 + 7 * s4 - 3 * s5
    h5 = 10 * s3 - 15 * s4 + 6 * s5
    hh = h[:, None]
    pos = h0 * via[seg] + h1 * hh * vel[seg] + h4 * hh * vel[nxt] + h5 * via[nxt]
    pos = pos + cfg.point_noise_px * rng.standard_normal(pos.shape)
    if cfg.integer_pixels:
        pos = np.round(pos)

    offsets = np.concatenate([[0], np.cumsum(n_pts)]).astype(np.int64)
    return SwipeBatch(ids=np.arange(first_id, first_id + n, dtype=np.int64), words=list(words),
                      grid_names=[layout.name] * n, x=pos[:, 0], y=pos[:, 1], t=full_t,
                      offsets=offsets, source=source)

