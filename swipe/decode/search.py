"""Search: greedy and beam search over a `step_logits` callable, batched over swipes × beams.

A search never sees the model. It calls `step_logits(tokens (R,), state) -> (logits (R, V),
state)` once per step for all R live rows, and moves the decoder's state with the beams
through the three methods of `DecoderState`: the model's KV cache is one such state, a
test's fake another. With a lexicon trie, tokens that leave it get −inf and EOS is allowed
only where a word ends, so every candidate is a lexicon word. PAD and BOS are never emitted,
nor an empty word, by any search here.

One `BeamState` is the search in progress; greedy decoding is the same search with one
beam. `reference_beam_search` (plain Python, one swipe, no cache) is the test oracle and
the benchmark baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol

import numpy as np
import torch
from torch import Tensor

from swipe.lexicon import BOS, EOS, PAD, Alphabet, Trie

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
    device: str | torch.device = "cpu"


@dataclass(frozen=True)
class BeamConfig:
    """Beam search settings (defaults are what `bench.py decode` measures)."""

    beam_size: int = 6
    top_k: int = 4  # unique candidates returned per swipe
    length_alpha: float = 1.0  # ranking score = Σ log p / length^alpha (EOS counts as a token)
    freq_weight: float = 0.0  # + freq_weight · log relative frequency of the word (needs a trie)


GREEDY = BeamConfig(beam_size=1, top_k=1)  # the most likely token at each step


def _norm(total: Tensor, length: Tensor, alpha: float) -> Tensor:
    return total / length.clamp(min=1).to(total.dtype) ** alpha


def _top(score: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k best of each row (values, indices), ties to the lower index (as argmax does,
    and as the reference's stable sort does), unlike topk, whose order among ties is unspecified."""
    values, idx = score.sort(dim=-1, descending=True, stable=True)
    return values[..., :k], idx[..., :k]


