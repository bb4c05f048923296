"""The training data stream: Parquet shards → Ray Data → noise augmentation → padded tensors.

```
read_parquet(train shards) ─► per epoch: randomize_block_order(seed+e)
   ─► map_batches(Augment(epoch=e), pyarrow) ─► union of the epochs ─► streaming split
   ─► iter_torch_batches(collate_fn=PadCollate)         (validation: read once, materialised)
```

Augmentation noise is a pure function of (seed, epoch, row id, point index) — counter-based
hashing, not a generator — so a row gets the same noise whichever block or batch it lands
in, and a seeded run is reproducible. All work is vectorised over the batch's flat points.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import torch
from ray.data.collate_fn import ArrowBatchCollateFn

from swipe.hashrand import normal, uniform
from swipe.lexicon import BOS, EOS, PAD, Alphabet
from swipe.swipes import SwipeBatch


# ----------------------------------------------------------------------------- augmentation
@dataclass(frozen=True)
class AugmentConfig:
    """Training-only noise; each transform applies to a swipe with its probability."""

    enabled: bool = True
    jitter_prob: float = 1.0
    jitter_sigma: float = 0.04  # per-point Gaussian jitter, in key widths
    affine_prob: float = 0.8
    shift_sigma: float = 0.25  # global shift, in key widths
    scale_sigma: float = 0.05  # global scale, relative
    rotate_sigma_deg: float = 2.0  # global rotation about the swipe's centroid
    time_warp_prob: float = 0.5
    time_scale_sigma: float = 0.2  # log-normal factor on all times
    interval_jitter: float = 0.1  # relative jitter of each interval
    dropout_prob: float = 0.3
    point_drop: float = 0.1  # share of interior points dropped
    resample_prob: float = 0.2
    resample_min: float = 0.6  # the swipe is resampled uniformly at n · factor points,
    resample_max: float = 1.6  # factor ~ U(min, max), by linear interpolation
    seed: int = 0


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
    out = SwipeBatch(ids=batch.ids, words=batch.words, grid_names=batch.grid_names, x=x, y=y, t=t,
                     offsets=batch.offsets, source=batch.source)
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
    return SwipeBatch(ids=b.ids, words=b.words, grid_names=b.grid_names, x=b.x[keep], y=b.y[keep],
                      t=b.t[keep], offsets=np.concatenate([[0], np.cumsum(lens)]), source=b.source)


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
    return SwipeBatch(ids=b.ids, words=b.words, grid_names=b.grid_names, x=x, y=y, t=t_new,
                      offsets=np.concatenate([[0], np.cumsum(n_new)]), source=b.source)


class Augment:
    """map_batches callable (pyarrow in, pyarrow out) for one epoch of training data."""

    def __init__(self, key_width: dict[str, float], cfg: AugmentConfig, epoch: int):
        self.key_width, self.cfg, self.epoch = key_width, cfg, epoch

    def __call__(self, table: pa.Table) -> pa.Table:
        return augment(SwipeBatch.from_arrow(table), self.key_width, self.cfg, self.epoch).to_arrow()


# ----------------------------------------------------------------------------- collate
class PadCollate(ArrowBatchCollateFn):
    """Arrow batch → padded tensors, vectorised (no Python loop over swipes or points).

    Returns x, y, t (B, T) float32; mask (B, T) bool (True = a point); grid (B,) int64;
    tokens_in (B, L) = BOS + word; tokens_out (B, L) = word + EOS (PAD after); ids (B,).
    Swipes longer than `max_points` are subsampled uniformly (first and last point kept).
    """

    def __init__(self, grid_index: dict[str, int], alphabet: Alphabet, max_points: int, max_word_len: int):
        self.grid_index, self.alphabet = grid_index, alphabet
        self.max_points, self.max_word_len = max_points, max_word_len

    def __call__(self, table: pa.Table) -> dict[str, torch.Tensor]:
        return collate(SwipeBatch.from_arrow(table), self.grid_index, self.alphabet, self.max_points,
                       self.max_word_len)


def collate(b: SwipeBatch, grid_index: dict[str, int], alphabet: Alphabet, max_points: int,
            max_word_len: int, targets: bool = True) -> dict[str, torch.Tensor]:
    """The work of PadCollate, callable without Ray. `targets=False` for decoding: the words,
    if any, are references only (they may be long or hold characters the model lacks)."""
    n = len(b)
    lens = b.lengths
    keep_n = np.minimum(lens, max_points)
    t_max = int(keep_n.max()) if n else 1
    rows = np.repeat(np.arange(n), keep_n)
    col = np.arange(keep_n.sum()) - np.repeat(np.cumsum(keep_n) - keep_n, keep_n)
    # source index: identity for short swipes, uniform subsample for long ones
    src = b.offsets[:-1][rows] + np.round(col * (lens[rows] - 1) / np.maximum(keep_n[rows] - 1, 1)).astype(np.int64)
    out = {}
    for name in ("x", "y", "t"):
        arr = np.zeros((n, t_max), np.float32)
        arr[rows, col] = getattr(b, name)[src]
        out[name] = torch.from_numpy(arr)
    mask = np.zeros((n, t_max), bool)
    mask[rows, col] = True
    out["mask"] = torch.from_numpy(mask)
    try:
        out["grid"] = torch.tensor([grid_index[g] for g in b.grid_names], dtype=torch.long)
    except KeyError as e:
        raise KeyError(f"grid {e.args[0]!r} is not one the model knows: {sorted(grid_index)}") from None
    out["ids"] = torch.from_numpy(b.ids.astype(np.int64))
    if targets and all(w is not None for w in b.words):
        out["tokens_in"], out["tokens_out"] = encode_targets(list(b.words), alphabet, max_word_len)
    return out


def encode_targets(words: list[str], alphabet: Alphabet, max_word_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Words → decoder input (BOS + chars) and target (chars + EOS), PAD-padded.  # (B, L) each"""
    flat, lens = alphabet.encode_many(words)
    if (flat < 0).any():
        bad = next(w for w in words if not set(w) <= set(alphabet.chars))
        raise ValueError(f"word {bad!r} has characters outside the model's alphabet")
    if len(lens) and lens.max() > max_word_len:
        raise ValueError(f"a word has {lens.max()} characters; the model allows {max_word_len}")
    n, width = len(words), int(lens.max()) + 1 if len(lens) else 1
    rows = np.repeat(np.arange(n), lens)
    col = np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens)
    tin = np.full((n, width), PAD, np.int64)
    tout = np.full((n, width), PAD, np.int64)
    tin[:, 0] = BOS
    tin[rows, col + 1] = flat
    tout[rows, col] = flat
    tout[np.arange(n), lens] = EOS
    return torch.from_numpy(tin), torch.from_numpy(tout)


