"""Every decoder behind one call: swipes in, ranked (word, score) lists out.

Batch prediction's actors (swipe.evaluate.predict) and the online service's replicas
(swipe.serve) decode through this class, so a swipe gets the same words from both.

| decoder    | what ranks the words                                                      |
| ---------- | ------------------------------------------------------------------------- |
| `greedy`   | the model's most likely letter at each step, within the lexicon           |
| `beam`     | the model's lexicon-constrained beam search (swipe.decode.search)         |
| `template` | template matching, no model (swipe.decode.template)                       |
| `fused`    | both decoders' candidates re-scored together (swipe.decode.fused); the    |
|            | first pass is the CTC trie beam where the model has a key head            |
| `ctc`      | the key head's CTC prefix beam over the lexicon trie (swipe.decode.ctc)   |
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.decode.ctc import CtcConfig, ctc_beam, token_keys
from swipe.decode.fused import FusedChannels, FusedConfig, fused_channels, rank_fused
from swipe.decode.network import Encoded, Network
from swipe.decode.search import GREEDY, BeamConfig, Candidates
from swipe.decode.template import LayoutCache, TemplateConfig, TemplateIndex, template_words
from swipe.keyboard import Layout
from swipe.lexicon import Alphabet, Trie
from swipe.model.spec import InputSpec

if TYPE_CHECKING:
    from swipe.model.transformer import SwipeModel

DecoderKind = Literal["beam", "greedy", "template", "fused", "ctc"]
DECODERS: tuple[str, ...] = get_args(DecoderKind)
NEEDS_MODEL = ("beam", "greedy", "fused", "ctc")


@dataclass(frozen=True)
class Lexicon:
    """The words a decoder may return: the trie (beam, greedy, fused) and the matcher's index
    (template, fused) of the same words. Either may be None where no decoder needs it."""

    trie: Trie | None
    index: TemplateIndex | None = None

    @classmethod
    def build(cls, trie: Trie, template: bool = True) -> "Lexicon":
        return cls(trie, TemplateIndex.build(trie) if template else None)


def as_network(model: Any, alphabet: Alphabet, spec: InputSpec, layouts: dict[str, Layout]) -> Network:
    """A network on its backend: an exported model (swipe.export.runtime.OnnxModel) is one
    already; a torch SwipeModel is wrapped (torch is imported only then)."""
    if hasattr(model, "word_logprobs"):
        model.set_layouts(layouts)
        return model
    from swipe.decode.torch_network import TorchNetwork

    return TorchNetwork(model, alphabet, spec, layouts)


class SwipeDecoder:
    """A model (None: template matching only) over a set of layouts, decoding batches of swipes.

    `model` is a torch SwipeModel or an exported one in onnxruntime (OnnxModel): either runs
    every decoder through the same code (swipe.decode.network). `layouts` are those the swipes
    may be on (`add_layouts` extends them). `spec` is what the model reads: its own, from its
    model.json (`load_spec`), or an explicit override. Swipes are decoded in length-sorted
    batches of `decode_batch` (similar lengths pad less); each batch is encoded once."""

    def __init__(self, model: "SwipeModel | Any | None", alphabet: Alphabet, layouts: dict[str, Layout],
                 template: TemplateConfig, fused: FusedConfig, spec: InputSpec | None, decode_batch: int = 32,
                 ctc: CtcConfig | None = None):
        if model is not None and spec is None:
            raise ValueError("a model decodes only with its input spec (swipe.model.spec.load_spec)")
        self.model, self.alphabet, self.layouts = model, alphabet, dict(layouts)
        self.template, self.fused, self.spec, self.decode_batch = template, fused, spec, decode_batch
        self.ctc = ctc or CtcConfig()
        self._token_keys: dict[tuple[str, str], np.ndarray] = {}  # (layout, lexicon alphabet) → token_keys
        self._keys = LayoutCache()  # the matcher's per-layout key arrays and kept templates
        self.dropped: Counter[str] = Counter()  # candidates kept from the caller, by reason (`finite`)
        self.net: Network | None = None if model is None else as_network(model, alphabet, spec, self.layouts)

    @property
    def backend(self) -> str | None:
        return None if self.net is None else self.net.backend

    def add_layouts(self, layouts: dict[str, Layout]) -> None:
        """Decode swipes on these layouts too (a name already known is replaced)."""
        changed = {n: lay for n, lay in layouts.items() if self.layouts.get(n) is not lay}
        if not changed:
            return
        self.layouts.update(changed)
        for n in changed:
            self._keys.pop(n, None)
        self._token_keys = {k: v for k, v in self._token_keys.items() if k[0] not in changed}
        if self.net is not None:
            self.net.set_layouts(self.layouts)

    def drop_layouts(self, names: list[str]) -> None:
        """Forget these layouts (an online service's inline layouts, once it has too many)."""
        gone = [n for n in names if self.layouts.pop(n, None) is not None]
        for n in gone:
            self._keys.pop(n, None)
        self._token_keys = {k: v for k, v in self._token_keys.items() if k[0] not in gone}
        if gone and self.net is not None:
            self.net.set_layouts(self.layouts)

    def top_k(self, kind: DecoderKind, beam: BeamConfig) -> int:
        """How many candidates decoder `kind` returns by its own config."""
        own = {"template": self.template.top_k, "fused": self.fused.top_k, "greedy": GREEDY.top_k,
               "ctc": self.ctc.top_k}
        return own.get(kind, beam.top_k)

    def _configs(self, beam: BeamConfig, top_k: int | None
                 ) -> tuple[BeamConfig, TemplateConfig, FusedConfig, CtcConfig]:
        if top_k is None:
            return beam, self.template, self.fused, self.ctc
        return (replace(beam, top_k=top_k), replace(self.template, top_k=top_k), replace(self.fused, top_k=top_k),
                replace(self.ctc, top_k=top_k))

    def decode(self, batch: SwipeBatch, kind: DecoderKind, lexicon: Lexicon, beam: BeamConfig,
               top_k: int | None = None) -> Candidates:
        """Per swipe of `batch`, in its order: up to top_k (word, score), best first. `top_k`
        (None: each decoder's own config) overrides how many every decoder returns."""
        if kind not in DECODERS:
            raise ValueError(f"unknown decoder {kind!r}; choose from {DECODERS}")
        if kind == "template":
            return self.finite(template_words(batch, self.layouts, lexicon.index, self._configs(beam, top_k)[1],
                                              self._keys))
        if self.net is None:
            raise ValueError(f"decoder {kind!r} needs a model; this decoder has none (template matching only)")
        out: Candidates = [[] for _ in range(len(batch))]
        order = np.argsort(batch.lengths, kind="stable")
        for s in range(0, len(order), self.decode_batch):
            rows = order[s:s + self.decode_batch]
            for r, cands in zip(rows, self.decode_encoded(self.encode(batch.take(rows)), kind, lexicon, beam, top_k)):
                out[r] = cands
        return out

    def encode(self, part: SwipeBatch) -> Encoded:
        """These swipes read and encoded once: `decode_encoded` over any lexicon, `attention`."""
        if self.net is None:
            raise ValueError("this decoder has no model (template matching only)")
        return self.net.encode(part)

    def decode_encoded(self, enc: Encoded, kind: DecoderKind, lexicon: Lexicon, beam: BeamConfig,
                       top_k: int | None = None) -> Candidates:
        """`decode` of an encoded batch (its order kept), without encoding it again."""
        if kind not in DECODERS:
            raise ValueError(f"unknown decoder {kind!r}; choose from {DECODERS}")
        beam, template, fused, ctc = self._configs(beam, top_k)
        if kind == "template":
            return self.finite(template_words(enc.part, self.layouts, lexicon.index, template, self._keys))
        if self.net is None:
            raise ValueError(f"decoder {kind!r} needs a model; this decoder has none (template matching only)")
        if kind == "fused":
            return self.finite(rank_fused(self.channels(enc, lexicon, beam), len(enc.part), fused))
        if kind == "ctc" or self.net.head == "ctc":  # a network without a decoder has only its CTC readings
            return self.finite(self.ctc_words(enc, lexicon.trie, ctc))
        return self.finite(self.net.beams(enc, lexicon.trie, GREEDY if kind == "greedy" else beam))

    def token_keys(self, grid_names: list[str], alphabet: Alphabet) -> np.ndarray:
        """Per swipe, each token of `alphabet` (the lexicon's) as a key of its layout (swipe.decode.ctc).  # (B, V)"""
        rows = []
        for g in grid_names:
            made = self._token_keys.get((g, alphabet.chars))
            if made is None:
                made = self._token_keys[(g, alphabet.chars)] = token_keys(self.layouts[g].letters, alphabet)
            rows.append(made)
        return np.stack(rows) if rows else np.zeros((0, alphabet.size), np.int64)

    def ctc_words(self, enc: Encoded, trie: Trie | None, cfg: CtcConfig) -> Candidates:
        """The key head's CTC trie beam over an encoded batch."""
        if enc.key_logp is None:
            raise ValueError("decoder 'ctc' needs a model with a key head (model.head ctc or hybrid); "
                             f"this one's head is {self.net.head!r}: use beam or fused")
        if trie is None:
            raise ValueError("decoder 'ctc' decodes within a lexicon: it needs the trie")
        return ctc_beam(enc.key_logp, enc.key_lengths, self.token_keys(list(enc.part.grid_names), trie.alphabet), trie, cfg)

    def finite(self, found: Candidates) -> Candidates:
        """The decoder's boundary: every score that leaves it is finite. A NaN or infinite one
        (a bug upstream: it would sort anywhere, and a JSON reply refuses it) is taken out and
        counted in `dropped`."""
        out: Candidates = []
        for cands in found:
            kept = [(w, s) for w, s in cands if np.isfinite(s)]
            if len(kept) < len(cands):
                self.dropped["non-finite score"] += len(cands) - len(kept)
            out.append(kept)
        return out

    def channels(self, enc: Encoded, lexicon: Lexicon, beam: BeamConfig) -> FusedChannels:
        """The fused decoder's candidates of an encoded batch, measured in every channel."""
        first = None
        if enc.key_logp is not None:  # the CTC trie beam is the first pass where the network has a key head
            first = self.ctc_words(enc, lexicon.trie, replace(self.ctc, top_k=self.fused.beam_candidates))
        ch = fused_channels(self.net, enc, lexicon.trie, lexicon.index, self.layouts, beam, self.template,
                            self.fused, self._keys, first)
        if ch.undrawable:
            self.dropped["no key for any letter"] += ch.undrawable
        return ch

    def attention(self, enc: Encoded, row: int, words: list[str]) -> list[np.ndarray]:
        """Per word: (letters, points) cross-attention over swipe `row`'s points, from its encoding."""
        return self.net.attention(enc, row, words)

    def tensors(self, part: SwipeBatch) -> dict:
        """The collated model inputs of these swipes, on the model's device (the torch backend)."""
        return self.net.tensors(part)