# ----------------------------------------------------------------------------- the trie on the device
class DeviceTrie:
    """The trie's arrays as tensors on the decoding device, with `step` and `allowed` in torch,
    so that a search step neither copies a mask from the host nor waits for the device.

    On a GPU the arrays are copied there once per trie and device (`of`), and both loops
    have fixed lengths, read off the trie once, so no step asks the device how far it got.
    On the CPU the host is the device: the tensors are zero-copy views of the trie's own
    arrays (an actor's trie stays the one mapped from the object store) and `step` and
    `allowed` run the trie's numpy code on them, 3–7× faster there than torch's small ops
    (measured: 23 vs 158 µs for 192 masks); `kernels="torch"` runs the torch code anyway
    (the test that checks it against numpy)."""

    _made: dict[tuple[int, str], tuple[Any, "DeviceTrie"]] = {}

    def __init__(self, trie: Trie, device: str | torch.device, kernels: Literal["auto", "torch"] = "auto"):
        import warnings

        self.trie = trie
        self.on_host = torch.device(device).type == "cpu" and kernels == "auto"

        with warnings.catch_warnings():  # read-only arrays (the object store's): torch only reads them
            warnings.simplefilter("ignore", UserWarning)
            t = lambda a: torch.from_numpy(np.asarray(a)).to(device)  # noqa: E731
            self.node_token, self.first_child, self.node_word = t(trie.node_token), t(trie.first_child), t(trie.node_word)
        children = np.diff(np.asarray(trie.first_child, dtype=np.int64))
        self.max_children = max(1, int(children.max()) if len(children) else 1)
        self.search_steps = int(np.ceil(np.log2(self.max_children + 1)))  # binary search in ≤ this many halvings
        self.n_nodes, self.vocab = trie.n_nodes, trie.alphabet.size
        self.slots = torch.arange(self.max_children, device=device)

    @classmethod
    def of(cls, trie: Trie, device: str | torch.device) -> "DeviceTrie":
        import weakref

        key = (id(trie), str(device))
        ref, made = cls._made.get(key, (None, None))
        if ref is None or ref() is not trie:
            made = cls(trie, device)
            cls._made[key] = (weakref.ref(trie), made)
        return made

    def step(self, nodes: Tensor, tokens: Tensor) -> Tensor:
        """As Trie.step: the child of each node by each token, −1 if none (or if the node is −1)."""
        if self.on_host:
            return torch.from_numpy(self.trie.step(nodes.numpy(), tokens.numpy()))
        ok = nodes >= 0
        safe = torch.where(ok, nodes, 0)
        lo, hi = self.first_child[safe].long(), self.first_child[safe + 1].long()
        end, last = hi, self.n_nodes - 1
        for _ in range(self.search_steps):
            active = lo < hi
            mid = (lo + hi) // 2
            less = active & (self.node_token[mid.clamp(max=last)] < tokens)
            lo = torch.where(less, mid + 1, lo)
            hi = torch.where(active & ~less, mid, hi)
        found = ok & (lo < end) & (self.node_token[lo.clamp(max=last)] == tokens)
        return torch.where(found, lo, -1)

    def allowed(self, nodes: Tensor) -> Tensor:
        """As Trie.allowed_next_tokens: (R, V) bool, each node's children's tokens, EOS where a
        word ends; a −1 node allows nothing."""
        if self.on_host:
            return torch.from_numpy(self.trie.allowed_next_tokens(nodes.numpy()))
        ok = nodes >= 0
        safe = torch.where(ok, nodes, 0)
        lo, hi = self.first_child[safe].long(), self.first_child[safe + 1].long()
        child = lo[:, None] + self.slots  # (R, C): every slot a node may have a child in
        real = (child < hi[:, None]) & ok[:, None]
        token = torch.where(real, self.node_token[child.clamp(max=self.n_nodes - 1)].long(), self.vocab)
        mask = torch.zeros(len(nodes), self.vocab + 1, dtype=torch.bool, device=nodes.device)
        mask.scatter_(1, token, True)  # slots without a child write the spare column, dropped
        mask = mask[:, : self.vocab]
        mask[:, EOS] = ok & (self.node_word[safe] >= 0)
        return mask


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
        return (self.finished | self.total.isneginf()).all(1)

    def follow(self, parent: Tensor, tok: Tensor, total: Tensor, length: Tensor, decoder: DecoderState,
               trie: Trie | None) -> "BeamState":
        """The next beams: beam j of swipe i continues beam parent[i, j] by token tok[i, j], with
        this total and length. Its tokens, finished flag, trie node and decoder rows (of the
        state after the step) are its parent's."""
        b, k = parent.shape
        finished = self.finished.gather(1, parent) | (tok == EOS)
        rows = (torch.arange(b, device=parent.device)[:, None] * k + parent).flatten()  # each beam's parent row
        nodes = None
        if trie is not None:
            prev = self.nodes[rows]
            moving = (~finished).flatten()  # EOS and PAD do not move in the trie
            nodes = torch.where(moving, DeviceTrie.of(trie, prev.device).step(prev, tok.flatten()), prev)
        tokens = torch.cat([self.tokens.gather(1, parent[..., None].expand_as(self.tokens)), tok[..., None]], -1)
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
    def empty(cls, n: int, k: int, steps: int, device: str | torch.device, with_nodes: bool) -> "Beams":
        return cls(torch.full((n, k, steps), PAD, dtype=torch.long, device=device),
                   torch.full((n, k), float("-inf"), device=device), torch.ones(n, k, device=device),
                   torch.zeros(n, k, dtype=torch.bool, device=device),
                   torch.zeros((n, k), dtype=torch.long, device=device) if with_nodes else None)

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
    if search.trie is not None:
        logp = logp.masked_fill(~DeviceTrie.of(search.trie, logp.device).allowed(nodes), float("-inf"))
    elif step == 0:
        logp[:, EOS] = float("-inf")  # no empty word (the trie holds none)
    logp[:, :EOS] = float("-inf")  # PAD and BOS are never emitted
    if step == search.max_len:  # out of room: only EOS
        logp = logp.masked_fill(torch.arange(logp.shape[1], device=logp.device) != EOS, float("-inf"))
    return logp


def _start(search: Search, state: DecoderState, batch_size: int, k: int) -> BeamState:
    """Step 0: one hypothesis (BOS) per swipe, whose k best tokens become its k beams."""
    dev, b = search.device, batch_size
    logits, state = search.step_logits(torch.full((b,), BOS, dtype=torch.long, device=dev), state)
    root = torch.zeros(b, dtype=torch.long, device=dev)
    logp = _mask(search, torch.log_softmax(logits.float(), -1), root, 0)  # (B, V)
    top, tok = _top(logp, k)  # (B, K)
    nodes = None
    if search.trie is not None:
        nodes = DeviceTrie.of(search.trie, dev).step(torch.zeros(b * k, dtype=torch.long, device=dev), tok.flatten())
    return BeamState(torch.arange(b, device=dev), tok[..., None], top, torch.ones(b, k, device=dev),
                     tok == EOS, nodes, state.expand_beams(k))


