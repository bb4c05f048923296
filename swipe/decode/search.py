"""Search: greedy and beam search over a `step_logits` callable, batched over swipes × beams.

A search never sees the model, nor which array library it runs on: the same code runs on
torch tensors (`backend="torch"`, the model's device) and on numpy arrays (`"numpy"`: an
exported model's onnxruntime session, torch never imported), through `swipe.decode.arrays`.
It calls `step_logits(tokens (R,), state) -> (logits (R, V), state)` once per step for all
R live rows, and moves the decoder's state with the beams through the three methods of
`DecoderState`: the model's KV cache is one such state, an exported model's `OrtCache`
another, a test's fake a third. With a lexicon trie, tokens that leave it get −inf and EOS
is allowed only where a word ends, so every candidate is a lexicon word. PAD and BOS are
never emitted, nor an empty word, by any search here.

One `BeamState` is the search in progress; greedy decoding is the same search with one
beam. `reference_beam_search` (plain Python, one swipe, no cache) is the test oracle and
the benchmark baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from swipe.decode.arrays import ArrayOps, Backend, array_ops
from swipe.lexicon import BOS, EOS, PAD, Alphabet, Trie

if TYPE_CHECKING:
    import torch
    from torch import Tensor
else:
    Tensor = Any  # a torch tensor or a numpy array: whichever the backend's step function takes

StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]  # (tokens (R,), state) → (logits (R, V), state)
Candidates = list[list[tuple[str, float]]]  # per swipe: (word, score), best first, each word once


class DecoderState(Protocol):
    """What a search needs of a decoder's state: rows that follow the beams.

    A batch of B swipes × K beams has B·K rows; row r is beam r % K of swipe r // K."""

    def expand_beams(self, k: int) -> "DecoderState":
        """Each swipe's one row → k consecutive rows (swipe i → rows i·k … i·k + k − 1)."""
        ...

    def reorder_beams(self, rows: Tensor) -> "DecoderState":
        """Row j of the result is row `rows[j]`: a new beam takes its parent's state, and the
        parent is always a beam of the same swipe."""
        ...

    def keep_swipes(self, swipes: Tensor) -> "DecoderState":
        """Only the rows of these swipes stay (all K beams each), in this order."""
        ...


@dataclass(frozen=True)
class Search:
    """What every search runs on: the step function, the alphabet, the limits, the lexicon."""

    step_logits: StepFn
    alphabet: Alphabet
    max_len: int  # letters at most; EOS follows
    trie: Trie | None = None  # decode within the lexicon
    device: Any = "cpu"  # torch: the device of the step function's tensors
    backend: Backend = "torch"  # the step function's arrays: torch tensors or numpy arrays

    @property
    def ops(self) -> ArrayOps:
        return array_ops(self.backend, str(self.device))


@dataclass(frozen=True)
class BeamConfig:
    """Beam search settings (defaults are what `bench.py decode` measures)."""

    beam_size: int = 6  # hypotheses kept per step (1: greedy)
    top_k: int = 4  # unique candidates returned per swipe
    # a finished word's score = Σ log p / length^α + β · letters + λ · log relative frequency
    length_alpha: float = 1.0  # α: length normalisation (EOS counts as a token); also orders the beam
    length_weight: float = 0.0  # β, per letter
    freq_weight: float = 0.0  # λ, the lexicon's log-frequency prior (needs a trie)


GREEDY = BeamConfig(beam_size=1, top_k=1)  # the most likely token at each step


def _norm(ops: ArrayOps, total: Tensor, length: Tensor, alpha: float) -> Tensor:
    return total / ops.clamp_min(length, 1.0) ** alpha


