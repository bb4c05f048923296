"""Ideal swipes: straight strokes through a word's key centres, for tests and demos."""

from __future__ import annotations

import numpy as np

from swipe.keyboard import Layout


def ideal_swipe(layout: Layout, word: str, per_segment: int = 8, dt_ms: float = 10.0, scale: float = 1.0) -> dict:
    """{x, y, t} of a stroke through each letter's key centre (`per_segment` points between
    letters, `dt_ms` apart), coordinates times `scale`. A letter without a key (the apostrophe
    of "don't" on most keyboards) is swiped past, as people and the synthesizer do."""
    centre = dict(zip(layout.letters, layout.letter_centres))
    keys = np.array([centre[c] for c in word if c in centre], np.float64) * scale
    parts = [a + f * (b - a) for a, b in zip(keys[:-1], keys[1:]) for f in np.linspace(0, 1, per_segment, endpoint=False)]
    pts = np.array(parts + [keys[-1]])
    return {"x": pts[:, 0].tolist(), "y": pts[:, 1].tolist(), "t": (np.arange(len(pts)) * dt_ms).tolist()}
