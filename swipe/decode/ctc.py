"""CTC decoding of a key head's outputs (swipe.model.transformer.KeyHead): numpy only.

The network gives, per point, log-probabilities of a blank (index 0) and of each of the
swipe's layout's letter keys (key k → index k + 1). A word is read as the keys of its
letters on that layout; a letter with no key there (an apostrophe on a layout without one)
is typed, not swiped, so it reads as nothing. Two letters in a row on one key need a blank
between them (the CTC rule), as the training loss has it.

`ctc_beam` is a prefix beam search over the lexicon trie (`swipe.lexicon.Trie`, the shared
one: read-only arrays, never a copy), batched over the swipes of a batch: every point, each
swipe's prefixes (trie nodes) stay (a blank, or the last key again) or step to a child
node; prefixes that meet at one node are merged; each swipe keeps its `beam_size` best by
log p(prefix) + λ · the best log frequency below the node, and its `top_k` best that are
words already (else a swipe could end with only longer prefixes). A finished word scores

    log p(word | swipe) + λ · log frequency + β · letters

`best_path` is the greedy reading (the most likely output at each point, repeats merged,
blanks dropped), outside the lexicon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swipe.lexicon import Alphabet, Trie

Candidates = list[list[tuple[str, float]]]
SPAN = 1e7  # larger than any prefix's score magnitude: orders (swipe, −score) in one float key


@dataclass(frozen=True)
class CtcConfig:
    """The CTC trie beam's settings."""

    beam_size: int = 16  # prefixes kept per swipe after each point
    top_k: int = 8  # words returned per swipe
    freq_weight: float = 0.5  # λ: the words' log relative frequency (a prefix's: the best word below it)
    length_weight: float = 0.0  # β, per letter of a finished word
    prune: float = 16.0  # a prefix more than this many nats below its swipe's best is dropped
    key_floor: float = -7.0  # a prefix is not extended by a key whose log p at the point is below this


def token_keys(letters: str, alphabet: Alphabet) -> np.ndarray:
    """Per token of `alphabet`, its key among a layout's letter keys (`letters`, in the key
    table's order), −1 where the layout has none.  # (V,)"""
    out = np.full(alphabet.size, -1, np.int64)
    for k, ch in enumerate(letters):
        if ch in alphabet.chars and out[alphabet.encode(ch)[0]] < 0:
            out[alphabet.encode(ch)[0]] = k
    return out


def _children(trie: Trie, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every child of each node: (index into `nodes` of its parent, child node), flat."""
    lo = trie.first_child[nodes].astype(np.int64)
    counts = trie.first_child[nodes + 1].astype(np.int64) - lo
    parent = np.repeat(np.arange(len(nodes)), counts)
    child = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
    return parent, child


def _steps(trie: Trie, nodes: np.ndarray, swipes: np.ndarray, keys: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nodes one key away from each node: its children whose letter has a key on the swipe's
    layout, and, through a child whose letter has none, that child's (and so on).
    → (index into `nodes` of the parent, node reached, its key)"""
    parent, child = _children(trie, nodes)
    key = keys[swipes[parent], trie.node_token[child]]
    parents, childs, ks = [parent[:0]], [child[:0]], [key[:0]]
    while len(child):
        ok = key >= 0
        parents.append(parent[ok]), childs.append(child[ok]), ks.append(key[ok])
        if ok.all():
            break
        via, through = parent[~ok], child[~ok]  # letters typed, not swiped: look one letter further
        p2, child = _children(trie, through)
        parent = via[p2]
        key = keys[swipes[parent], trie.node_token[child]]
    return np.concatenate(parents), np.concatenate(childs), np.concatenate(ks)


def _merge(swipe: np.ndarray, node: np.ndarray, key: np.ndarray, lpb: np.ndarray, lpnb: np.ndarray, n_nodes: int
           ) -> tuple[np.ndarray, ...]:
    """Prefixes at the same (swipe, node) summed into one (their last key is the node's)."""
    code = swipe * n_nodes + node
    order = np.argsort(code, kind="stable")
    code = code[order]
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    first = order[starts]
    return (swipe[first], node[first], key[first], np.logaddexp.reduceat(lpb[order], starts),
            np.logaddexp.reduceat(lpnb[order], starts))


def _best_per_swipe(swipe: np.ndarray, score: np.ndarray, k: int, prune: float) -> np.ndarray:
    """Indices of each swipe's k best scores (and within `prune` of its best), by swipe then score.
    One sort of swipe − score / SPAN (scores are finite log-probabilities, far smaller than SPAN)."""
    if not len(swipe):
        return swipe
    finite = np.where(np.isfinite(score), score, -SPAN / 4)
    order = np.argsort(swipe - finite / SPAN, kind="stable")
    s = swipe[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(s)]))
    rank = np.arange(len(s)) - group_start
    ordered = finite[order]
    return order[(rank < k) & (ordered >= ordered[group_start] - prune)]


