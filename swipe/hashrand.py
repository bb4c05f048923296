"""Counter-based randomness: numbers that are a pure function of (seed, keys).

Used where the same row must get the same random draw whichever task, block or batch it
lands in (split assignment, augmentation): no generator state to carry between processes.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, vectorised over uint64."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hash_keys(*keys: np.ndarray | int) -> np.ndarray:
    """Mix several integer keys (broadcast together) into one uint64 hash per element."""
    h = np.zeros(np.broadcast_shapes(*(np.shape(k) for k in keys)), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in keys:
            h = splitmix64(h ^ np.asarray(k).astype(np.int64).astype(np.uint64))
    return h


def uniform(*keys: np.ndarray | int) -> np.ndarray:
    """Uniform floats in [0, 1), one per broadcast element of the keys."""
    return (hash_keys(*keys) >> np.uint64(11)).astype(np.float64) / 2.0 ** 53


def normal(*keys: np.ndarray | int) -> np.ndarray:
    """Standard normal floats (Box–Muller on two hashed uniforms)."""
    u1 = uniform(*keys, 1)
    u2 = uniform(*keys, 2)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2 * np.pi * u2)
