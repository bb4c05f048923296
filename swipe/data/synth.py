"""Synthetic swipes: word + layout → a human-like (x, y, t) trajectory, vectorised.

The model follows the published accounts of gesture typing:
- one via-point per letter, drawn around the key centre with the dual-Gaussian touch
  spread of Bi & Zhai (σ² = α·size² + σ_abs², per axis);
- corner cutting: interior via-points pulled toward the chord of their neighbours;
- timing as measured on real swipes: the movement takes `move_ms`·(L/5)^`length_exponent`
  for a word of L letters (longer words are swiped faster per letter), shared among the
  segments in proportion to D^`segment_exponent` (segment length D); a repeated letter
  adds a dwell (a small loop through two nearby via-points);
- motion between via-points: quintic Hermite segments with zero acceleration at the
  via-points and Catmull-Rom velocities at interior via-points (the piecewise-quintic
  shape of Flash & Hogan's via-point solution, without solving a linear system per
  swipe); the finger may land and lift while moving (`start_speed`, `end_speed`);
- people, not swipes: consecutive swipes of a batch can share one "user"
  (`swipes_per_user`), who holds the phone with their own scale, offset, rotation and
  tempo; each swipe varies a little around them;
- dwell at the start and end; device-like sampling intervals with jitter and dropped
  frames; slow drift of the finger off the ideal path (smooth noise) and motor noise;
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

    Defaults are hand-set near the real How We Swipe swipes (each on its participant's own
    keyboard): every median of the realism statistics within ±15% of the real ones
    (tests/data/test_synth.py). `swipe dev fit-synth` fits them to whole distributions of a
    real set and writes a config (configs/synth_fitted_en.yaml).
    """

    via_sigma_rel: float = 0.18  # touch spread relative to key size (√α of the dual Gaussian)
    via_sigma_abs: float = 0.06  # absolute touch spread, in key widths (σ_abs)
    end_spread: float = 1.5  # the last via-point's spread × this: lift-off is less careful
    corner_cut_max: float = 0.025  # interior via-points move up to this share toward the chord
    smoothness: float = 1.3  # scale of the Catmull-Rom velocity at interior via-points
    move_ms: float = 1040.0  # median movement time of a 5-letter word (per-user tempo × per-swipe speed)
    length_exponent: float = 0.685  # movement time ∝ L^this for a word of L letters
    segment_exponent: float = 0.0  # a segment's share of the movement ∝ its length^this
    speed_sigma: float = 0.8  # log-normal spread of a per-swipe speed factor (around the user's tempo)
    start_speed: float = 1.85  # landing velocity, as a share of the first segment's mean velocity
    end_speed: float = 1.35  # lift-off velocity, as a share of the last segment's mean velocity
    double_letter_ms: float = 110.0  # extra time for a repeated letter (dwell / small loop)
    double_letter_offset: float = 0.25  # the loop's second via-point, in key widths from the first
    dwell_start_ms: float = 60.0  # median dwell before moving (log-normal)
    dwell_end_ms: float = 43.0  # median dwell after arriving at the last letter
    dwell_sigma: float = 0.6  # log-normal spread of both dwells
    sample_interval_ms: float = 16.7  # the device's frame interval (60 Hz)
    sample_jitter: float = 0.08  # relative jitter of each interval
    frame_drop_prob: float = 0.13  # chance an interval spans 2 or more frames
    swipes_per_user: int = 1  # consecutive swipes sharing one user's biases (1: every swipe its own)
    user_scale_sigma: float = 0.04  # per-user keyboard scale bias (how they hold the phone)
    user_offset_sigma: float = 0.08  # per-user offset bias, in key widths (0.25 had fitted mis-registered swipes)
    user_rotation_sigma: float = 0.026  # per-user rotation of the keyboard, in radians
    user_tempo_sigma: float = 0.55  # per-user log-normal tempo factor
    drift_keys: float = 0.075  # smooth drift off the path, in key widths (standard deviation)
    drift_ms: float = 122.0  # time between the drift's independent knots
    point_noise_px: float = 0.0  # motor noise added to every sample
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


