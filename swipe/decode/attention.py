"""Where each letter looked: the decoder's cross-attention over a swipe's points, per letter.

For a word w and a swipe, the decoder is run teacher-forced on BOS + w; the query that
emits letter i (position i) attends over the encoder's points. Its weights, averaged over
heads and decoder layers, are letter i's attention map: a distribution over the points
(rows sum to 1). Drawn by swipe.plot.attention_figure and the browser demo.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from swipe.lexicon import Alphabet
from swipe.model.inputs import encode_targets
from swipe.model.transformer import SwipeModel


@torch.inference_mode()
def attention_maps(model: SwipeModel, tensors: dict[str, Tensor], swipe: int, words: list[str],
                   alphabet: Alphabet) -> list[np.ndarray]:
    """Per word: (letters, points) weights of swipe `swipe` of a collated batch over its valid points."""
    if not words:
        return []
    n = int(tensors["mask"][swipe].sum())
    one = {k: tensors[k][swipe:swipe + 1, :n] for k in ("x", "y", "t", "mask")}
    memory = model.encode(one["x"], one["y"], one["t"], one["mask"], tensors["grid"][swipe:swipe + 1])
    return memory_attention(model, memory, one["mask"], words, alphabet)


@torch.inference_mode()
def memory_attention(model: SwipeModel, memory: Tensor, mask: Tensor, words: list[str], alphabet: Alphabet
                     ) -> list[np.ndarray]:
    """Per word: (letters, points) weights over one swipe's encoder memory (1, T, D) and mask (1, T),
    its valid points only (T = their count)."""
    if not words:
        return []
    tin, _ = encode_targets(words, alphabet, model.cfg.max_word_len)
    layers: list[Tensor] = []
    model.decode(tin.to(memory.device), memory.expand(len(words), -1, -1), mask.expand(len(words), -1),
                 attention=layers)
    mean = torch.stack(layers).mean((0, 2)).float().cpu().numpy()  # (W, L, T): over layers and heads
    return [mean[i, :len(w)] for i, w in enumerate(words)]
