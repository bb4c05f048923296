"""The array operations a search runs on, for numpy or torch: one search, two backends.

`swipe.decode.search` is written against `ArrayOps`, so the same beam search runs on torch
tensors (the model's KV cache, on any device) and on numpy arrays (an exported model's
onnxruntime session, with torch never imported). Indexing, arithmetic and comparisons are
the arrays' own (they mean the same in both); what differs is here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal, Protocol

import numpy as np

from swipe.lexicon import Trie

Backend = Literal["torch", "numpy"]


class TrieOps(Protocol):
    """A trie's two search operations on the backend's arrays (as `Trie.step` / `allowed_next_tokens`)."""

    def step(self, nodes: Any, tokens: Any) -> Any: ...

    def allowed(self, nodes: Any) -> Any: ...


class ArrayOps(Protocol):
    """Array creation and the few operations whose spelling differs between numpy and torch."""

    long: Any
    float32: Any
    bool_: Any

    def full(self, shape: tuple[int, ...], value: float, dtype: Any) -> Any: ...

    def arange(self, n: int) -> Any: ...

    def where(self, cond: Any, a: Any, b: Any) -> Any: ...

    def log_softmax(self, x: Any) -> Any:
        """Over the last axis, in float32."""
        ...

    def top(self, score: Any, k: int) -> tuple[Any, Any]:
        """The k best of each row (values, indices), ties to the lower index."""
        ...

    def cat(self, xs: list[Any], axis: int) -> Any: ...

    def broadcast(self, x: Any, shape: tuple[int, ...]) -> Any: ...

    def as_float(self, x: Any) -> Any: ...

    def clamp_min(self, x: Any, low: float) -> Any: ...

    def nonzero(self, x: Any) -> Any:
        """Indices of the True entries of a 1-D bool array."""
        ...

    def numpy(self, x: Any) -> np.ndarray: ...

    def trie(self, trie: Trie) -> TrieOps: ...


class HostTrie:
    """The trie's own numpy operations under the TrieOps names."""

    def __init__(self, trie: Trie):
        self.trie = trie

    def step(self, nodes: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        return self.trie.step(nodes, tokens)

    def allowed(self, nodes: np.ndarray) -> np.ndarray:
        return self.trie.allowed_next_tokens(nodes)


class NumpyOps:
    """numpy arrays on the host."""

    long, float32, bool_ = np.int64, np.float32, np.bool_

    def full(self, shape: tuple[int, ...], value: float, dtype: Any) -> np.ndarray:
        return np.full(shape, value, dtype=dtype)

    def arange(self, n: int) -> np.ndarray:
        return np.arange(n)

    def where(self, cond: np.ndarray, a: Any, b: Any) -> np.ndarray:
        out = np.where(cond, a, b)
        if out.dtype == np.float64 and not any(getattr(v, "dtype", None) == np.float64 for v in (a, b)):
            out = out.astype(np.float32)  # two Python floats: float32, as torch makes them
        return out

    def log_softmax(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        z = x - x.max(-1, keepdims=True)
        with np.errstate(divide="ignore"):
            return z - np.log(np.exp(z).sum(-1, keepdims=True))

    def top(self, score: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        idx = np.argsort(-score, axis=-1, kind="stable")[..., :k]  # −(−inf) = inf sorts last
        return np.take_along_axis(score, idx, -1), idx

    def cat(self, xs: list[np.ndarray], axis: int) -> np.ndarray:
        return np.concatenate(xs, axis)

    def broadcast(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(x, shape)

    def as_float(self, x: np.ndarray) -> np.ndarray:
        return x.astype(np.float32)

    def clamp_min(self, x: np.ndarray, low: float) -> np.ndarray:
        return np.maximum(x, low).astype(x.dtype, copy=False)


    def nonzero(self, x: np.ndarray) -> np.ndarray:
        return np.flatnonzero(x)

    def numpy(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)

    def trie(self, trie: Trie) -> TrieOps:
        return HostTrie(trie)


@lru_cache(maxsize=None)
def array_ops(backend: Backend, device: str = "cpu") -> ArrayOps:
    """The operations of a backend (torch on `device`); torch is imported only when asked for."""
    if backend == "numpy":
        return NumpyOps()
    if backend == "torch":
        from swipe.decode.device import TorchOps

        return TorchOps(device)
    raise ValueError(f"unknown array backend {backend!r}; choose from ('torch', 'numpy')")