def ctc_beam(logp: np.ndarray, lengths: np.ndarray, keys: np.ndarray, trie: Trie, cfg: CtcConfig) -> Candidates:
    """Per swipe, its top_k lexicon words (word, score), best first.

    logp (B, T, K + 1): the key head's log-probabilities, blank first; lengths (B,): each
    swipe's points; keys (B, V): each trie token's key on the swipe's layout, −1 for none
    (`token_keys`)."""
    n_swipes = len(lengths)
    lengths = np.asarray(lengths, np.int64)
    swipe = np.arange(n_swipes)
    node = np.zeros(n_swipes, np.int64)
    key = np.full(n_swipes, -1, np.int64)
    lpb, lpnb = np.zeros(n_swipes), np.full(n_swipes, -np.inf)
    lam = cfg.freq_weight
    lookahead = trie.node_max_logfreq.astype(np.float64)
    for t in range(int(lengths.max(initial=0))):
        live = lengths[swipe] > t
        if not live.all():  # swipes that have ended keep their prefixes as they are
            done = ~live
            kept = (swipe[done], node[done], key[done], lpb[done], lpnb[done])
            swipe, node, key, lpb, lpnb = swipe[live], node[live], key[live], lpb[live], lpnb[live]
        else:
            kept = None
        lp = logp[swipe, t].astype(np.float64)  # (H, K + 1)
        total = np.logaddexp(lpb, lpnb)
        rows = np.arange(len(swipe))
        stay_b = total + lp[:, 0]
        stay_nb = np.where(key >= 0, lpnb + lp[rows, key + 1], -np.inf)
        grow = lp[:, 1:].max(1) >= cfg.key_floor  # prefixes at a point where some key is likely enough
        if not grow.any():  # no key is likely here: every prefix stays (a blank, or its last key again)
            lpb, lpnb = stay_b, stay_nb
            if kept is not None:
                swipe, node, key, lpb, lpnb = (np.concatenate([a, b]) for a, b in zip((swipe, node, key, lpb, lpnb), kept))
            continue
        parent, child, ckey = _steps(trie, node[grow], swipe[grow], keys)
        parent = np.flatnonzero(grow)[parent]
        emit = lp[parent, ckey + 1]
        likely = emit >= cfg.key_floor
        parent, child, ckey, emit = parent[likely], child[likely], ckey[likely], emit[likely]
        # a new key after the same key needs the blank between them; after another, either ending
        ext = np.where(ckey == key[parent], lpb[parent], total[parent]) + emit
        swipe, node, key, lpb, lpnb = _merge(
            np.concatenate([swipe, swipe[parent]]), np.concatenate([node, child]), np.concatenate([key, ckey]),
            np.concatenate([stay_b, np.full(len(ext), -np.inf)]), np.concatenate([stay_nb, ext]), trie.n_nodes)
        score = np.logaddexp(lpb, lpnb) + lam * lookahead[node]
        keep = _best_per_swipe(swipe, score, cfg.beam_size, cfg.prune)
        # and each swipe's top_k prefixes that are words already, so that a swipe ends with words even
        # where longer prefixes fill its beam
        ends = np.flatnonzero(trie.node_word[node] >= 0)
        keep = np.union1d(keep, ends[_best_per_swipe(swipe[ends], score[ends], cfg.top_k, cfg.prune)])
        swipe, node, key, lpb, lpnb = swipe[keep], node[keep], key[keep], lpb[keep], lpnb[keep]
        if kept is not None:
            swipe, node, key, lpb, lpnb = (np.r_[a, b] for a, b in zip((swipe, node, key, lpb, lpnb), kept))
    return _finish(trie, swipe, node, np.logaddexp(lpb, lpnb), keys, n_swipes, cfg)


