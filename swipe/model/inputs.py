"""The model's inputs: a SwipeBatch, read as the model's InputSpec says, padded into arrays;
and words encoded as decoder targets.

`model_inputs(batch, spec)` is the one way points reach a model: training (through the Ray
Data collate function), validation, decoding, prediction, calibration, serving and the
exported runtimes all call it (directly or through `collate`), and nothing else calls
`pad_points` (a test checks). Plain numpy and torch, no Ray; `model_inputs` is numpy only
(an exported model's inputs, swipe.export.runtime): torch is imported where tensors are made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.lexicon import BOS, EOS, PAD, Alphabet
from swipe.model.spec import InputSpec, repair_points, select_points

if TYPE_CHECKING:
    import torch


def collate(b: SwipeBatch, grid_index: dict[str, int], alphabet: Alphabet, spec: InputSpec,
            max_word_len: int, targets: bool = True) -> dict[str, torch.Tensor]:
    """Swipes → padded tensors, vectorised (no Python loop over swipes or points).

    Returns x, y, t (B, T) float32; mask (B, T) bool (True = a point); grid (B,) int64;
    ids (B,); with `targets`, tokens_in (B, L) = BOS + word and tokens_out (B, L) = word +
    EOS (PAD after). The points are the model's (`model_inputs`). `targets=False` for
    decoding: the words, if any, are references only (they may be long or hold characters
    the model lacks).
    """
    import torch

    out = {k: torch.from_numpy(v) for k, v in model_inputs(b, spec).items()}
    try:
        out["grid"] = torch.tensor([grid_index[g] for g in b.grid_names], dtype=torch.long)
    except KeyError as e:
        raise KeyError(f"grid {e.args[0]!r} is not one the model knows: {sorted(grid_index)}") from None
    out["ids"] = torch.from_numpy(b.ids.astype(np.int64))
    if targets and all(w is not None for w in b.words):
        out["tokens_in"], out["tokens_out"] = encode_targets(list(b.words), alphabet, max_word_len)
    return out


def model_inputs(b: SwipeBatch, spec: InputSpec) -> dict[str, np.ndarray]:
    """Swipes → what the model reads: repaired, their points chosen as `spec` says, padded.

    x, y, t (B, T) float32 and mask (B, T) bool (True = a point)."""
    x, y, t, offsets = repair_points(b.x, b.y, b.t, b.offsets, spec.repairs)
    return pad_points(*select_points(x, y, t, offsets, spec.points))


def pad_points(x: np.ndarray, y: np.ndarray, t: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """Flat ragged points (already chosen) → padded x, y, t (B, T) float32 and mask (B, T) bool.
    Call `model_inputs`, not this: it alone knows which points a model reads."""
    lens = np.diff(offsets)
    n = len(lens)
    t_max = int(lens.max()) if n else 1
    rows = np.repeat(np.arange(n), lens)
    col = np.arange(lens.sum()) - np.repeat(offsets[:-1], lens)
    out = {}
    for name, v in (("x", x), ("y", y), ("t", t)):
        arr = np.zeros((n, max(t_max, 1)), np.float32)
        arr[rows, col] = v
        out[name] = arr
    mask = np.zeros((n, max(t_max, 1)), bool)
    mask[rows, col] = True
    out["mask"] = mask
    return out


def encode_targets(words: list[str], alphabet: Alphabet, max_word_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Words → decoder input (BOS + chars) and target (chars + EOS), PAD-padded, as tensors.  # (B, L) each"""
    import torch

    tin, tout = target_arrays(words, alphabet, max_word_len)
    return torch.from_numpy(tin), torch.from_numpy(tout)


def target_arrays(words: list[str], alphabet: Alphabet, max_word_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Words → decoder input (BOS + chars) and target (chars + EOS), PAD-padded, int64 numpy.  # (B, L) each"""
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
    return tin, tout
