"""The letter keys of several layouts as arrays: what the point features read a swipe against.

numpy only, so that an exported model (swipe.export.runtime) builds its inputs without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from swipe.keyboard import Layout
from swipe.lexicon import PAD, Alphabet


def unknown_token(alphabet: Alphabet) -> int:
    """The token of a key whose letter the model's alphabet lacks: one past the alphabet. Only
    a model that scores keys by their geometry (`ModelConfig.head` ctc or hybrid) has a row for it."""
    return alphabet.size


@dataclass(frozen=True)
class KeyTable:
    """Letter keys of several layouts, padded to the largest, as arrays.  # G grids, K keys"""

    grid_names: tuple[str, ...]
    centres: np.ndarray  # (G, K, 2) float32 pixels
    tokens: np.ndarray  # (G, K) int64 alphabet token of each key, PAD for padding slots, unknown_token() for
    # a letter outside the alphabet (tables built with unknown_ok only)
    bbox: np.ndarray  # (G, 4) x0, y0, x1, y1 of the letter keys
    half_diag: np.ndarray  # (G,) mean letter-key half-diagonal
    sizes: np.ndarray = field(default=None)  # (G, K, 2) float32 width and height of each key (pixels; 1 in padding)
    unknown: dict[str, str] = field(default_factory=dict)  # grid → its letters outside the alphabet

    @classmethod
    def build(cls, layouts: dict[str, Layout], alphabet: Alphabet, unknown_ok: bool = False) -> "KeyTable":
        """`unknown_ok`: a letter key outside `alphabet` gets `unknown_token` (a key-scoring model
        reads it by its position alone) instead of a ValueError."""
        names = tuple(layouts)
        k = max(len(lay.letters) for lay in layouts.values())
        centres = np.zeros((len(names), k, 2), np.float32)
        sizes = np.ones((len(names), k, 2), np.float32)
        tokens = np.full((len(names), k), PAD, np.int64)
        unknown = {}
        for g, name in enumerate(names):
            lay = layouts[name]
            missing = sorted(set(lay.letters) - set(alphabet.chars))
            if missing and not unknown_ok:
                raise ValueError(f"layout {name!r} has letter keys {missing} that the model's alphabet "
                                 f"{alphabet.chars!r} lacks: it cannot read swipes over them")
            if missing:
                unknown[name] = "".join(missing)
            centres[g, :len(lay.letters)] = lay.letter_centres
            sizes[g, :len(lay.letters)] = lay.letter_sizes
            tokens[g, :len(lay.letters)] = [alphabet.encode(c)[0] if c in alphabet.chars else unknown_token(alphabet)
                                            for c in lay.letters]
        bbox = np.array([layouts[n].letter_bbox for n in names], np.float32)
        half = np.array([layouts[n].mean_half_diagonal for n in names], np.float32)
        return cls(names, centres, tokens, bbox, half, sizes, unknown)

    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.grid_names)}
