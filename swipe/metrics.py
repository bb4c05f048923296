"""Scores of ranked candidate lists: swipe_mrr and accuracy@k; the halves of the real dev users.

One definition below every stage that scores: training's validation, evaluation and tuning
all import it from here (no stage reaches up into another for it).

`swipe_mrr` (the competition metric; "mmr" is a typo) over the de-duplicated candidate
list: 1·[c1 = y] + 0.1·[c2 = y] + 0.09·[c3 = y] + 0.08·[c4 = y].
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

MRR_WEIGHTS = (1.0, 0.1, 0.09, 0.08)


def user_half(users: list[str | None], seed: int) -> np.ndarray:
    """True for the users of the tuning half (a stable hash of the id), False for the reporting
    half: weights are tuned and checkpoints chosen on the first, figures reported on the second."""
    return np.array([int(hashlib.blake2b(f"{seed}:{u}".encode(), digest_size=8).hexdigest(), 16) % 2 == 0
                     for u in users])


def dedupe(candidates: Sequence[str]) -> list[str]:
    """Candidates in order, each word once."""
    seen: set[str] = set()
    return [c for c in candidates if not (c in seen or seen.add(c))]


def swipe_mrr(candidates: Sequence[str], reference: str) -> float:
    for w, c in zip(MRR_WEIGHTS, dedupe(candidates)):
        if c == reference:
            return w
    return 0.0


def accuracy_at(candidates: Sequence[str], reference: str, k: int) -> float:
    return float(reference in dedupe(candidates)[:k])


def summarize(candidate_lists: Sequence[Sequence[str]], references: Sequence[str | None]) -> dict[str, float]:
    """Mean swipe_mrr and acc@1..4 over swipes with a reference (unlabeled ones are counted apart)."""
    pairs = [(c, r) for c, r in zip(candidate_lists, references) if r is not None]
    n = len(pairs)
    out = {"n": float(n), "unlabeled": float(len(references) - n)}
    if n == 0:
        return out | {"swipe_mrr": float("nan"), **{f"acc@{k}": float("nan") for k in range(1, 5)}}
    out["swipe_mrr"] = sum(swipe_mrr(c, r) for c, r in pairs) / n
    for k in range(1, 5):
        out[f"acc@{k}"] = sum(accuracy_at(c, r, k) for c, r in pairs) / n
    return out


def breakdown(candidate_lists: Sequence[Sequence[str]], references: Sequence[str | None],
              groups: Sequence[object]) -> dict[object, dict[str, float]]:
    """summarize() per group (word length, layout, seen/unseen, …), groups in sorted order."""
    by: dict[object, tuple[list, list]] = {}
    for c, r, g in zip(candidate_lists, references, groups):
        by.setdefault(g, ([], []))
        by[g][0].append(c)
        by[g][1].append(r)
    def order(g: object) -> tuple:  # numbers numerically, then the rest by name
        return (0, g, "") if isinstance(g, (int, float)) else (1, 0, str(g))

    return {g: summarize(*by[g]) for g in sorted(by, key=order)}