# ----------------------------------------------------------------------------- Ray datasets
@dataclass(frozen=True)
class DataConfig:
    """Which dataset, how it is batched, and its training noise."""

    dataset: str = "data/datasets/synth_en"
    train_split: str = "train"
    val_split: str = "val"
    batch_size: int = 64  # per worker
    max_points: int = 128  # longer swipes are subsampled uniformly (real median: ~51 points)
    val_rows: int = 2000  # validation rows (loss, token accuracy); 0 = all
    shuffle_buffer: int = 2048  # local shuffle buffer of the training iterator (rows)
    read_blocks: int = 16  # parallel read blocks (few large blocks delay the first batch)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def train_dataset(files: list[str], key_width: dict[str, float], cfg: DataConfig, epochs: int):
    """`epochs` passes over the training shards, each with its own block order and noise."""
    import ray.data

    base = ray.data.read_parquet(files, override_num_blocks=cfg.read_blocks)
    passes = [base.randomize_block_order(seed=cfg.augment.seed + e)
              .map_batches(Augment(key_width, cfg.augment, e), batch_format="pyarrow", batch_size=1024)
              for e in range(epochs)]
    return passes[0].union(*passes[1:]) if len(passes) > 1 else passes[0]


def val_dataset(files: list[str], cfg: DataConfig):
    """Validation rows: the first `val_rows` of the split (0: all), so every run and every
    trial of a sweep validates on the same rows; read once, kept in the object store."""
    import ray.data

    from swipe.dataset import head_table

    return ray.data.from_arrow(head_table(files, cfg.val_rows))
