"""What a decoder needs of a network, on either backend: encode once, search, score words, attend.

`SwipeDecoder` (swipe.decode.decoders) runs greedy, beam and fused decoding through this
protocol only, so the same code runs on the torch model (`swipe.decode.torch_network`) and
on an exported model in onnxruntime (`swipe.export.runtime.OnnxModel`, torch never
imported). A batch of swipes is encoded once (`encode`); the beam search, the fused
decoder's teacher-forced scoring and the attention maps all read that one encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.decode.search import BeamConfig, Candidates
from swipe.keyboard import Layout
from swipe.lexicon import Alphabet, Trie
from swipe.model.spec import InputSpec


def frame_lengths(points: np.ndarray, subsample: int) -> np.ndarray:
    """The frames a key head reads for swipes of these many points (⌈points / subsample⌉; numpy
    arrays or torch tensors)."""
    return (points + subsample - 1) // subsample


@dataclass
class Encoded:
    """A batch of swipes as one network encoded it."""

    part: SwipeBatch
    points: dict[str, np.ndarray]  # what the network read (`model_inputs`): x, y, t, mask (B, T)
    state: Any  # the backend's: the memory and the decoder's start cache
    key_logp: np.ndarray | None = None  # a key head's log-probabilities per frame (B, T', K + 1), blank first
    subsample: int = 1  # points per frame of key_logp (ModelConfig.subsample)

    @property
    def key_lengths(self) -> np.ndarray:
        """Each swipe's frames of key_logp: ⌈points read / subsample⌉.  # (B,)"""
        return frame_lengths(self.points["mask"].sum(1), self.subsample)


class Network(Protocol):
    """A trained encoder-decoder on some backend (`backend`: "torch" or "onnxruntime")."""

    backend: str
    alphabet: Alphabet
    spec: InputSpec
    max_word_len: int
    head: str  # ModelConfig.head: "ar" (a decoder), "ctc" (a key head) or "hybrid" (both)

    @property
    def grid_names(self) -> list[str]:
        """The layouts swipes may be on now (`set_layouts`)."""

    def set_layouts(self, layouts: dict[str, Layout]) -> None:
        """The layouts the swipes may be on, by name (`part.grid_names`); others are forgotten."""

    def encode(self, part: SwipeBatch) -> Encoded:
        """Read the swipes (as `spec` says) and encode them once."""

    def beams(self, enc: Encoded, trie: Trie | None, cfg: BeamConfig) -> Candidates:
        """Beam search (swipe.decode.search, shared by both backends) over the cached step (a
        network with a decoder: head ar or hybrid)."""

    def word_logprobs(self, enc: Encoded, swipe: np.ndarray, words: list[str]) -> np.ndarray:
        """Teacher-forced Σ log p(word | swipe) of each (swipe[m], words[m]), EOS included,
        in one batched pass.  # (M,)"""

    def attention(self, enc: Encoded, row: int, words: list[str]) -> list[np.ndarray]:
        """Per word: its letters' cross-attention (letters, points) over swipe `row`'s points,
        averaged over heads and decoder layers (rows sum to 1)."""
