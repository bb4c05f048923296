"""Fake decoder states for testing searches without a model (`swipe.decode.search.DecoderState`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class StepCount:
    """A state that only counts the steps taken; its rows carry nothing, so moving them is a no-op."""

    steps: int = 0

    def next(self) -> "StepCount":
        return StepCount(self.steps + 1)

    def expand_beams(self, k: int) -> "StepCount":
        return self

    def reorder_beams(self, rows: Tensor) -> "StepCount":
        return self

    def keep_swipes(self, swipes: Tensor) -> "StepCount":
        return self


@dataclass(frozen=True)
class RowTags:
    """A state with one tag per row (R,), moved exactly as the protocol says, plus a step count:
    a step function can read which swipe each row belongs to."""

    tags: Tensor  # (R,)
    beams: int = 1
    steps: int = 0

    def next(self) -> "RowTags":
        return RowTags(self.tags, self.beams, self.steps + 1)

    def expand_beams(self, k: int) -> "RowTags":
        return RowTags(self.tags.repeat_interleave(k), self.beams * k, self.steps)

    def reorder_beams(self, rows: Tensor) -> "RowTags":
        return RowTags(self.tags[rows], self.beams, self.steps)

    def keep_swipes(self, swipes: Tensor) -> "RowTags":
        rows = (swipes[:, None] * self.beams + torch.arange(self.beams)).flatten()
        return RowTags(self.tags[rows], self.beams, self.steps)
