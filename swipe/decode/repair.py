"""Levenshtein repair: unconstrained candidates mapped onto the nearest lexicon words."""

from __future__ import annotations

from rapidfuzz import distance, process

from swipe.decode.search import Candidates


def levenshtein_repair(cands: Candidates, lexicon: list[str], top_k: int, max_distance: int = 3) -> Candidates:
    """Replace each out-of-lexicon candidate by the nearest lexicon word (Levenshtein distance,
    at most max_distance; ties → the more frequent word, as `lexicon` is frequency-ordered);
    drop it if none is that close. Order is kept; duplicates collapse."""
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