def _finish(trie: Trie, swipe: np.ndarray, node: np.ndarray, total: np.ndarray, keys: np.ndarray, n_swipes: int,
            cfg: CtcConfig) -> Candidates:
    """The words the final prefixes spell (and, through letters with no key, end just after them), scored."""
    words_at, swipes_at, totals = [node], [swipe], [total]
    parent, child = _children(trie, node)
    typed = keys[swipe[parent], trie.node_token[child]] < 0  # a final letter typed, not swiped
    words_at.append(child[typed]), swipes_at.append(swipe[parent[typed]]), totals.append(total[parent[typed]])
    node, swipe, total = np.concatenate(words_at), np.concatenate(swipes_at), np.concatenate(totals)
    word = trie.node_word[node]
    ok = word >= 0
    word, swipe, total = word[ok].astype(np.int64), swipe[ok], total[ok]
    text = [trie.word(int(w)) for w in word]
    letters = np.fromiter((len(s) for s in text), np.float64, len(text))
    score = total + cfg.freq_weight * trie.word_logfreq[word] + cfg.length_weight * letters
    out: Candidates = [[] for _ in range(n_swipes)]
    for m in np.lexsort((-score, swipe)):
        if len(out[swipe[m]]) < cfg.top_k:
            out[swipe[m]].append((text[m], float(score[m])))
    return out


def best_path(logp: np.ndarray, lengths: np.ndarray, letters: list[str]) -> list[str]:
    """Per swipe: the most likely output at each point, repeats merged, blanks dropped, read as
    the letters of its layout's keys (`letters[b]`, in key order)."""
    best = logp.argmax(-1)  # (B, T)
    out = []
    for b, n in enumerate(np.asarray(lengths)):
        path = best[b, :n]
        keep = (path > 0) & np.r_[True, path[1:] != path[:-1]]
        out.append("".join(letters[b][k - 1] for k in path[keep]))
    return out


def word_keys(word: str, letters: str) -> np.ndarray:
    """A word as the keys it is swiped through on a layout (`letters`, in key order): a letter
    with no key there is typed, not swiped, and left out.  # (n,) int64"""
    return np.array([letters.index(c) for c in word if c in letters], np.int64)


def ctc_word_logprobs(logp: np.ndarray, lengths: np.ndarray, swipe: np.ndarray, targets: list[np.ndarray]
                      ) -> np.ndarray:
    """log p(keys | swipe) of each (swipe[m], targets[m]) under CTC (the forward algorithm),
    all M at once: what `ctc_beam` scores a word by before its prior.  # (M,)"""
    m = len(targets)
    if not m:
        return np.zeros(0, np.float64)
    swipe = np.asarray(swipe, np.int64)
    n = np.fromiter((len(t) for t in targets), np.int64, m)
    width = 2 * int(n.max(initial=0)) + 1
    ext = np.zeros((m, width), np.int64)  # blank, k1 + 1, blank, k2 + 1, …, blank
    rows = np.repeat(np.arange(m), n)
    if len(rows):
        ext[rows, 2 * (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) + 1] = np.concatenate(targets) + 1
    states = np.arange(width)
    valid = states[None, :] < (2 * n + 1)[:, None]
    skip = np.zeros((m, width), bool)  # a key may follow the key before last directly unless it is the same key
    skip[:, 2:] = (ext[:, 2:] != ext[:, :-2]) & (ext[:, 2:] > 0)
    r = np.arange(m)[:, None]
    alpha = np.full((m, width), -np.inf)
    first = logp[swipe, 0].astype(np.float64)[r, ext]
    alpha[:, :2] = first[:, :2]
    alpha[~valid] = -np.inf
    t_len = np.asarray(lengths, np.int64)[swipe]
    for t in range(1, int(t_len.max(initial=1))):
        one = np.concatenate([np.full((m, 1), -np.inf), alpha[:, :-1]], 1)
        two = np.where(skip, np.concatenate([np.full((m, 2), -np.inf), alpha[:, :-2]], 1), -np.inf)
        new = np.logaddexp(np.logaddexp(alpha, one), two) + logp[swipe, t].astype(np.float64)[r, ext]
        new[~valid] = -np.inf
        alpha = np.where((t < t_len)[:, None], new, alpha)
    last = alpha[np.arange(m), 2 * n]
    before = np.where(n > 0, alpha[np.arange(m), np.maximum(2 * n - 1, 0)], -np.inf)
    return np.logaddexp(last, before)
