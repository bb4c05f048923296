"""Decoding: token sequences from a `step_logits` callable, optionally constrained by the trie.

Decoders take a callable `step_logits(tokens (B,), state) -> (logits (B, V), state)` rather
than the model, so they are tested with fake models and reused for any network. Greedy
decoding lives here now; beam search joins it with batch prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from swipe.lexicon import BOS, EOS, PAD, Alphabet, Trie

StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]


@dataclass
class Decoded:
    words: list[str]  # (B,) best word per swipe ("" if nothing was emitted)
    scores: np.ndarray  # (B,) length-normalised log-probability


def greedy_decode(step_logits: StepFn, state: Any, batch_size: int, alphabet: Alphabet,
                  max_len: int, trie: Trie | None = None, device: str | torch.device = "cpu") -> Decoded:
    """Pick the most likely token at each step; with a trie, only tokens that keep the prefix
    inside the lexicon (EOS only where a word ends), so every output is a lexicon word."""
    tokens = torch.full((batch_size,), BOS, dtype=torch.long, device=device)
    nodes = np.zeros(batch_size, dtype=np.int64)  # trie node of each prefix (root)
    done = torch.zeros(batch_size, dtype=torch.bool, device=device)
    logp_sum = torch.zeros(batch_size, device=device)
    length = torch.zeros(batch_size, device=device)
    out = []
    for step in range(max_len + 1):
        logits, state = step_logits(tokens, state)
        logp = torch.log_softmax(logits.float(), -1)
        if trie is not None:
            allowed = torch.from_numpy(trie.allowed_next_tokens(nodes)).to(device)
            logp = logp.masked_fill(~allowed, float("-inf"))
        if step == max_len:  # out of room: only EOS may follow
            logp = torch.where(torch.arange(logp.shape[1], device=device) == EOS, logp, float("-inf"))
        nxt = logp.argmax(-1)
        pick = logp.gather(1, nxt[:, None])[:, 0]
        logp_sum = torch.where(done, logp_sum, logp_sum + pick)
        length = torch.where(done, length, length + 1)
        nxt = torch.where(done, torch.full_like(nxt, EOS), nxt)
        out.append(nxt)
        if trie is not None:
            nodes = np.where(done.cpu().numpy(), nodes, trie.step(nodes, nxt.cpu().numpy()))
        done = done | (nxt == EOS)
        tokens = nxt
        if bool(done.all()):
            break
    seq = torch.stack(out, 1).cpu().numpy()
    words = [alphabet.decode(row) for row in seq]
    return Decoded(words, (logp_sum / length.clamp(min=1)).cpu().numpy())


def model_step_fn(model: torch.nn.Module) -> StepFn:
    """Adapter: a SwipeModel's cached decode step as a `step_logits` callable."""

    def step(tokens: Tensor, cache: Any) -> tuple[Tensor, Any]:
        return model.decode_step(tokens, cache)

    return step


@torch.inference_mode()
def greedy_words(model: torch.nn.Module, batch: dict[str, Tensor], alphabet: Alphabet,
                 trie: Trie | None) -> Decoded:
    """Encode a collated batch once, then decode it greedily with the KV cache."""
    memory = model.encode(batch["x"], batch["y"], batch["t"], batch["mask"], batch["grid"])
    cache = model.start_cache(memory, batch["mask"])
    return greedy_decode(model_step_fn(model), cache, memory.shape[0], alphabet,
                         model.cfg.max_word_len, trie, memory.device)


# ----------------------------------------------------------------------------- beam search
SelectFn = Callable[[Any, Tensor], Any]  # pick rows of a decoder state: (state, rows) -> state


@dataclass(frozen=True)
class BeamConfig:
    """Beam search settings (defaults are what `bench.py decode` measures)."""

    beam_size: int = 6
    top_k: int = 4  # unique candidates returned per swipe
    length_alpha: float = 1.0  # ranking score = Σ log p / length^alpha (EOS counts as a token)
    freq_weight: float = 0.0  # + freq_weight · log relative frequency of the word (needs a trie)


def _norm(total: Tensor, length: Tensor, alpha: float) -> Tensor:
    return total / length.clamp(min=1).to(total.dtype) ** alpha


