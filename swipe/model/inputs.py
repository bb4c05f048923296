"""The model's inputs: a SwipeBatch padded into tensors, and words encoded as decoder targets.

Used by training (through the Ray Data collate function), decoding, prediction and
evaluation alike; plain numpy and torch, no Ray. `pad_points` is numpy only (an exported
model's inputs, swipe.export.runtime): torch is imported where tensors are made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.lexicon import BOS, EOS, PAD, Alphabet

if TYPE_CHECKING:
    import torch


def collate(b: SwipeBatch, grid_index: dict[str, int], alphabet: Alphabet, max_points: int,
            max_word_len: int, targets: bool = True) -> dict[str, torch.Tensor]:
    """Swipes → padded tensors, vectorised (no Python loop over swipes or points).

    Returns x, y, t (B, T) float32; mask (B, T) bool (True = a point); grid (B,) int64;
    ids (B,); with `targets`, tokens_in (B, L) = BOS + word and tokens_out (B, L) = word +
    EOS (PAD after). Swipes longer than `max_points` are subsampled uniformly (first and
    last point kept). `targets=False` for decoding: the words, if any, are references only
    (they may be long or hold characters the model lacks).
    """
    import torch

    out = {k: torch.from_numpy(v) for k, v in pad_points(b, max_points).items()}
    try:
        out["grid"] = torch.tensor([grid_index[g] for g in b.grid_names], dtype=torch.long)
    except KeyError as e:
        raise KeyError(f"grid {e.args[0]!r} is not one the model knows: {sorted(grid_index)}") from None
    out["ids"] = torch.from_numpy(b.ids.astype(np.int64))
    if targets and all(w is not None for w in b.words):
        out["tokens_in"], out["tokens_out"] = encode_targets(list(b.words), alphabet, max_word_len)
    return out


def pad_points(b: SwipeBatch, max_points: int) -> dict[str, np.ndarray]:
    """Swipes → padded x, y, t (B, T) float32 and mask (B, T) bool, as `collate` makes them."""
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
        out[name] = arr
    mask = np.zeros((n, t_max), bool)
    mask[rows, col] = True
    out["mask"] = mask
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
    import torch

    return torch.from_numpy(tin), torch.from_numpy(tout)
