"""The letter keys of several layouts as arrays: what the point features read a swipe against.

numpy only, so that an exported model (swipe.export.runtime) builds its inputs without torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swipe.keyboard import Layout
from swipe.lexicon import PAD, Alphabet


@dataclass(frozen=True)
class KeyTable:
    """Letter keys of several layouts, padded to the largest, as arrays.  # G grids, K keys"""

    grid_names: tuple[str, ...]
    centres: np.ndarray  # (G, K, 2) float32 pixels
    tokens: np.ndarray  # (G, K) int64 alphabet token of each key, PAD for padding slots
    bbox: np.ndarray  # (G, 4) x0, y0, x1, y1 of the letter keys
    half_diag: np.ndarray  # (G,) mean letter-key half-diagonal

    @classmethod
    def build(cls, layouts: dict[str, Layout], alphabet: Alphabet) -> "KeyTable":
        names = tuple(layouts)
        k = max(len(lay.letters) for lay in layouts.values())
        centres = np.zeros((len(names), k, 2), np.float32)
        tokens = np.full((len(names), k), PAD, np.int64)
        for g, name in enumerate(names):
            lay = layouts[name]
            unknown = sorted(set(lay.letters) - set(alphabet.chars))
            if unknown:
                raise ValueError(f"layout {name!r} has letter keys {unknown} that the model's alphabet "
                                 f"{alphabet.chars!r} lacks: it cannot read swipes over them")
            centres[g, :len(lay.letters)] = lay.letter_centres
            tokens[g, :len(lay.letters)] = alphabet.encode(lay.letters)
        bbox = np.array([layouts[n].letter_bbox for n in names], np.float32)
        half = np.array([layouts[n].mean_half_diagonal for n in names], np.float32)
        return cls(names, centres, tokens, bbox, half)

    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.grid_names)}