# ----------------------------------------------------------------------------- the beam state
@dataclass
class BeamState:
    """A beam search in progress over B live swipes × K beams.  Tensors (B, K) unless noted.

    Made by `_start` (each swipe's decoder row expanded into K beams), moved on by `follow`
    (each new beam takes its parent's place), pruned by `keep` (settled swipes leave). Finished beams stay in the beam with their score (their only continuation is PAD, at no
    cost and no length), so a hypothesis ends when its beam is full of better or finished ones.
    """

    swipes: Tensor  # (B,) the input swipe each live batch row is
    tokens: Tensor  # (B, K, S) tokens emitted so far
    total: Tensor  # Σ log p
    length: Tensor  # tokens counted by length normalisation (EOS included)
    finished: Tensor  # bool: EOS emitted
    nodes: Tensor | None  # (B·K,) trie node of each beam's prefix, on the device; None without a trie
    decoder: DecoderState  # its rows follow the beams

    def settled(self) -> Tensor:
        """(B,) swipes with nothing left to extend: every beam finished or impossible (−inf)."""
        return (self.finished | (self.total == float("-inf"))).all(1)

    def follow(self, ops: ArrayOps, parent: Tensor, tok: Tensor, total: Tensor, length: Tensor,
               decoder: DecoderState, trie: Trie | None) -> "BeamState":
        """The next beams: beam j of swipe i continues beam parent[i, j] by token tok[i, j], with
        this total and length. Its tokens, finished flag, trie node and decoder rows (of the
        state after the step) are its parent's."""
        b, k = parent.shape
        swipe = ops.arange(b)[:, None]
        finished = self.finished[swipe, parent] | (tok == EOS)
        rows = (swipe * k + parent).reshape(-1)  # each beam's parent row
        nodes = None
        if trie is not None:
            prev = self.nodes[rows]
            moving = (~finished).reshape(-1)  # EOS and PAD do not move in the trie
            nodes = ops.where(moving, ops.trie(trie).step(prev, tok.reshape(-1)), prev)
        tokens = ops.cat([self.tokens[swipe, parent], tok[..., None]], -1)
        return BeamState(self.swipes, tokens, total, length, finished, nodes, decoder.reorder_beams(rows))

    def keep(self, keep: Tensor) -> "BeamState":
        """Only the swipes at batch rows `keep` (B',) stay, and the decoder's rows with them."""
        k = self.total.shape[1]
        nodes = None if self.nodes is None else self.nodes.reshape(-1, k)[keep].reshape(-1)
        return BeamState(self.swipes[keep], self.tokens[keep], self.total[keep], self.length[keep],
                         self.finished[keep], nodes, self.decoder.keep_swipes(keep))


@dataclass
class Beams:
    """Every swipe's K beams where the search left them: what `rank` turns into candidates.
    Filled in as swipes settle (tokens padded with PAD)."""

    tokens: Tensor  # (N, K, S)
    total: Tensor  # (N, K)
    length: Tensor  # (N, K)
    finished: Tensor  # (N, K)
    nodes: Tensor | None  # (N, K) trie nodes; None without a trie

    @classmethod
    def empty(cls, ops: ArrayOps, n: int, k: int, steps: int, with_nodes: bool) -> "Beams":
        return cls(ops.full((n, k, steps), PAD, ops.long), ops.full((n, k), float("-inf"), ops.float32),
                   ops.full((n, k), 1.0, ops.float32), ops.full((n, k), False, ops.bool_),
                   ops.full((n, k), 0, ops.long) if with_nodes else None)

    def put(self, state: BeamState, rows: Tensor | None = None) -> None:
        """Record the beams of the swipes at batch rows `rows` of `state` (None: all of them)."""
        pick = (lambda t: t) if rows is None else (lambda t: t[rows])  # noqa: E731
        s, tokens = pick(state.swipes), pick(state.tokens)
        self.tokens[s, :, : tokens.shape[2]] = tokens
        self.total[s], self.length[s], self.finished[s] = pick(state.total), pick(state.length), pick(state.finished)
        if self.nodes is not None:
            nodes = state.nodes.reshape(state.total.shape)
            self.nodes[s] = nodes if rows is None else nodes[rows]


def _mask(search: Search, logp: Tensor, nodes: Tensor | None, step: int) -> Tensor:
    """Next-token log-probabilities (R, V) with every token that may not follow at −inf."""
    ops = search.ops
    if search.trie is not None:
        logp = ops.where(ops.trie(search.trie).allowed(nodes), logp, float("-inf"))
    elif step == 0:
        logp[:, EOS] = float("-inf")  # no empty word (the trie holds none)
    logp[:, :EOS] = float("-inf")  # PAD and BOS are never emitted
    if step == search.max_len:  # out of room: only EOS
        logp = ops.where(ops.arange(logp.shape[1]) == EOS, logp, float("-inf"))
    return logp


