"""Fused decoding: the neural beam's candidates and the template matcher's, scored together.

For every swipe the candidate set is the union of the neural beam's best `beam_candidates`
words and the template matcher's best `template_candidates`. Every candidate, wherever it
came from, is then measured in each channel:

- `logp`: the model's teacher-forced log-probability of the word (EOS included): the beam's
  own Σ log p for its words, one batched teacher-forced pass for the matcher's other words,
  so a word the beam never reached is scored by the model too;
- `length`: its letters; `logfreq`: its log unigram frequency in the lexicon;
- `shape`, `location`: the template matcher's two distances (swipe.decode.template.measure).

score = w · logp / (length + 1)^α + β · length + λ · logfreq
        − ½ (shape / σ_shape)² − ½ (location / σ_location)²

The weights are tuned on half of the dev users (swipe.dev.calibrate.calibrate_fused),
which re-ranks channels measured once; the result is configs/decode_en.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from swipe.decode.ctc import ctc_word_logprobs, word_keys
from swipe.decode.network import Encoded, Network
from swipe.decode.search import BeamConfig, Candidates
from swipe.decode.template import LayoutKeys, Matched, TemplateConfig, TemplateIndex, match, measure_many, swipe_paths
from swipe.keyboard import Layout
from swipe.lexicon import Trie


CTC_FLOOR = -1e4  # the CTC log p of a word its swipe cannot spell (more keys than points): last, not −inf


@dataclass(frozen=True)
class FusedConfig:
    """How many candidates each decoder brings, and the weights of the fused score."""

    beam_candidates: int = 8  # the neural beam's best words merged (its beam: the prediction's `beam.beam_size`)
    template_candidates: int = 8  # the template matcher's best words merged (0: no search; the first pass's
    # words are still measured by it)
    neural_weight: float = 1.0  # w
    length_alpha: float = 0.5  # α: length normalisation of logp
    length_weight: float = 0.0  # β, per letter
    freq_weight: float = 0.5  # λ
    sigma_shape: float = 0.1  # scale of the shape distance: the smaller, the more the trace's shape counts
    sigma_location: float = 0.6  # scale of the location distance: the smaller, the more key positions count
    top_k: int = 4  # candidates returned per swipe
    ctc_weight: float = 0.0  # a hybrid network's CTC log p of the word, length-normalised as logp is


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
    ctc: np.ndarray  # (M,) the key head's CTC log p of the word (0 for a network without one)
    undrawable: int = 0  # the beam's words left out: no key on their swipe's layout for any letter (DrawnWords)

    @classmethod
    def concat(cls, parts: list["FusedChannels"]) -> "FusedChannels":
        return cls(np.concatenate([p.swipe for p in parts]),
                   [w for p in parts for w in p.words],
                   *(np.concatenate([getattr(p, k) for p in parts]) for k in ("logp", "length", "logfreq", "shape",
                                                                               "location", "ctc")),
                   undrawable=sum(p.undrawable for p in parts))


def fused_score(ch: FusedChannels, cfg: FusedConfig) -> np.ndarray:
    """The fused score of every candidate.  # (M,)"""
    norm = (ch.length + 1.0) ** cfg.length_alpha
    ctc = cfg.ctc_weight * ch.ctc / norm if cfg.ctc_weight else 0.0
    return (cfg.neural_weight * ch.logp / norm + ctc + cfg.length_weight * ch.length
            + cfg.freq_weight * ch.logfreq - 0.5 * (ch.shape / cfg.sigma_shape) ** 2
            - 0.5 * (ch.location / cfg.sigma_location) ** 2)