def beam_search(step_logits: StepFn, state: Any, expand_state: SelectFn, reorder_state: SelectFn,
                batch_size: int, alphabet: Alphabet, max_len: int, cfg: BeamConfig, trie: Trie | None = None,
                device: str | torch.device = "cpu", keep_state: SelectFn | None = None
                ) -> list[list[tuple[str, float]]]:
    """Beam search batched over swipes × beams, one `step_logits` call per step for all rows.

    State rows follow the beams: `expand_state(state, rows)` turns each swipe's row into its
    K beam rows once; after each step `reorder_state(state, rows)` gives each new beam the
    row of its parent, always a beam of the same swipe (rows index the flattened B·K
    beams), so a KV cache need only move what differs between beams. Finished beams stay
    in the beam with their score (their only continuation is a no-op), so a hypothesis ends
    when its beam is full of better or finished ones. With a trie, tokens that leave it get
    −inf and EOS is allowed only where a word ends: every candidate is a lexicon word.
    Given `keep_state(state, swipes)`, swipes whose beams have all finished leave the batch,
    so a batch costs what its live swipes cost rather than what its longest word does.
    Returns, per swipe, up to top_k (word, score) pairs, best first, each word once.
    """
    state_out = _beam_loop(step_logits, state, expand_state, reorder_state, batch_size, alphabet, max_len, cfg,
                           trie, device, stop_after=None, keep_state=keep_state)
    return _collect(*state_out, alphabet, cfg, trie, batch_size, cfg.beam_size)


def _beam_loop(step_logits: StepFn, state: Any, expand_state: SelectFn, reorder_state: SelectFn,
               batch_size: int, alphabet: Alphabet, max_len: int, cfg: BeamConfig, trie: Trie | None,
               device: str | torch.device, stop_after: int | None, keep_state: SelectFn | None = None):
    """The search itself; returns (history, total, length, finished, nodes) after max_len
    steps, or after `stop_after` steps with unfinished beams still open.

    With `keep_state(state, swipes)` (keep those swipes' rows, all K beams each), a swipe
    whose beams have all finished leaves the batch: later steps decode live swipes only.
    """
    b, k, v = batch_size, cfg.beam_size, alphabet.size
    vocab = torch.arange(v, device=device)
    # step 0: one hypothesis (BOS) per swipe
    logits, state = step_logits(torch.full((b,), BOS, dtype=torch.long, device=device), state)
    logp = torch.log_softmax(logits.float(), -1)  # (B, V)
    nodes = np.zeros(b, dtype=np.int64)
    if trie is not None:
        logp = logp.masked_fill(~torch.from_numpy(trie.allowed_next_tokens(nodes)).to(device), float("-inf"))
    logp[:, EOS] = float("-inf") if trie is None else logp[:, EOS]  # no empty word
    logp[:, :EOS] = float("-inf")  # PAD, BOS are never emitted
    top, tok = logp.topk(k, -1)  # (B, K)
    total, length = top, torch.ones(b, k, device=device)
    finished = tok == EOS
    history = tok[..., None]  # (B, K, steps)
    rows = torch.arange(b, device=device).repeat_interleave(k)
    state = expand_state(state, rows)
    nodes = trie.step(nodes[rows.cpu().numpy()], tok.flatten().cpu().numpy()) if trie is not None else None
    # results of swipes that left the batch; `live` maps batch rows to swipe numbers
    out = _BeamOut(batch_size, k, max_len + 1, device, trie is not None)
    live = torch.arange(b, device=device)
    for step in range(1, max_len + 1):
        if keep_state is not None:
            done = (finished | total.isneginf()).all(1)  # a −inf beam can never win
            if bool(done.any()):
                out.put(live[done], history[done], total[done], length[done], finished[done],
                        None if nodes is None else nodes.reshape(b, k)[done.cpu().numpy()])
                keep = (~done).nonzero()[:, 0]
                live, b = live[keep], len(keep)
                total, length, finished, tok, history = (x[keep] for x in (total, length, finished, tok, history))
                if nodes is not None:
                    nodes = nodes.reshape(-1, k)[keep.cpu().numpy()].reshape(-1)
                if b:
                    state = keep_state(state, keep)
        if b == 0 or bool((finished | total.isneginf()).all()) or (stop_after is not None and step >= stop_after):
            break
        logits, state = step_logits(tok.flatten(), state)
        logp = torch.log_softmax(logits.float(), -1).view(b, k, v)
        if trie is not None:
            allowed = torch.from_numpy(trie.allowed_next_tokens(np.where(finished.flatten().cpu().numpy(), 0, nodes)))
            logp = logp.masked_fill(~allowed.view(b, k, v).to(device), float("-inf"))
        logp[..., :EOS] = float("-inf")
        if step == max_len:  # out of room: only EOS
            logp = logp.masked_fill(vocab != EOS, float("-inf"))
        # a finished beam continues only by PAD, at no cost and no extra length
        logp = torch.where(finished[..., None], torch.where(vocab == PAD, 0.0, float("-inf")), logp)
        cand_total = total[..., None] + logp  # (B, K, V)
        cand_len = (length + (~finished).float())[..., None].expand(b, k, v)
        score = _norm(cand_total, cand_len, cfg.length_alpha).view(b, k * v)
        _, idx = score.topk(k, -1)  # (B, K) over K·V candidates
        parent, tok = idx // v, idx % v
        total = cand_total.view(b, k * v).gather(1, idx)
        length = cand_len.reshape(b, k * v).gather(1, idx)
        was_finished = finished.gather(1, parent)
        finished = was_finished | (tok == EOS)
        history = torch.cat([history.gather(1, parent[..., None].expand_as(history)), tok[..., None]], -1)
        rows = (torch.arange(b, device=device)[:, None] * k + parent).flatten()
        state = reorder_state(state, rows)
        if trie is not None:
            prev = nodes[rows.cpu().numpy()]
            moving = (~finished).flatten().cpu().numpy()  # EOS and PAD do not move in the trie
            nodes = np.where(moving, trie.step(prev, tok.flatten().cpu().numpy()), prev)
    if b:
        out.put(live, history, total, length, finished, None if nodes is None else nodes.reshape(b, k))
    return out.history[..., : out.width], out.total, out.length, out.finished, out.nodes