def _extend(search: Search, beams: BeamState, cfg: BeamConfig, step: int) -> BeamState:
    """One step: every beam's continuations scored, the K best per swipe kept, state reordered."""
    b, k = beams.total.shape
    v = search.alphabet.size
    logits, decoder = search.step_logits(beams.tokens[:, :, -1].flatten(), beams.decoder)
    logp = _mask(search, torch.log_softmax(logits.float(), -1), beams.nodes, step).view(b, k, v)
    vocab = torch.arange(v, device=logp.device)
    # a finished beam continues only by PAD, at no cost and no extra length
    logp = torch.where(beams.finished[..., None], torch.where(vocab == PAD, 0.0, float("-inf")), logp)
    cand_total = beams.total[..., None] + logp  # (B, K, V)
    cand_len = (beams.length + (~beams.finished).float())[..., None].expand(b, k, v)
    _, idx = _top(_norm(cand_total, cand_len, cfg.length_alpha).view(b, k * v), k)  # (B, K) of K·V
    return beams.follow(idx // v, idx % v, cand_total.view(b, k * v).gather(1, idx),
                        cand_len.reshape(b, k * v).gather(1, idx), decoder, search.trie)


def run_beams(search: Search, state: DecoderState, batch_size: int, cfg: BeamConfig,
              stop_after: int | None = None) -> Beams:
    """The search itself: up to max_len + 1 steps, or `stop_after` steps with beams still open.

    A swipe whose beams have all settled leaves the batch, so later steps decode live swipes
    only and a batch costs what its live swipes cost rather than what its longest word does.
    """
    k = cfg.beam_size
    beams = _start(search, state, batch_size, k)
    out = Beams.empty(batch_size, k, search.max_len + 1, search.device, search.trie is not None)
    for step in range(1, search.max_len + 1):
        settled = beams.settled()
        if bool(settled.any()):
            if bool(settled.all()):
                out.put(beams)
                return out
            out.put(beams, settled.nonzero()[:, 0])
            beams = beams.keep((~settled).nonzero()[:, 0])
        if stop_after is not None and step >= stop_after:
            break
        beams = _extend(search, beams, cfg, step)
    out.put(beams)
    return out


def rank(beams: Beams, search: Search, cfg: BeamConfig) -> Candidates:
    """Finished beams → ranked, de-duplicated (word, score) lists, with the frequency prior."""
    score = _norm(beams.total, beams.length, cfg.length_alpha).cpu().numpy()
    tokens, finished = beams.tokens.cpu().numpy(), beams.finished.cpu().numpy()
    trie = search.trie
    nodes = beams.nodes.cpu().numpy() if beams.nodes is not None else None
    out = []
    for i in range(score.shape[0]):
        cands: dict[str, float] = {}
        for j in range(score.shape[1]):
            if not finished[i, j] or not np.isfinite(score[i, j]):
                continue
            word = search.alphabet.decode(tokens[i, j])
            s = float(score[i, j])
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


# ----------------------------------------------------------------------------- with the model
def model_search(model: torch.nn.Module, batch: dict[str, Tensor], alphabet: Alphabet, trie: Trie | None
                 ) -> tuple[Search, Tensor, Any]:
    """Encode a collated batch once: the search over the model's cached decode step, the
    memory (B, T, D) and the start of its cache."""
    memory = model.encode(batch["x"], batch["y"], batch["t"], batch["mask"], batch["grid"])
    search = Search(model.decode_step, alphabet, model.cfg.max_word_len, trie, memory.device)
    return search, memory, model.start_cache(memory, batch["mask"])


@torch.inference_mode()
def greedy_words(model: torch.nn.Module, batch: dict[str, Tensor], alphabet: Alphabet,
                 trie: Trie | None) -> Decoded:
    """Greedy decoding of a collated batch with the model's KV cache."""
    search, memory, cache = model_search(model, batch, alphabet, trie)
    return greedy_decode(search, cache, memory.shape[0])


@torch.inference_mode()
def beam_words(model: torch.nn.Module, batch: dict[str, Tensor], alphabet: Alphabet, cfg: BeamConfig,
               trie: Trie | None) -> Candidates:
    """Batched beam search of a collated batch with the model's KV cache."""
    search, memory, cache = model_search(model, batch, alphabet, trie)
    return beam_search(search, cache, memory.shape[0], cfg)


# ----------------------------------------------------------------------------- the oracle
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
def reference_words(model: torch.nn.Module, batch: dict[str, Tensor], alphabet: Alphabet, cfg: BeamConfig,
                    trie: Trie | None) -> Candidates:
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