def _start(search: Search, state: DecoderState, batch_size: int, k: int) -> BeamState:
    """Step 0: one hypothesis (BOS) per swipe, whose k best tokens become its k beams."""
    ops, b = search.ops, batch_size
    logits, state = search.step_logits(ops.full((b,), BOS, ops.long), state)
    root = ops.full((b,), 0, ops.long)
    logp = _mask(search, ops.log_softmax(logits), root, 0)  # (B, V)
    top, tok = ops.top(logp, k)  # (B, K)
    nodes = None
    if search.trie is not None:
        nodes = ops.trie(search.trie).step(ops.full((b * k,), 0, ops.long), tok.reshape(-1))
    return BeamState(ops.arange(b), tok[..., None], top, ops.full((b, k), 1.0, ops.float32),
                     tok == EOS, nodes, state.expand_beams(k))


def _extend(search: Search, beams: BeamState, cfg: BeamConfig, step: int) -> BeamState:
    """One step: every beam's continuations scored, the K best per swipe kept, state reordered."""
    ops = search.ops
    b, k = beams.total.shape
    v = search.alphabet.size
    logits, decoder = search.step_logits(beams.tokens[:, :, -1].reshape(-1), beams.decoder)
    logp = _mask(search, ops.log_softmax(logits), beams.nodes, step).reshape(b, k, v)
    vocab = ops.arange(v)
    # a finished beam continues only by PAD, at no cost and no extra length
    logp = ops.where(beams.finished[..., None], ops.where(vocab == PAD, 0.0, float("-inf")), logp)
    cand_total = (beams.total[..., None] + logp).reshape(b, k * v)  # (B, K·V)
    cand_len = ops.broadcast((beams.length + ops.as_float(~beams.finished))[..., None], (b, k, v)).reshape(b, k * v)
    _, idx = ops.top(_norm(ops, cand_total, cand_len, cfg.length_alpha), k)  # (B, K) of K·V
    swipe = ops.arange(b)[:, None]
    return beams.follow(ops, idx // v, idx % v, cand_total[swipe, idx], cand_len[swipe, idx], decoder, search.trie)


def run_beams(search: Search, state: DecoderState, batch_size: int, cfg: BeamConfig,
              stop_after: int | None = None) -> Beams:
    """The search itself: up to max_len + 1 steps, or `stop_after` steps with beams still open.

    A swipe whose beams have all settled leaves the batch, so later steps decode live swipes
    only and a batch costs what its live swipes cost rather than what its longest word does.
    """
    k, ops = min(cfg.beam_size, search.alphabet.size), search.ops  # no more beams than first tokens
    beams = _start(search, state, batch_size, k)
    out = Beams.empty(ops, batch_size, k, search.max_len + 1, search.trie is not None)
    for step in range(1, search.max_len + 1):
        settled = beams.settled()
        if bool(settled.any()):
            if bool(settled.all()):
                out.put(beams)
                return out
            out.put(beams, ops.nonzero(settled))
            beams = beams.keep(ops.nonzero(~settled))
        if stop_after is not None and step >= stop_after:
            break
        beams = _extend(search, beams, cfg, step)
    out.put(beams)
    return out


def rank(beams: Beams, search: Search, cfg: BeamConfig) -> Candidates:
    """Finished beams → ranked, de-duplicated (word, score) lists, with the frequency prior."""
    ops = search.ops
    score = ops.numpy(_norm(ops, beams.total, beams.length, cfg.length_alpha))
    tokens, finished = ops.numpy(beams.tokens), ops.numpy(beams.finished)
    trie = search.trie
    nodes = ops.numpy(beams.nodes) if beams.nodes is not None else None
    out = []
    for i in range(score.shape[0]):
        cands: dict[str, float] = {}
        for j in range(score.shape[1]):
            if not finished[i, j] or not np.isfinite(score[i, j]):
                continue
            word = search.alphabet.decode(tokens[i, j])
            s = float(score[i, j]) + cfg.length_weight * len(word)
            if trie is not None and cfg.freq_weight:
                s += cfg.freq_weight * float(trie.word_logfreq[trie.node_word[nodes[i, j]]])
            cands[word] = max(s, cands.get(word, -np.inf))
        out.append(sorted(cands.items(), key=lambda kv: -kv[1])[: cfg.top_k])
    return out


def beam_search(search: Search, state: DecoderState, batch_size: int, cfg: BeamConfig) -> Candidates:
    """Beam search batched over swipes × beams: per swipe, up to top_k (word, score) pairs."""
    return rank(run_beams(search, state, batch_size, cfg), search, cfg)


@dataclass
class Decoded:
    words: list[str]  # (B,) best word per swipe ("" if there was none)
    scores: np.ndarray  # (B,) length-normalised log-probability (−inf if none)


def greedy_decode(search: Search, state: DecoderState, batch_size: int) -> Decoded:
    """The most likely allowed token at each step: beam search with one beam."""
    best = [c[0] if c else ("", float("-inf")) for c in beam_search(search, state, batch_size, GREEDY)]
    return Decoded([w for w, _ in best], np.array([s for _, s in best], dtype=np.float32))


# ----------------------------------------------------------------------------- with the model (torch)
def model_search(model: "torch.nn.Module", batch: dict[str, Tensor], alphabet: Alphabet, trie: Trie | None
                 ) -> tuple[Search, Tensor, Any]:
    """Encode a collated batch once: the search over the model's cached decode step, the
    memory (B, T, D) and the start of its cache."""
    memory = model.encode(batch["x"], batch["y"], batch["t"], batch["mask"], batch["grid"])
    search = Search(model.decode_step, alphabet, model.cfg.max_word_len, trie, memory.device)
    return search, memory, model.start_cache(memory, batch["mask"])


def greedy_words(model: "torch.nn.Module", batch: dict[str, Tensor], alphabet: Alphabet,
                 trie: Trie | None) -> Decoded:
    """Greedy decoding of a collated batch with the model's KV cache."""
    import torch

    with torch.inference_mode():
        search, memory, cache = model_search(model, batch, alphabet, trie)
        return greedy_decode(search, cache, memory.shape[0])


def beam_words(model: "torch.nn.Module", batch: dict[str, Tensor], alphabet: Alphabet, cfg: BeamConfig,
               trie: Trie | None) -> Candidates:
    """Batched beam search of a collated batch with the model's KV cache."""
    import torch

    with torch.inference_mode():
        search, memory, cache = model_search(model, batch, alphabet, trie)
        return beam_search(search, cache, memory.shape[0], cfg)


# ----------------------------------------------------------------------------- the oracle
def reference_beam_search(next_logits: Callable[[list[int]], Tensor], alphabet: Alphabet, max_len: int,
                          cfg: BeamConfig, trie: Trie | None = None) -> list[tuple[str, float]]:
    """The test oracle and benchmark baseline: one swipe, plain Python, no cache.

    `next_logits(prefix)` returns the next-token logits (V,) after the whole prefix
    (BOS first), recomputed from scratch each time.
    """
    import torch

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
        word = alphabet.decode(tokens[1:])
        s = total / max(length, 1) ** cfg.length_alpha + cfg.length_weight * len(word)
        if trie is not None and cfg.freq_weight:
            s += cfg.freq_weight * float(trie.word_logfreq[trie.node_word[node]])
        out[word] = max(s, out.get(word, -np.inf))
    return sorted(out.items(), key=lambda kv: -kv[1])[: cfg.top_k]


def reference_words(model: "torch.nn.Module", batch: dict[str, Tensor], alphabet: Alphabet, cfg: BeamConfig,
                    trie: Trie | None) -> Candidates:
    """The oracle over a batch: each swipe alone, the decoder re-run over the whole prefix."""
    import torch

    with torch.inference_mode():
        return [_reference_one(model, batch, i, alphabet, cfg, trie) for i in range(batch["x"].shape[0])]


def _reference_one(model: "torch.nn.Module", batch: dict[str, Tensor], i: int, alphabet: Alphabet,
                   cfg: BeamConfig, trie: Trie | None) -> list[tuple[str, float]]:
    import torch

    n = int(batch["mask"][i].sum())
    one = {k: batch[k][i:i + 1, :n] for k in ("x", "y", "t", "mask")}
    memory = model.encode(one["x"], one["y"], one["t"], one["mask"], batch["grid"][i:i + 1])

    def next_logits(prefix: list[int]) -> Tensor:
        tokens = torch.tensor([prefix], device=memory.device)
        return model.decode(tokens, memory, one["mask"])[0, -1]

    return reference_beam_search(next_logits, alphabet, model.cfg.max_word_len, cfg, trie)
