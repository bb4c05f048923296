"""Which generator makes a synthetic dataset's swipes: parametric, transplanted, learned, or a mix.

| kind         | what it needs                           | module                     |
| ------------ | --------------------------------------- | -------------------------- |
| `parametric` | `SynthConfig` (fitted or hand-set)      | `swipe/data/synth.py`      |
| `transplant` | a donor bank (`bank`, npz)              | `swipe/data/transplant.py` |
| `learned`    | flow weights (`flow`, pt)               | `swipe/data/flow.py`       |

All three draw on any word list and any layout; none reads a real swipe at synthesis time.
The fitted artifacts are made by `swipe dev fit-generator` from the real train split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.data.synth import SynthConfig, synthesize
from swipe.data.transplant import TransplantConfig, load_bank, transplant
from swipe.keyboard import Layout

Kind = Literal["parametric", "transplant", "learned"]
KINDS: tuple[str, ...] = ("parametric", "transplant", "learned")


@dataclass(frozen=True)
class GeneratorConfig:
    """The generator of a synthetic dataset. `mix` (kind → share) draws each swipe's kind at
    random in those proportions; empty: every swipe from `kind`."""

    kind: Kind = "parametric"  # the generator (mix: several, in the shares of `mix`)
    mix: dict[str, float] = field(default_factory=dict)  # kind=mix: {generator: share}, e.g. {parametric: 0.5, transplant: 0.5}
    bank: str = "models/generators/transplant_en.npz"  # transplant: the donor bank
    flow: str = "models/generators/flow_en.pt"  # learned: the flow model's weights
    transplant: TransplantConfig = field(default_factory=TransplantConfig)
    flow_steps: int = 8  # learned: Euler steps of the sampler

    def shares(self) -> dict[str, float]:
        """kind → share of swipes (summing to 1); a clear error for an unknown kind."""
        mix = dict(self.mix) or {self.kind: 1.0}
        bad = sorted(set(mix) - set(KINDS))
        if bad or any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
            raise ValueError(f"generator mix {mix}: kinds must be among {KINDS} with shares ≥ 0, not all 0")
        total = sum(mix.values())
        return {k: v / total for k, v in mix.items() if v > 0}


def generate(words: list[str], layout: Layout, synth: SynthConfig, gen: GeneratorConfig, rng: np.random.Generator,
             first_id: int = 0, users: np.ndarray | None = None) -> SwipeBatch:
    """One swipe per word on `layout`, from the generator(s) `gen` names, in the words' order;
    deterministic for the state of `rng`. `synth` gives the parametric generator's parameters and,
    for every kind, the touch-event jitter and dropped frames."""
    shares = gen.shares()
    kinds = list(shares)
    pick = rng.choice(len(kinds), size=len(words), p=list(shares.values())) if len(kinds) > 1 \
        else np.zeros(len(words), np.int64)
    parts, order = [], []
    for k, kind in enumerate(kinds):
        rows = np.flatnonzero(pick == k)
        if not len(rows):
            continue
        part_words = [words[i] for i in rows]
        if kind == "parametric":
            part = synthesize(part_words, layout, synth, rng, users=None if users is None else users[rows])
        elif kind == "transplant":
            part = transplant(part_words, layout, load_bank(gen.bank), gen.transplant, rng, synth.sample_jitter,
                              synth.frame_drop_prob, source="transplant")
        else:
            from swipe.data.flow import generate_learned, load_flow  # torch, only where it is used

            part = generate_learned(part_words, layout, load_flow(gen.flow), gen.transplant, rng, gen.flow_steps,
                                    synth.sample_jitter, synth.frame_drop_prob)
        parts.append(part)
        order.append(rows)
    batch = SwipeBatch.concat(parts).take(np.argsort(np.concatenate(order), kind="stable"))
    batch.ids = np.arange(first_id, first_id + len(words), dtype=np.int64)
    return batch
