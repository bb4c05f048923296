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

from swipe.lexicon import BOS, EOS, Alphabet, Trie

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


@torch.no_grad()
def greedy_words(model: torch.nn.Module, batch: dict[str, Tensor], alphabet: Alphabet,
                 trie: Trie | None) -> Decoded:
    """Encode a collated batch once, then decode it greedily with the KV cache."""
    memory = model.encode(batch["x"], batch["y"], batch["t"], batch["mask"], batch["grid"])
    cache = model.start_cache(memory, batch["mask"])
    return greedy_decode(model_step_fn(model), cache, memory.shape[0], alphabet,
                         model.cfg.max_word_len, trie, memory.device)