class _BeamOut:
    """Beam search results, filled in per swipe as swipes finish (history padded with PAD)."""

    def __init__(self, b: int, k: int, steps: int, device: str | torch.device, with_nodes: bool):
        self.history = torch.full((b, k, steps), PAD, dtype=torch.long, device=device)
        self.total = torch.full((b, k), float("-inf"), device=device)
        self.length = torch.ones(b, k, device=device)
        self.finished = torch.zeros(b, k, dtype=torch.bool, device=device)
        self.nodes = np.zeros(b * k, dtype=np.int64) if with_nodes else None
        self.width = 0

    def put(self, swipes: Tensor, history: Tensor, total: Tensor, length: Tensor, finished: Tensor,
            nodes: np.ndarray | None) -> None:
        self.history[swipes, :, : history.shape[2]] = history
        self.width = max(self.width, history.shape[2])
        self.total[swipes], self.length[swipes], self.finished[swipes] = total, length, finished
        if nodes is not None:
            self.nodes.reshape(-1, nodes.shape[1])[swipes.cpu().numpy()] = nodes


def _collect(history: Tensor, total: Tensor, length: Tensor, finished: Tensor, nodes: np.ndarray | None,
             alphabet: Alphabet, cfg: BeamConfig, trie: Trie | None, b: int, k: int
             ) -> list[list[tuple[str, float]]]:
    """Finished beams → ranked, de-duplicated (word, score) lists, with the frequency prior."""
    score = _norm(total, length, cfg.length_alpha).cpu().numpy()
    hist = history.cpu().numpy()
    fin = finished.cpu().numpy()
    out = []
    for i in range(b):
        cands: dict[str, float] = {}
        for j in range(k):
            if not fin[i, j] or not np.isfinite(score[i, j]):
                continue
            word = alphabet.decode(hist[i, j])
            s = float(score[i, j])
            if trie is not None and cfg.freq_weight:
                w = trie.node_word[nodes[i * k + j]]
                s += cfg.freq_weight * float(trie.word_logfreq[w])
            cands[word] = max(s, cands.get(word, -np.inf))
        out.append(sorted(cands.items(), key=lambda kv: -kv[1])[: cfg.top_k])
    return out