def _smooth_noise(t: np.ndarray, step: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance-at-knots noise, C1-smooth in t: Gaussian knots every `step`, joined by
    smoothstep.  # (P, 2) for (P,) times t ≥ 0"""
    pos = t / step
    idx = np.floor(pos).astype(np.int64)
    knots = rng.standard_normal((int(idx.max(initial=0)) + 2, 2))
    f = (pos - idx)[:, None]
    w = f * f * (3 - 2 * f)
    return knots[idx] * (1 - w) + knots[idx + 1] * w


def synthesize(words: list[str], layout: Layout, cfg: SynthConfig, rng: np.random.Generator,
               first_id: int = 0, source: str = "synth", users: np.ndarray | None = None) -> SwipeBatch:
    """One synthetic swipe per word on `layout`; deterministic for the state of `rng`.

    `users` (N,) labels the person of each swipe (swipes with one label share that user's
    biases); None groups consecutive swipes by `cfg.swipes_per_user`."""
    n = len(words)
    if users is None:
        users = np.arange(n) // max(cfg.swipes_per_user, 1)
    user = np.unique(np.asarray(users), return_inverse=True)[1].reshape(-1)  # (N,) 0..U-1
    n_users = int(user.max(initial=-1)) + 1
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

    # the user's bias: the whole keyboard scaled, rotated and shifted
    centre = np.array([layout.width / 2, layout.height / 2])
    scale = (1 + cfg.user_scale_sigma * rng.standard_normal(n_users))[user]
    offset = (cfg.user_offset_sigma * key_w * rng.standard_normal((n_users, 2)))[user]
    theta = (cfg.user_rotation_sigma * rng.standard_normal(n_users))[user][owner]
    rel = via - centre
    cos, sin = np.cos(theta), np.sin(theta)
    rel = np.stack([cos * rel[:, 0] - sin * rel[:, 1], sin * rel[:, 0] + cos * rel[:, 1]], 1)
    via = centre + scale[owner, None] * rel + offset[owner]

    # knot times: dwell, then the movement time shared among segments by length^α  # (V,)
    seg_d = np.hypot(*(np.roll(via, -1, axis=0) - via).T)  # distance to the next via-point
    seg_d[is_last] = 0.0
    weight = np.where(is_last, 0.0, (seg_d / key_w + 0.05) ** cfg.segment_exponent)
    share = weight / np.maximum(np.bincount(owner, weights=weight, minlength=n), 1e-9)[owner]
    tempo = _log_normal(rng, 1.0, cfg.user_tempo_sigma, n_users)[user] * _log_normal(rng, 1.0, cfg.speed_sigma, n)
    move = cfg.move_ms * (n_via / 5.0) ** cfg.length_exponent * tempo  # (N,)
    seg_t = move[owner] * share + cfg.double_letter_ms * np.roll(repeat, -1)
    seg_t[is_last] = 0.0
    dwell0 = _log_normal(rng, cfg.dwell_start_ms, cfg.dwell_sigma, n)
    dwell1 = _log_normal(rng, cfg.dwell_end_ms, cfg.dwell_sigma, n)
    cum = np.cumsum(seg_t)
    knot_t = cum - seg_t - (cum - seg_t)[first][owner] + dwell0[owner]  # time at via-point
    total = knot_t[last] + dwell1  # (N,) swipe duration

    # velocities at the knots: Catmull-Rom inside; landing and lift-off along the first and
    # last segment  # (V, 2)
    dt_span = np.roll(knot_t, -1) - np.roll(knot_t, 1)
    chord = np.roll(via, -1, axis=0) - np.roll(via, 1, axis=0)
    vel = cfg.smoothness * chord / np.maximum(dt_span, 1e-3)[:, None]
    step_v = (np.roll(via, -1, axis=0) - via) / np.maximum(seg_t, 1e-3)[:, None]  # mean velocity of the segment
    back_v = np.roll(step_v, 1, axis=0)  # … of the segment arriving
    single = n_via[owner] == 1
    vel[is_first] = cfg.start_speed * step_v[is_first]
    vel[is_last] = cfg.end_speed * back_v[is_last]
    vel[single] = 0.0

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
    if cfg.drift_keys > 0:
        pos = pos + cfg.drift_keys * key_w * _smooth_noise(g_t, cfg.drift_ms, rng)
    pos = pos + cfg.point_noise_px * rng.standard_normal(pos.shape)
    if cfg.integer_pixels:
        pos = np.round(pos)

    offsets = np.concatenate([[0], np.cumsum(n_pts)]).astype(np.int64)
    return SwipeBatch(ids=np.arange(first_id, first_id + n, dtype=np.int64), words=list(words),
                      grid_names=[layout.name] * n, x=pos[:, 0], y=pos[:, 1], t=full_t,
                      offsets=offsets, source=source)

