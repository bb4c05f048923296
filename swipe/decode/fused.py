"""Fused decoding: the neural beam's candidates and the template matcher's, scored together.

For every swipe the candidate set is the union of the neural beam's best `beam_candidates`
words and the template matcher's best `template_candidates`. Every candidate, wherever it
came from, is then measured in each channel:

- `logp`: the model's teacher-forced log-probability of the word (EOS included), so a word
  the beam never reached is scored by the model too;
- `length`: its letters; `logfreq`: its log unigram frequency in the lexicon;
- `shape`, `location`: the template matcher's two distances (swipe.decode.template.measure).

score = w · logp / (length + 1)^α + β · length + λ · logfreq
        − ½ (shape / σ_shape)² − ½ (location / σ_location)²

The weights are tuned on half of the dev users (swipe.evaluate.calibrate.calibrate_fused),
which re-ranks channels measured once; the result is configs/decode_en.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from swipe.data.swipes import SwipeBatch
from swipe.decode.search import BeamConfig, beam_search, model_search
from swipe.decode.template import LayoutKeys, TemplateConfig, TemplateIndex, measure, template_words
from swipe.keyboard import Layout
from swipe.lexicon import PAD, Alphabet, Trie
from swipe.model.inputs import encode_targets


@dataclass(frozen=True)
class FusedConfig:
    """How many candidates each decoder brings, and the weights of the fused score."""

    beam_candidates: int = 8  # the neural beam's best words merged (its beam: the prediction's `beam.beam_size`)
    template_candidates: int = 8  # the template matcher's best words merged
    neural_weight: float = 1.0  # w
    length_alpha: float = 0.5  # α: length normalisation of logp
    length_weight: float = 0.0  # β, per letter
    freq_weight: float = 0.5  # λ
    sigma_shape: float = 0.1
    sigma_location: float = 0.6
    top_k: int = 4


@dataclass
class FusedChannels:
    """Every candidate of a batch of swipes, flat, measured in each channel."""

    swipe: np.ndarray  # (M,) position of the candidate's swipe in the batch
    words: list[str]  # (M,)
    logp: np.ndarray  # (M,) teacher-forced Σ log p, EOS included
    length: np.ndarray  # (M,) letters
    logfreq: np.ndarray  # (M,)
    shape: np.ndarray  # (M,)
    location: np.ndarray  # (M,) key widths

    @classmethod
    def concat(cls, parts: list["FusedChannels"]) -> "FusedChannels":
        return cls(np.concatenate([p.swipe for p in parts]),
                   [w for p in parts for w in p.words],
                   *(np.concatenate([getattr(p, k) for p in parts]) for k in ("logp", "length", "logfreq", "shape",
                                                                               "location")))


def fused_score(ch: FusedChannels, cfg: FusedConfig) -> np.ndarray:
    """The fused score of every candidate.  # (M,)"""
    return (cfg.neural_weight * ch.logp / (ch.length + 1.0) ** cfg.length_alpha + cfg.length_weight * ch.length
            + cfg.freq_weight * ch.logfreq - 0.5 * (ch.shape / cfg.sigma_shape) ** 2
            - 0.5 * (ch.location / cfg.sigma_location) ** 2)


@torch.inference_mode()
def word_logprobs(model: torch.nn.Module, memory: Tensor, mask: Tensor, alphabet: Alphabet, swipe: np.ndarray,
                  words: list[str]) -> np.ndarray:
    """Teacher-forced log p(word | swipe) of each (swipe, word) pair, EOS included, from the
    swipes' encoder memory (B, T, D) and point mask (B, T).  # (M,)"""
    if not words:
        return np.zeros(0, np.float32)
    rows = torch.as_tensor(swipe, device=memory.device)
    tin, tout = encode_targets(words, alphabet, model.cfg.max_word_len)
    tin, tout = tin.to(memory.device), tout.to(memory.device)
    logits = model.decode(tin, memory[rows], mask[rows])
    logp = torch.log_softmax(logits.float(), -1).gather(-1, tout.clamp(min=0)[..., None])[..., 0]
    return (logp * (tout != PAD)).sum(1).cpu().numpy()


@torch.inference_mode()
def fused_channels(model: torch.nn.Module, tensors: dict[str, Tensor], part: SwipeBatch, alphabet: Alphabet,
                   trie: Trie, index: TemplateIndex, layouts: dict[str, Layout], beam: BeamConfig,
                   template: TemplateConfig, cfg: FusedConfig, keys: dict[str, LayoutKeys]) -> FusedChannels:
    """The union of both decoders' candidates for a collated batch (`part`: the same swipes),
    each measured in every channel. The swipes are encoded once, for the beam and the scoring."""
    search, memory, cache = model_search(model, tensors, alphabet, trie)
    neural = beam_search(search, cache, memory.shape[0], replace(beam, top_k=cfg.beam_candidates, length_alpha=1.0,
                                                                  length_weight=0.0, freq_weight=0.0))
    matched = template_words(part, layouts, index, replace(template, top_k=cfg.template_candidates), keys)
    swipe, words, ids, shape, location = [], [], [], [], []
    for i, (a, b) in enumerate(zip(neural, matched)):
        union = [w for w in dict.fromkeys([w for w, _ in a] + [w for w, _ in b]) if len(w) <= model.cfg.max_word_len]
        found = np.array([trie.node_word[trie.lookup(w)] for w in union], np.int64)
        g = part.grid_names[i]
        if g not in keys:
            keys[g] = LayoutKeys(layouts[g], index.alphabet)
        s, e = part.offsets[i], part.offsets[i + 1]
        ch = measure(part.x[s:e], part.y[s:e], found, keys[g], index, template.n_points)
        swipe += [i] * len(union)
        words += union
        ids.append(found)
        shape.append(ch.shape)
        location.append(ch.location)
    swipe_a = np.array(swipe, np.int64)
    flat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.float32)  # noqa: E731
    id_a = flat(ids).astype(np.int64)
    return FusedChannels(swipe_a, words, word_logprobs(model, memory, tensors["mask"], alphabet, swipe_a, words),
                         index.lengths[id_a].astype(np.float32), index.logfreq[id_a], flat(shape), flat(location))


def rank_fused(ch: FusedChannels, n: int, cfg: FusedConfig) -> list[list[tuple[str, float]]]:
    """Per swipe, its top_k (word, fused score), best first."""
    s = fused_score(ch, cfg)
    out: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    for m in np.lexsort((-s, ch.swipe)):  # by swipe, best first; ties keep the candidates' order
        if len(out[ch.swipe[m]]) < cfg.top_k:
            out[ch.swipe[m]].append((ch.words[m], float(s[m])))
    return out