def reference_beam_search(next_logits: Callable[[list[int]], Tensor], alphabet: Alphabet, max_len: int,
                          cfg: BeamConfig, trie: Trie | None = None) -> list[tuple[str, float]]:
    """The test oracle and benchmark baseline: one swipe, plain Python, no cache.

    `next_logits(prefix)` returns the next-token logits (V,) after the whole prefix
    (BOS first), recomputed from scratch each time.
    """
    hyps = [([BOS], 0.0, 0, False, 0)]  # tokens, Σ log p, length, finished, trie node
    for step in range(max_len + 1):
        if all(h[3] for h in hyps):
            break
        cands = []
        for tokens, total, length, done, node in hyps:
            if done:
                cands.append((tokens, total, length, True, node))
                continue
            logp = torch.log_softmax(next_logits(tokens).float(), -1).tolist()
            allowed = trie.allowed_next_tokens(np.array([node]))[0] if trie is not None else None
            for t in range(EOS, alphabet.size):
                if (allowed is not None and not allowed[t]) or (step == max_len and t != EOS):
                    continue
                if t == EOS and step == 0 and trie is None:
                    continue  # no empty word
                nxt = node if t == EOS or trie is None else int(trie.step(np.array([node]), np.array([t]))[0])
                cands.append((tokens + [t], total + logp[t], length + 1, t == EOS, nxt))
        cands.sort(key=lambda h: -(h[1] / max(h[2], 1) ** cfg.length_alpha))
        hyps = cands[: cfg.beam_size]
    out: dict[str, float] = {}
    for tokens, total, length, done, node in hyps:
        if not done:
            continue
        s = total / max(length, 1) ** cfg.length_alpha
        if trie is not None and cfg.freq_weight:
            s += cfg.freq_weight * float(trie.word_logfreq[trie.node_word[node]])
        word = alphabet.decode(tokens[1:])
        out[word] = max(s, out.get(word, -np.inf))
    return sorted(out.items(), key=lambda kv: -kv[1])[: cfg.top_k]


@torch.inference_mode()
def beam_words(model: torch.nn.Module, batch: dict[str, Tensor], alphabet: Alphabet, cfg: BeamConfig,
               trie: Trie | None) -> list[list[tuple[str, float]]]:
    """Batched beam search of a collated batch with the model's KV cache."""
    memory = model.encode(batch["x"], batch["y"], batch["t"], batch["mask"], batch["grid"])
    cache = model.start_cache(memory, batch["mask"])
    k = cfg.beam_size  # rows from beam_search's expansion are arange(B).repeat_interleave(k)
    return beam_search(model_step_fn(model), cache, lambda c, rows: c.expand_beams(k),
                       lambda c, rows: c.reorder_self(rows), memory.shape[0], alphabet,
                       model.cfg.max_word_len, cfg, trie, memory.device, lambda c, swipes: c.keep_swipes(swipes))


@torch.inference_mode()
def reference_words(model: torch.nn.Module, batch: dict[str, Tensor], alphabet: Alphabet, cfg: BeamConfig,
                    trie: Trie | None) -> list[list[tuple[str, float]]]:
    """The oracle over a batch: each swipe alone, the decoder re-run over the whole prefix."""
    out = []
    for i in range(batch["x"].shape[0]):
        n = int(batch["mask"][i].sum())
        one = {k: batch[k][i:i + 1, :n] for k in ("x", "y", "t", "mask")}
        memory = model.encode(one["x"], one["y"], one["t"], one["mask"], batch["grid"][i:i + 1])

        def next_logits(prefix: list[int]) -> Tensor:
            tokens = torch.tensor([prefix], device=memory.device)
            return model.decode(tokens, memory, one["mask"])[0, -1]

        out.append(reference_beam_search(next_logits, alphabet, model.cfg.max_word_len, cfg, trie))
    return out


# ----------------------------------------------------------------------------- options
ScoreFn = Callable[[Tensor, Tensor, Tensor], Tensor]  # (rows, tokens_in, tokens_out) → Σ log p per word


@dataclass(frozen=True)
class PrefixConfig:
    """Complete from prefixes: a few beam steps, then every lexicon word under the survivors."""

    prefix_steps: int = 3  # beam steps before completing
    beam: BeamConfig = BeamConfig(beam_size=8)
    max_words: int = 256  # words scored per swipe: the most frequent under the surviving prefixes


def words_under(trie: Trie, nodes: list[int], limit: int) -> list[int]:
    """Up to `limit` word ids below `nodes`, most frequent subtrees first (best-first search)."""
    import heapq

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


