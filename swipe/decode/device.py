"""The search's array operations in torch, on the model's device, and the trie as device tensors."""

from __future__ import annotations

import warnings
import weakref
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from swipe.lexicon import EOS, Trie


class TorchOps:
    """swipe.decode.arrays.ArrayOps on torch tensors of one device."""

    long, float32, bool_ = torch.long, torch.float32, torch.bool

    def __init__(self, device: str | torch.device):
        self.device = torch.device(device)

    def full(self, shape: tuple[int, ...], value: float, dtype: Any) -> Tensor:
        return torch.full(shape, value, dtype=dtype, device=self.device)

    def arange(self, n: int) -> Tensor:
        return torch.arange(n, device=self.device)

    def where(self, cond: Tensor, a: Any, b: Any) -> Tensor:
        return torch.where(cond, a, b)

    def log_softmax(self, x: Tensor) -> Tensor:
        return torch.log_softmax(x.float(), -1)

    def top(self, score: Tensor, k: int) -> tuple[Tensor, Tensor]:
        # sort, not topk: topk's order among ties is unspecified (argmax's and the reference's: the lower index)
        values, idx = score.sort(dim=-1, descending=True, stable=True)
        return values[..., :k], idx[..., :k]

    def cat(self, xs: list[Tensor], axis: int) -> Tensor:
        return torch.cat(xs, axis)

    def broadcast(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        return x.expand(shape)

    def as_float(self, x: Tensor) -> Tensor:
        return x.float()

    def clamp_min(self, x: Tensor, low: float) -> Tensor:
        return x.clamp(min=low)


    def nonzero(self, x: Tensor) -> Tensor:
        return x.nonzero()[:, 0]

    def numpy(self, x: Tensor) -> np.ndarray:
        return x.cpu().numpy()

    def trie(self, trie: Trie) -> "DeviceTrie":
        return DeviceTrie.of(trie, self.device)


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

    # made per (trie, device), least recently used first: each holds its trie, so a weak
    # reference alone never let a user's trie go; the shared trie is used by every request
    _made: dict[tuple[int, str], tuple[Any, "DeviceTrie"]] = {}
    KEPT = 16  # device tries kept (users' small ones come and go)

    def __init__(self, trie: Trie, device: str | torch.device, kernels: Literal["auto", "torch"] = "auto"):
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
        key = (id(trie), str(device))
        ref, made = cls._made.pop(key, (None, None))
        if ref is None or ref() is not trie:  # (an id is only reused once its object is gone)
            made = cls(trie, device)
        cls._made[key] = (weakref.ref(trie), made)  # the most recent last
        while len(cls._made) > cls.KEPT:
            cls._made.pop(next(iter(cls._made)))
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