def fused_channels(net: Network, enc: Encoded, trie: Trie, index: TemplateIndex, layouts: dict[str, Layout],
                   beam: BeamConfig, template: TemplateConfig, cfg: FusedConfig, keys: dict[str, LayoutKeys],
                   first: Candidates | None = None) -> FusedChannels:
    """The union of both decoders' candidates for a batch of swipes (`enc`: the network's one
    encoding of them, for the beam and the scoring), each measured in every channel. The
    template matcher's candidates keep the channels it ranked them by; only the beam's
    other words are measured, all in one pass. `first`: the first pass's candidates (the CTC
    trie beam's, swipe.decode.ctc) instead of the decoder's beam; all are then measured."""
    part = enc.part
    if first is None:
        # scored by Σ log p / (letters + 1): the beam's own teacher-forced Σ log p of each word, up to rounding
        # (its search takes log p over every token before the lexicon masks any), so only the matcher's
        # other words are scored by the network again
        neural = net.beams(enc, trie, replace(beam, top_k=cfg.beam_candidates, length_alpha=1.0, length_weight=0.0,
                                              freq_weight=0.0))
        beam_logp = np.array([s * (len(w) + 1) for a in neural for w, s in a], np.float32)
    else:
        neural = first
        beam_logp = np.full(sum(len(a) for a in neural), np.nan, np.float32)
    if cfg.template_candidates > 0:
        matched = match(part, layouts, index, replace(template, top_k=cfg.template_candidates), keys)
    else:  # the first pass's words alone, each measured by the matcher (no search of the lexicon)
        none = np.zeros(0, np.float32)
        matched = Matched(np.zeros(0, np.int64), np.zeros(0, np.int64), none, none, none)
    beam_swipe = np.repeat(np.arange(len(part)), [len(a) for a in neural])
    beam_ids = trie.word_ids([w for a in neural for w, _ in a])
    # per swipe: the beam's words first, then the matcher's, each once (the first kept), within max_word_len
    swipe = np.concatenate([beam_swipe, matched.swipe]).astype(np.int64)
    ids = np.concatenate([beam_ids, matched.words]).astype(np.int64)
    from_template = np.r_[np.full(len(beam_ids), -1), np.arange(len(matched.words))]
    logp = np.r_[beam_logp, np.full(len(matched.words), np.nan, np.float32)]
    order = np.lexsort((np.arange(len(ids)), swipe))  # by swipe, then beam before template
    swipe, ids, from_template, logp = swipe[order], ids[order], from_template[order], logp[order]
    _, first = np.unique(swipe * len(index.lengths) + ids, return_index=True)
    keep = np.sort(first)
    keep = keep[index.lengths[ids[keep]] <= net.max_word_len]
    for g in set(part.grid_names) - set(keys):
        keys[g] = LayoutKeys(layouts[g], index.alphabet)
    grid_of = np.array(part.grid_names, dtype=object)[swipe[keep]]
    drawable = np.ones(len(keep), bool)
    for g in set(grid_of):  # a word with no key for any letter has no template channels: left out, counted
        on = grid_of == g
        drawable[on] = keys[g].words(index).drawable[ids[keep[on]]]
    keep = keep[drawable]
    swipe, ids, from_template, logp = swipe[keep], ids[keep], from_template[keep], logp[keep]
    shape, location = np.empty(len(ids), np.float32), np.empty(len(ids), np.float32)
    known = from_template >= 0
    shape[known], location[known] = matched.shape[from_template[known]], matched.location[from_template[known]]
    if (~known).any():
        ch = measure_many(swipe_paths(part, template.n_points), swipe[~known], ids[~known],
                          [keys[g] for g in part.grid_names], index, template.n_points, keep=True)
        shape[~known], location[~known] = ch.shape, ch.location
    words = [index.word(int(i)) for i in ids]
    ctc = np.zeros(len(words), np.float32)
    if enc.key_logp is not None:  # every candidate's CTC log p, exactly (the forward algorithm)
        letters = [layouts[g].letters for g in part.grid_names]
        ctc = ctc_word_logprobs(enc.key_logp, enc.key_lengths, swipe,
                                [word_keys(w, letters[s]) for w, s in zip(words, swipe)])
        ctc = np.maximum(ctc, CTC_FLOOR).astype(np.float32)
    todo = np.isnan(logp)  # the words the decoder's beam did not score
    if net.head == "ctc":
        logp = ctc.copy()  # a network without a decoder: its word log p is the CTC one
    else:  # the decoder scores the words it can spell; a word with a letter outside its alphabet, the key head
        spell = np.array([set(w) <= set(net.alphabet.chars) for w in words], bool)
        logp[todo & ~spell] = ctc[todo & ~spell]
        do = np.flatnonzero(todo & spell)
        logp[do] = net.word_logprobs(enc, swipe[do], [words[i] for i in do])
    return FusedChannels(swipe, words, logp, index.lengths[ids].astype(np.float32), index.logfreq[ids], shape,
                         location, ctc, undrawable=int((~drawable).sum()))


def rank_fused(ch: FusedChannels, n: int, cfg: FusedConfig) -> list[list[tuple[str, float]]]:
    """Per swipe, its top_k (word, fused score), best first."""
    s = fused_score(ch, cfg)
    out: list[list[tuple[str, float]]] = [[] for _ in range(n)]
    for m in np.lexsort((-s, ch.swipe)):  # by swipe, best first; ties keep the candidates' order
        if len(out[ch.swipe[m]]) < cfg.top_k:
            out[ch.swipe[m]].append((ch.words[m], float(s[m])))
    return out