def complete_from_prefixes(step_logits: StepFn, state: Any, expand_state: SelectFn, reorder_state: SelectFn,
                           score_words: ScoreFn, batch_size: int, alphabet: Alphabet, max_len: int,
                           cfg: PrefixConfig, trie: Trie, device: str | torch.device = "cpu"
                           ) -> list[list[tuple[str, float]]]:
    """Constrained beam search for `prefix_steps` steps; then score every lexicon word (up to
    max_words) under the surviving prefixes with the full model (teacher forcing) and rank
    them by length-normalised log-probability (plus the prior, as in beam search)."""
    from swipe.data import encode_targets

    k = cfg.beam.beam_size
    _, total, _, _, nodes = _beam_loop(step_logits, state, expand_state, reorder_state, batch_size, alphabet,
                                       max_len, cfg.beam, trie, device, stop_after=cfg.prefix_steps)
    alive = torch.isfinite(total).cpu().numpy()
    rows, ids = [], []
    for i in range(batch_size):
        found = words_under(trie, [int(nodes[i * k + j]) for j in range(k) if alive[i, j]], cfg.max_words)
        rows += [i] * len(found)
        ids += found
    out: list[list[tuple[str, float]]] = [[] for _ in range(batch_size)]
    if not ids:
        return out
    words = [trie.word(w) for w in ids]
    scores = np.empty(len(words))
    for s in range(0, len(words), 1024):  # teacher-forced scoring, in chunks
        tin, tout = encode_targets(words[s:s + 1024], alphabet, max_len)
        logp = score_words(torch.tensor(rows[s:s + 1024], device=device), tin.to(device), tout.to(device))
        n = torch.tensor([len(w) + 1 for w in words[s:s + 1024]], device=device)
        scores[s:s + 1024] = (logp / n.float() ** cfg.beam.length_alpha).cpu().numpy()
    scores += cfg.beam.freq_weight * trie.word_logfreq[ids]
    for r, w, sc in zip(rows, words, scores):
        out[r].append((w, float(sc)))
    return [sorted(c, key=lambda kv: -kv[1])[: cfg.beam.top_k] for c in out]


def levenshtein_repair(cands: list[list[tuple[str, float]]], lexicon: list[str], top_k: int,
                       max_distance: int = 3) -> list[list[tuple[str, float]]]:
    """Replace each out-of-lexicon candidate by the nearest lexicon word (Levenshtein distance,
    at most max_distance; ties → the more frequent word, as `lexicon` is frequency-ordered);
    drop it if none is that close. Order is kept; duplicates collapse."""
    from rapidfuzz import distance, process

    known = set(lexicon)
    out = []
    for per_swipe in cands:
        fixed: dict[str, float] = {}
        for w, s in per_swipe:
            if w not in known:
                hit = process.extractOne(w, lexicon, scorer=distance.Levenshtein.distance,
                                         score_cutoff=max_distance)
                if hit is None:
                    continue
                w = hit[0]
            if w not in fixed:
                fixed[w] = s
        out.append(list(fixed.items())[:top_k])
    return out


@torch.inference_mode()
def prefix_words(model: torch.nn.Module, batch: dict[str, Tensor], alphabet: Alphabet, cfg: PrefixConfig,
                 trie: Trie) -> list[list[tuple[str, float]]]:
    """complete_from_prefixes with the model: its KV cache for the prefixes, teacher forcing to score."""
    memory = model.encode(batch["x"], batch["y"], batch["t"], batch["mask"], batch["grid"])
    cache = model.start_cache(memory, batch["mask"])
    k = cfg.beam.beam_size

    def score_words(rows: Tensor, tokens_in: Tensor, tokens_out: Tensor) -> Tensor:
        logits = model.decode(tokens_in, memory.index_select(0, rows), batch["mask"].index_select(0, rows))
        logp = torch.log_softmax(logits.float(), -1).gather(-1, tokens_out.unsqueeze(-1)).squeeze(-1)
        return (logp * (tokens_out != PAD)).sum(-1)

    return complete_from_prefixes(model_step_fn(model), cache, lambda c, rows: c.expand_beams(k),
                                  lambda c, rows: c.reorder_self(rows), score_words, memory.shape[0], alphabet,
                                  model.cfg.max_word_len, cfg, trie, memory.device)
