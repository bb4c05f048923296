"""Every decoder behind one call: swipes in, ranked (word, score) lists out.

Batch prediction's actors (swipe.evaluate.predict) and the online service's replicas
(swipe.serve) decode through this class, so a swipe gets the same words from both.

| decoder    | what ranks the words                                                      |
| ---------- | ------------------------------------------------------------------------- |
| `greedy`   | the model's most likely letter at each step, within the lexicon           |
| `beam`     | the model's lexicon-constrained beam search (swipe.decode.search)         |
| `template` | template matching, no model (swipe.decode.template)                       |
| `fused`    | both decoders' candidates re-scored together (swipe.decode.fused)         |
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.decode.fused import FusedConfig
from swipe.decode.search import GREEDY, BeamConfig, Candidates
from swipe.decode.template import LayoutKeys, TemplateConfig, TemplateIndex, template_words
from swipe.keyboard import Layout
from swipe.lexicon import Alphabet, Trie
from swipe.model.spec import InputSpec

if TYPE_CHECKING:
    from swipe.model.transformer import SwipeModel

DecoderKind = Literal["beam", "greedy", "template", "fused"]
DECODERS: tuple[str, ...] = get_args(DecoderKind)
NEEDS_MODEL = ("beam", "greedy", "fused")


@dataclass(frozen=True)
class Lexicon:
    """The words a decoder may return: the trie (beam, greedy, fused) and the matcher's index
    (template, fused) of the same words. Either may be None where no decoder needs it."""

    trie: Trie | None
    index: TemplateIndex | None = None

    @classmethod
    def build(cls, trie: Trie, template: bool = True) -> "Lexicon":
        return cls(trie, TemplateIndex.build(trie) if template else None)


class SwipeDecoder:
    """A model (None: template matching only) over a set of layouts, decoding batches of swipes.

    `layouts` are those the swipes may be on; a model reads them through its key table
    (`add_layouts` extends both). `spec` is what the model reads: its own, from its model.json
    (`load_spec`), or an explicit override. Swipes are decoded in length-sorted batches of
    `decode_batch` (similar lengths pad less)."""

    def __init__(self, model: "SwipeModel | None", alphabet: Alphabet, layouts: dict[str, Layout],
                 template: TemplateConfig, fused: FusedConfig, spec: InputSpec | None, decode_batch: int = 32):
        if model is not None and spec is None:
            raise ValueError("a model decodes only with its input spec (swipe.model.spec.load_spec)")
        self.model, self.alphabet, self.layouts = model, alphabet, dict(layouts)
        self.template, self.fused, self.spec, self.decode_batch = template, fused, spec, decode_batch
        self._keys: dict[str, LayoutKeys] = {}  # the matcher's per-layout key arrays, made once
        if model is not None:
            self._set_model_keys()

    def _set_model_keys(self) -> None:
        from swipe.model.keys import KeyTable

        self.model.set_keys(KeyTable.build(self.layouts, self.alphabet))
        self.grid_index = {g: i for i, g in enumerate(self.model.grid_names)}

    def add_layouts(self, layouts: dict[str, Layout]) -> None:
        """Decode swipes on these layouts too (a name already known is replaced)."""
        changed = {n: lay for n, lay in layouts.items() if self.layouts.get(n) is not lay}
        if not changed:
            return
        self.layouts.update(changed)
        for n in changed:
            self._keys.pop(n, None)
        if self.model is not None:
            self._set_model_keys()

    def drop_layouts(self, names: list[str]) -> None:
        """Forget these layouts (an online service's inline layouts, once it has too many)."""
        gone = [n for n in names if self.layouts.pop(n, None) is not None]
        for n in gone:
            self._keys.pop(n, None)
        if gone and self.model is not None:
            self._set_model_keys()

    def decode(self, batch: SwipeBatch, kind: DecoderKind, lexicon: Lexicon, beam: BeamConfig,
               top_k: int | None = None) -> Candidates:
        """Per swipe of `batch`, in its order: up to top_k (word, score), best first. `top_k`
        (None: each decoder's own config) overrides how many every decoder returns."""
        if kind not in DECODERS:
            raise ValueError(f"unknown decoder {kind!r}; choose from {DECODERS}")
        template, fused = self.template, self.fused
        if top_k is not None:
            beam, template, fused = (replace(c, top_k=top_k) for c in (beam, template, fused))
        if kind == "template":
            return template_words(batch, self.layouts, lexicon.index, template, self._keys)
        if self.model is None:
            raise ValueError(f"decoder {kind!r} needs a model; this decoder has none (template matching only)")
        from swipe.decode.fused import fused_channels, rank_fused
        from swipe.decode.search import beam_words

        out: Candidates = [[] for _ in range(len(batch))]
        order = np.argsort(batch.lengths, kind="stable")
        for s in range(0, len(order), self.decode_batch):
            rows = order[s:s + self.decode_batch]
            part = batch.take(rows)
            tensors = self.tensors(part)
            if kind == "fused":
                ch = fused_channels(self.model, tensors, part, self.alphabet, lexicon.trie, lexicon.index,
                                    self.layouts, beam, template, fused, self._keys)
                found = rank_fused(ch, len(part), fused)
            else:
                found = beam_words(self.model, tensors, self.alphabet, GREEDY if kind == "greedy" else beam,
                                   lexicon.trie)
            for r, cands in zip(rows, found):
                out[r] = cands
        return out

    def tensors(self, part: SwipeBatch) -> dict:
        """The collated model inputs of these swipes, on the model's device."""
        from swipe.model.inputs import collate

        tensors = collate(part, self.grid_index, self.alphabet, self.spec, self.model.cfg.max_word_len,
                          targets=False)
        return {k: v.to(self.model.head.weight.device) for k, v in tensors.items()}
