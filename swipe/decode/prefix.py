"""Complete from prefixes: a few constrained beam steps, then every lexicon word under the
surviving prefixes scored by the full model (teacher forcing).

Scoring many words under a handful of prefixes acts as a frequency prior: the words scored
are the most frequent below each prefix (a best-first walk of the trie).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from swipe.decode.search import BeamConfig, Candidates, DecoderState, Search, model_search, run_beams
from swipe.lexicon import PAD, Alphabet, Trie
from swipe.model.inputs import encode_targets

ScoreFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # (rows (W,), tokens_in, tokens_out (W, L)) → Σ log p (W,)

@dataclass(frozen=True)
class PrefixConfig:
    """Complete from prefixes: a few beam steps, then every lexicon word under the survivors."""

    prefix_steps: int = 3  # beam steps before completing
    beam: BeamConfig = field(default_factory=lambda: BeamConfig(beam_size=8))
    max_words: int = 256  # words scored per swipe: the most frequent under the surviving prefixes

def words_under(trie: Trie, nodes: list[int], limit: int) -> list[int]:
    """Up to `limit` word ids below `nodes`, most frequent subtrees first (best-first search)."""
    # entries: (−key, is_node, id). A node is keyed by the best word below it, a word by its
    # own frequency, so words come out in exact frequency order.
    heap = [(-float(trie.node_max_logfreq[n]), 1, int(n)) for n in set(nodes) if n >= 0]
    heapq.heapify(heap)
    out: list[int] = []
    while heap and len(out) < limit:
        _, is_node, i = heapq.heappop(heap)
        if not is_node:
            out.append(i)
            continue
        if trie.node_word[i] >= 0:
            w = int(trie.node_word[i])
            heapq.heappush(heap, (-float(trie.word_logfreq[w]), 0, w))
        for c in range(trie.first_child[i], trie.first_child[i + 1]):
            heapq.heappush(heap, (-float(trie.node_max_logfreq[c]), 1, c))
    return out

def complete_from_prefixes(search: Search, state: DecoderState, batch_size: int, score_words: ScoreFn,
                           cfg: PrefixConfig) -> Candidates:
    """Constrained beam search for `prefix_steps` steps; then score every lexicon word (up to
    max_words) under the surviving prefixes with `score_words` and rank them by
    length-normalised log-probability (plus the prior, as in beam search)."""
    trie = search.trie
    if trie is None:
        raise ValueError("completion from prefixes needs a lexicon trie")
    beams = run_beams(search, state, batch_size, cfg.beam, stop_after=cfg.prefix_steps)
    alive = torch.isfinite(beams.total).cpu().numpy()
    rows, ids = [], []
    for i in range(batch_size):
        found = words_under(trie, [int(n) for n, ok in zip(beams.nodes[i].tolist(), alive[i]) if ok], cfg.max_words)
        rows += [i] * len(found)
        ids += found
    out: Candidates = [[] for _ in range(batch_size)]
    if not ids:
        return out
    words = [trie.word(w) for w in ids]
    scores = np.empty(len(words))
    for s in range(0, len(words), 1024):  # teacher-forced scoring, in chunks
        tin, tout = encode_targets(words[s:s + 1024], search.alphabet, search.max_len)
        logp = score_words(torch.tensor(rows[s:s + 1024], device=search.device), tin.to(search.device),
                           tout.to(search.device))
        n = torch.tensor([len(w) + 1 for w in words[s:s + 1024]], device=search.device)
        scores[s:s + 1024] = (logp / n.float() ** cfg.beam.length_alpha).cpu().numpy()
    scores += cfg.beam.freq_weight * trie.word_logfreq[ids] + cfg.beam.length_weight * np.array([len(w) for w in words])
    for r, w, sc in zip(rows, words, scores):
        out[r].append((w, float(sc)))
    return [sorted(c, key=lambda kv: -kv[1])[: cfg.beam.top_k] for c in out]

@torch.inference_mode()
def prefix_words(model: torch.nn.Module, batch: dict[str, Tensor], alphabet: Alphabet, cfg: PrefixConfig,
                 trie: Trie) -> Candidates:
    """complete_from_prefixes with the model: its KV cache for the prefixes, teacher forcing to score."""
    search, memory, cache = model_search(model, batch, alphabet, trie)

    def score_words(rows: Tensor, tokens_in: Tensor, tokens_out: Tensor) -> Tensor:
        logits = model.decode(tokens_in, memory.index_select(0, rows), batch["mask"].index_select(0, rows))
        logp = torch.log_softmax(logits.float(), -1).gather(-1, tokens_out.unsqueeze(-1)).squeeze(-1)
        return (logp * (tokens_out != PAD)).sum(-1)

    return complete_from_prefixes(search, cache, memory.shape[0], score_words, cfg)
