"""Template matching (SHARK2-style, Kristensson & Zhai 2004): a decoder that needs no training.

Each lexicon word's template is the polyline through its letters' key centres on the swipe's
own layout. A swipe and the templates are resampled to N points by arc length and compared
in two channels:

- shape: both normalised (centroid at 0, the larger side of the bounding box = 1), the mean
  distance between corresponding points;
- location: the mean distance between corresponding points, in key widths.

score = −½ (shape / σ_shape)² − ½ (location / σ_location)² + λ · log relative frequency.

Only words that start on a key near the first point and end on a key near the last are
scored (pruning by start and end key); the rest is vectorised over those candidates, so the
cost per swipe is a few thousand templates, not the lexicon. Templates are drawn on the
swipe's own layout, whatever layout it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.geometry import resample
from swipe.keyboard import Layout
from swipe.lexicon import PAD, Alphabet, Trie


@dataclass(frozen=True)
class TemplateConfig:
    """The matcher's settings (defaults: tuned on half of the dev users, `swipe dev calibrate`)."""

    n_points: int = 32  # resampled points per path
    start_radius: float = 1.0  # candidates start on a letter key within this many key widths of the first point
    end_radius: float = 1.5  # … and end on one within this of the last point (lift-off is less careful)
    sigma_shape: float = 0.1  # of the shape channel (normalised units)
    sigma_location: float = 0.6  # of the location channel (key widths)
    freq_weight: float = 1.0  # λ: weight of the log unigram frequency
    shortlist: int = 200  # candidates rescored on n_points after a pass on coarse_points (0: no coarse pass)
    coarse_points: int = 8  # points of the coarse pass over every candidate
    top_k: int = 4  # candidates returned per swipe


@dataclass(frozen=True)
class TemplateIndex:
    """The lexicon as the matcher reads it: each word's tokens, and the words grouped by their
    first and last token (CSR), for pruning. Flat arrays: one ray.put serves every actor."""

    alphabet: Alphabet
    tokens: np.ndarray  # (W, L) int16, PAD after the word
    lengths: np.ndarray  # (W,) int16
    logfreq: np.ndarray  # (W,) float32
    group_start: np.ndarray  # (V·V + 1,) int64: words of group (first, last) = group_words[start[g]:start[g+1]]
    group_words: np.ndarray  # (W,) int32

    @classmethod
    def build(cls, trie: Trie) -> "TemplateIndex":
        words = trie.words()
        flat, lens = trie.alphabet.encode_many(words)
        tokens = np.full((len(words), int(lens.max())), PAD, np.int16)
        rows = np.repeat(np.arange(len(words)), lens)
        cols = np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens)
        tokens[rows, cols] = flat
        v = trie.alphabet.size
        first, last = tokens[:, 0].astype(np.int64), tokens[np.arange(len(words)), lens - 1].astype(np.int64)
        group = first * v + last
        order = np.argsort(group, kind="stable")  # within a group: word-id order, most frequent first
        start = np.searchsorted(group[order], np.arange(v * v + 1))
        return cls(trie.alphabet, tokens, lens.astype(np.int16), np.asarray(trie.word_logfreq, np.float32),
                   start.astype(np.int64), order.astype(np.int32))

    def word(self, i: int) -> str:
        return self.alphabet.decode(self.tokens[i, : self.lengths[i]])


def normalise(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Paths as x, y (C, n) with their centroid at 0 and the larger side of their box 1 (shape only)."""
    side = np.maximum(np.maximum(x.max(1) - x.min(1), y.max(1) - y.min(1)), 1e-6)[:, None]  # (C, 1)
    return (x - x.mean(1, keepdims=True)) / side, (y - y.mean(1, keepdims=True)) / side


@dataclass
class Channels:
    """One swipe's candidates, scored in each channel (what the tuning job re-weights)."""

    words: np.ndarray  # (C,) word ids
    shape: np.ndarray  # (C,) mean distance of the normalised paths
    location: np.ndarray  # (C,) mean distance, in key widths
    start: np.ndarray  # (C,) distance of the first point to the word's first key, in key widths
    end: np.ndarray  # (C,) … of the last point to its last key
    logfreq: np.ndarray  # (C,)


class LayoutKeys:
    """One layout as the matcher needs it: each token's key centre, the key width."""

    def __init__(self, layout: Layout, alphabet: Alphabet):
        self.key_width = layout.key_width
        self.centre = np.full((alphabet.size, 2), np.nan, np.float32)  # NaN: the layout has no key for the token
        for c, xy in zip(layout.letters, layout.letter_centres):
            if c in alphabet.chars:
                self.centre[alphabet.encode(c)[0]] = xy
        self.has = ~np.isnan(self.centre[:, 0])
        self.tokens = np.flatnonzero(self.has)
        self.matched = 0  # swipes matched on this layout: templates are kept once it is in steady use
        # kept templates by lexicon index (id → (index, n → (drawn?, templates))): the largest index
        # (the shared lexicon) is pinned, the KEPT_INDEXES most recent others (users' words) kept beside it
        self._kept: dict[int, tuple[TemplateIndex, dict[int, tuple[np.ndarray, np.ndarray]]]] = {}

    def words(self, index: TemplateIndex) -> "DrawnWords":
        """The lexicon's words as this layout's keys draw them (shared by layouts of the same
        letters)."""
        key = (id(index), self.has.tobytes())
        made = _DRAWN.pop(key, None)
        if made is None or made.index is not index:  # (an id is only reused once its object is gone)
            made = DrawnWords.build(index, self.has)
        _DRAWN[key] = made  # the most recent last: users' small indexes come and go, the shared one stays
        while len(_DRAWN) > 8:
            _DRAWN.pop(next(iter(_DRAWN)))
        return made

    def kept_templates(self, words: np.ndarray, index: TemplateIndex, n: int) -> np.ndarray:
        """`drawn(words, self, index, n)`, each word drawn once on this layout and kept (per
        lexicon index: the shared one pinned, a few users' beside it): a swipe's coarse pass
        measures thousands of candidates, mostly words other swipes measured too. 16·n bytes a
        word, touched once drawn.  # (4, C, n)"""
        return np.take(self._keep(words, index, n), words, axis=1)  # each channel's rows contiguous

    def predraw(self, index: TemplateIndex, n: int) -> None:
        """Draw and keep every drawable word's template at n points at once (289k English
        words at 8 points: 0.45 s, 37 MB): a few thousand a swipe, they cost each swipe ~4 ms
        for its first hundreds of swipes."""
        self._keep(np.flatnonzero(self.words(index).drawable), index, n)

    def keeps(self, n: int, index: TemplateIndex) -> bool:
        """Whether templates of n points are kept for this index (drawn whole, `predraw`)."""
        entry = self._kept.get(id(index))
        return entry is not None and entry[0] is index and n in entry[1]

    def _keep(self, words: np.ndarray, index: TemplateIndex, n: int) -> np.ndarray:
        entry = self._kept.pop(id(index), None)
        if entry is None or entry[0] is not index:  # (an id is only reused once its object is gone)
            entry = (index, {})
        self._kept[id(index)] = entry  # the most recent last
        pinned = max(self._kept.values(), key=lambda e: len(e[0].lengths))[0]
        others = [i for i, e in self._kept.items() if e[0] is not pinned]
        for i in others[:max(len(others) - KEPT_INDEXES, 0)]:
            del self._kept[i]
        kept = entry[1]
        if n not in kept:
            kept[n] = (np.zeros(len(index.lengths), bool), np.empty((4, len(index.lengths), n), np.float32))
        done, paths = kept[n]
        todo = np.unique(words[~done[words]])
        if len(todo):
            paths[:, todo] = drawn(todo, self, index, n)
            done[todo] = True
        return paths


@dataclass(frozen=True)
class DrawnWords:
    """The lexicon on one set of letter keys. THE RULE for a letter the layout has no key for
    (an apostrophe on every shipped English keyboard, an umlaut on a US one): the word is
    swiped past it, as the synthesizer draws it (swipe.data.synth), so its template runs
    through the keys it has ("don't" is drawn d-o-n-t). A word with no key for any of its
    letters cannot be drawn: it is left out of the matcher's candidates and of the fused
    decoder's (counted, `SwipeDecoder.dropped`)."""

    index: TemplateIndex
    drawable: np.ndarray  # (W,) bool: the word has a key for at least one of its letters
    skips: bool  # some drawable word has a letter without a key (its template skips it)
    group_start: np.ndarray  # (V·V + 1,) as TemplateIndex's, by the first and last letter *with a key*
    group_words: np.ndarray  # (W',) int32: drawable words only

    @classmethod
    def build(cls, index: TemplateIndex, has: np.ndarray) -> "DrawnWords":
        toks = index.tokens.astype(np.int64)
        keyed = has[toks] & (toks != PAD)  # (W, L)
        n_keyed = keyed.sum(1)
        drawable = n_keyed > 0
        skips = bool((n_keyed[drawable] != index.lengths[drawable]).any())
        if not skips and drawable.all():
            return cls(index, drawable, False, index.group_start, index.group_words)
        rows = np.arange(len(toks))
        first = toks[rows, keyed.argmax(1)]
        last = toks[rows, toks.shape[1] - 1 - keyed[:, ::-1].argmax(1)]
        v = index.alphabet.size
        words = np.flatnonzero(drawable)
        group = first[words] * v + last[words]
        order = np.argsort(group, kind="stable")  # within a group: word-id order, most frequent first
        start = np.searchsorted(group[order], np.arange(v * v + 1))
        return cls(index, drawable, skips, start.astype(np.int64), words[order].astype(np.int32))


class LayoutCache(dict):
    """The matcher's LayoutKeys by layout name, least recently used first (`match` keeps
    KEPT_LAYOUTS), and the layouts it has drawn the largest lexicon index it matched (`pinned`:
    the shared lexicon, not a user's words) on whole (`predrawn`): a swipe matched alone on
    a layout in use (PREDRAW_AFTER swipes: an online request, a batch of one keyboard's
    swipes) draws every word's coarse template at once (`LayoutKeys.predraw`), once per
    layout: a workload cycling through more layouts than are kept would draw them over and
    over, so an evicted layout goes back to drawing its candidates as they come. (Batches of
    many keyboards keep templates only after KEEP_AFTER swipes: kept arrays made anew for
    layouts that come and go cost more in page faults than they save.)"""

    def __init__(self) -> None:
        super().__init__()
        self.predrawn: set[str] = set()
        self.pinned: TemplateIndex | None = None

    def pin(self, index: TemplateIndex) -> bool:
        """Whether `index` is the largest index matched so far (pinned: it alone is drawn whole)."""
        if self.pinned is None or len(index.lengths) > len(self.pinned.lengths):
            self.pinned, self.predrawn = index, set()
        return index is self.pinned


_DRAWN: dict[tuple[int, bytes], DrawnWords] = {}
KEEP_AFTER = 64  # swipes matched on a layout before its templates are kept (a layout seen a few times draws them)
PREDRAW_AFTER = 8  # swipes matched alone on a layout before its coarse templates are drawn whole (LayoutCache)
PREDRAW_POINTS = 8  # … if they have at most this many points
KEPT_LAYOUTS = 8  # layouts whose templates a decoder keeps (the least recently used go)
KEPT_INDEXES = 4  # lexicon indexes besides the pinned one whose templates a layout keeps (users' words)
PASS_CANDIDATES = 8192  # candidates measured in one pass (whole swipes: a swipe with more is a pass alone)


def candidates(x: np.ndarray, y: np.ndarray, keys: LayoutKeys, index: TemplateIndex, start_radius: float,
               end_radius: float) -> np.ndarray:
    """Word ids that start on a letter key within `start_radius` key widths of the first point
    (or on the nearest key) and end on one within `end_radius` of the last point: the first and
    last of its letters with a key on this layout (`DrawnWords`).  # (C,)"""
    kw = keys.key_width
    d_start = np.hypot(*(keys.centre[keys.tokens] - (x[0], y[0])).T) / kw  # (T,) for each token with a key
    d_end = np.hypot(*(keys.centre[keys.tokens] - (x[-1], y[-1])).T) / kw
    starts = keys.tokens[(d_start <= start_radius) | (d_start == d_start.min())]
    ends = keys.tokens[(d_end <= end_radius) | (d_end == d_end.min())]
    groups = (starts[:, None] * index.alphabet.size + ends[None, :]).ravel()
    drawn_words = keys.words(index)
    if not len(groups):
        return np.zeros(0, drawn_words.group_words.dtype)
    lo, hi = drawn_words.group_start[groups], drawn_words.group_start[groups + 1]
    flat = np.repeat(lo - np.r_[0, np.cumsum(hi - lo)[:-1]], hi - lo) + np.arange((hi - lo).sum())
    return drawn_words.group_words[flat]


def templates(words: np.ndarray, keys: LayoutKeys, index: TemplateIndex, n: int) -> np.ndarray:
    """The words' key-centre paths on this layout, resampled to n points, each through the
    keys it has (`DrawnWords`: a letter without a key is swiped past; every word must have
    one).  # (C, n, 2)

    Words are resampled in buckets of similar length: the cost grows with the longest word in
    the array, and most candidates are short."""
    lens = index.lengths[words].astype(np.int64)
    out = np.empty((len(words), n, 2), np.float32)
    skips = keys.words(index).skips
    for lo, hi in ((0, 8), (8, 16), (16, 1 << 30)):
        rows = np.flatnonzero((lens > lo) & (lens <= hi))
        if len(rows):
            toks = index.tokens[words[rows], : int(lens[rows].max())].astype(np.int64)  # (c, L)
            n_keys = lens[rows]
            if skips:
                toks, n_keys = _keyed(toks, keys.has)
            out[rows] = resample(keys.centre[np.where(toks == PAD, toks[:, :1], toks)], n_keys, n)
    return out


def _keyed(toks: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Words' tokens (c, L) with the letters that have no key taken out (the rest moved up, PAD
    after), and how many are left.  # (c, L), (c,)"""
    keyed = has[toks] & (toks != PAD)
    n_keys = keyed.sum(1)
    if (keyed == (toks != PAD)).all():
        return toks, n_keys
    order = np.argsort(~keyed, axis=1, kind="stable")  # the keyed letters first, in their order
    out = np.take_along_axis(toks, order, 1)
    out[np.arange(toks.shape[1])[None, :] >= n_keys[:, None]] = PAD
    return out, n_keys


def drawn(words: np.ndarray, keys: LayoutKeys, index: TemplateIndex, n: int) -> np.ndarray:
    """The words' templates at n points as x, y, and x, y normalised (`normalise`).  # (4, C, n)"""
    tmpl = templates(words, keys, index, n)
    tx, ty = np.ascontiguousarray(tmpl[..., 0]), np.ascontiguousarray(tmpl[..., 1])
    return np.stack([tx, ty, *normalise(tx, ty)])


def measure(x: np.ndarray, y: np.ndarray, words: np.ndarray, keys: LayoutKeys, index: TemplateIndex,
            n: int) -> Channels:
    """The channel distances of these candidate words for one swipe, paths resampled to n points."""
    kw = keys.key_width
    path = resample(np.stack([x, y], 1)[None].astype(np.float32), np.array([len(x)]), n)  # (1, n, 2)
    if len(words) == 0:
        empty = np.zeros(0, np.float32)
        return Channels(words, empty, empty, empty, empty, empty)
    tmpl = templates(words, keys, index, n)  # (C, n, 2)
    tx, ty = np.ascontiguousarray(tmpl[..., 0]), np.ascontiguousarray(tmpl[..., 1])  # (C, n) each: fast reductions
    px, py = path[:, :, 0], path[:, :, 1]  # (1, n)
    location = _mean_distance(tx - px, ty - py) / kw
    (ntx, nty), (npx, npy) = normalise(tx, ty), normalise(px, py)
    shape = _mean_distance(ntx - npx, nty - npy)
    d_first = np.hypot(tx[:, 0] - px[0, 0], ty[:, 0] - py[0, 0]) / kw  # to the word's first key centre
    d_last = np.hypot(tx[:, -1] - px[0, -1], ty[:, -1] - py[0, -1]) / kw
    return Channels(words, shape, location, d_first, d_last, index.logfreq[words])


def channels(x: np.ndarray, y: np.ndarray, keys: LayoutKeys, index: TemplateIndex, cfg: TemplateConfig) -> Channels:
    """Every candidate of one swipe (within cfg's radii), measured at cfg.n_points."""
    return measure(x, y, candidates(x, y, keys, index, cfg.start_radius, cfg.end_radius), keys, index, cfg.n_points)


def _mean_distance(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Mean length of the point-to-point differences dx, dy (C, n), both overwritten (the
    callers' temporaries). The mean as a product with 1/n: a reduction over a short last
    axis is ~20 times slower in numpy.  # (C,)"""
    dx *= dx
    dy *= dy
    dx += dy
    return np.sqrt(dx, out=dx) @ np.full(dx.shape[1], 1 / dx.shape[1], dx.dtype)


def _rows_of(a: np.ndarray, swipe: np.ndarray) -> np.ndarray:
    """a[swipe]: each candidate's row of its swipe's array; a repeat where `swipe` is sorted
    (each swipe's candidates together, as the matcher's passes hold them), 3 times faster."""
    if len(swipe) > 1 and (swipe[1:] >= swipe[:-1]).all():
        return np.repeat(a, np.bincount(swipe, minlength=len(a)), axis=0)
    return a[swipe]


def score(ch: Channels, cfg: TemplateConfig, nearest: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """log-likelihood of each candidate (−inf: outside the radii of `cfg`, unless on the
    nearest key of its own swipe). `nearest`: each candidate's swipe's smallest start and end
    distances (`nearest_keys`) when `ch` holds the candidates of many swipes (calibration);
    None: `ch` is one swipe's."""
    s = (-0.5 * (ch.shape / cfg.sigma_shape) ** 2 - 0.5 * (ch.location / cfg.sigma_location) ** 2
         + cfg.freq_weight * ch.logfreq)
    start_min, end_min = nearest or (ch.start.min(initial=np.inf), ch.end.min(initial=np.inf))
    inside = (ch.start <= cfg.start_radius) | (ch.start == start_min)
    inside &= (ch.end <= cfg.end_radius) | (ch.end == end_min)
    return np.where(inside, s, -np.inf)


def nearest_keys(ch: Channels, swipe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For candidates of many swipes (`swipe` (M,), each swipe's candidates contiguous): the
    smallest start and end distance of each candidate's own swipe.  # (M,) each"""
    if not len(swipe):
        return ch.start, ch.end
    first = np.flatnonzero(np.r_[True, swipe[1:] != swipe[:-1]])  # where each swipe's run begins
    runs = np.diff(np.r_[first, len(swipe)])
    return (np.repeat(np.minimum.reduceat(ch.start, first), runs), np.repeat(np.minimum.reduceat(ch.end, first), runs))


@dataclass
class Matched:
    """A batch's best template candidates, flat: each swipe's contiguous and best first, with
    the channels they were ranked by (measured at `n_points`)."""

    swipe: np.ndarray  # (M,) position of the candidate's swipe in the batch
    words: np.ndarray  # (M,) word ids
    score: np.ndarray  # (M,)
    shape: np.ndarray  # (M,)
    location: np.ndarray  # (M,) key widths


def swipe_paths(batch: SwipeBatch, n: int) -> np.ndarray:
    """Every swipe of a batch resampled to n points by arc length.  # (S, n, 2)"""
    lens = batch.lengths.astype(np.int64)
    width = max(int(lens.max(initial=1)), 1)
    pts = np.zeros((len(batch), width, 2), np.float32)
    rows = np.repeat(np.arange(len(batch)), lens)
    cols = np.arange(len(batch.x)) - np.repeat(batch.offsets[:-1], lens)
    pts[rows, cols, 0], pts[rows, cols, 1] = batch.x, batch.y
    return resample(pts, lens, n)


def measure_many(paths: np.ndarray, swipe: np.ndarray, words: np.ndarray, keys: list[LayoutKeys],
                 index: TemplateIndex, n: int, keep: bool = False) -> Channels:
    """`measure` for the candidates of many swipes at once: candidate c is word `words[c]` of
    swipe `swipe[c]`, whose path is paths[swipe[c]] (`swipe_paths` at n points) and whose
    layout is keys[swipe[c]]. The same figures as `measure` swipe by swipe. `keep`: the
    templates of a layout in steady use (KEEP_AFTER swipes) are drawn once and kept
    (`LayoutKeys.kept_templates`)."""
    if len(words) == 0:
        empty = np.zeros(0, np.float32)
        return Channels(words, empty, empty, empty, empty, empty)
    distinct = {id(k): k for k in keys}
    which = np.array([list(distinct).index(id(k)) for k in keys], np.int64)[swipe]  # each candidate's layout
    on = [(k, np.flatnonzero(which == j)) for j, k in enumerate(distinct.values())]
    on = [(k, rows) for k, rows in on if len(rows)]

    def draw(k: LayoutKeys, w: np.ndarray) -> np.ndarray:
        kept = keep and (k.matched > KEEP_AFTER or k.keeps(n, index))
        return k.kept_templates(w, index, n) if kept else drawn(w, k, index, n)

    if len(on) == 1:  # one layout (a pass's swipes mostly are): no copy into place
        tmpl = draw(on[0][0], words)
    else:
        tmpl = np.empty((4, len(words), n), np.float32)
        for k, rows in on:
            tmpl[:, rows] = draw(k, words[rows])
    tx, ty, ntx, nty = tmpl  # (C, n) each
    kw = np.array([k.key_width for k in keys], np.float32)[swipe]
    px, py = np.ascontiguousarray(paths[:, :, 0]), np.ascontiguousarray(paths[:, :, 1])  # (S, n)
    npx, npy = normalise(px, py)
    d_first = np.hypot(tx[:, 0] - px[swipe, 0], ty[:, 0] - py[swipe, 0]) / kw  # to the word's first key centre
    d_last = np.hypot(tx[:, -1] - px[swipe, -1], ty[:, -1] - py[swipe, -1]) / kw
    dx, dy = _rows_of(px, swipe), _rows_of(py, swipe)
    location = _mean_distance(np.subtract(tx, dx, out=dx), np.subtract(ty, dy, out=dy)) / kw
    dx, dy = _rows_of(npx, swipe), _rows_of(npy, swipe)
    shape = _mean_distance(np.subtract(ntx, dx, out=dx), np.subtract(nty, dy, out=dy))
    return Channels(words, shape, location, d_first, d_last, index.logfreq[words])


def best_per_swipe(swipe: np.ndarray, s: np.ndarray, k: int) -> np.ndarray:
    """Rows of each swipe's k highest `s`, grouped by swipe, best first (ties: the earlier row).  # (≤ k·S,)

    Swipe by swipe (a batch's ~90k candidates are a few thousand a swipe): the k-th highest
    by partition, then only the rows at or above it sorted."""
    if not len(s):
        return np.zeros(0, np.int64)
    order = np.argsort(swipe, kind="stable")
    sw = swipe[order]
    bounds = np.flatnonzero(np.r_[True, sw[1:] != sw[:-1], True])
    out = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        rows = order[a:b]
        neg = -s[rows]
        kth = np.partition(neg, k - 1)[k - 1] if b - a > k else np.nan
        if not np.isnan(kth):  # every row at or above the k-th highest (ties included), in row order
            rows = rows[neg <= kth]
            neg = -s[rows]
        out.append(rows[np.argsort(neg, kind="stable")[:k]])
    return np.concatenate(out)


def match(batch: SwipeBatch, layouts: dict[str, Layout], index: TemplateIndex, cfg: TemplateConfig,
          cache: dict[str, LayoutKeys] | None = None) -> Matched:
    """Every swipe of a batch on its own layout: its top_k candidates with their channels.
    Coarse to fine: a swipe's candidates are scored on `coarse_points` points when there are
    more than `shortlist`, its best `shortlist` again on n_points (0: all on n_points). Each
    pass runs over the candidates of several swipes at once (about PASS_CANDIDATES)."""
    cache = {} if cache is None else cache
    for g in dict.fromkeys(batch.grid_names):  # least recently used first; only KEPT_LAYOUTS keep templates
        cache[g] = cache.pop(g, None) or LayoutKeys(layouts[g], index.alphabet)
    while len(cache) > max(KEPT_LAYOUTS, len(set(batch.grid_names))):
        cache.pop(next(iter(cache)))
    keys = [cache[g] for g in batch.grid_names]
    for k in keys:
        k.matched += 1
    g = batch.grid_names[0] if len(set(batch.grid_names)) == 1 else None
    if (g is not None and isinstance(cache, LayoutCache) and cache.pin(index) and g not in cache.predrawn
            and keys[0].matched > PREDRAW_AFTER and cfg.shortlist and cfg.coarse_points <= PREDRAW_POINTS):
        keys[0].predraw(index, cfg.coarse_points)
        cache.predrawn.add(g)
    found = [candidates(batch.x[a:b], batch.y[a:b], k, index, cfg.start_radius, cfg.end_radius)
             for a, b, k in zip(batch.offsets[:-1], batch.offsets[1:], keys)]
    counts = np.array([len(f) for f in found], np.int64)
    words = np.concatenate(found).astype(np.int64) if found else np.zeros(0, np.int64)
    swipe = np.repeat(np.arange(len(batch)), counts)
    coarse, fine = swipe_paths(batch, cfg.coarse_points), swipe_paths(batch, cfg.n_points)
    # passes over a few swipes' candidates at a time: arrays that stay in the CPU's cache (one
    # pass over a whole batch's ~90k candidates ran slower than swipe by swipe)
    group = (np.cumsum(counts) - counts) // PASS_CANDIDATES  # per swipe, by where its candidates start
    bounds = np.r_[0, np.cumsum(np.bincount(group, weights=counts).astype(np.int64))]
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        sw, wd = swipe[lo:hi], words[lo:hi]
        big = counts[sw] > cfg.shortlist if cfg.shortlist else np.zeros(len(sw), bool)
        if big.any():
            rows = np.flatnonzero(big)
            ch = measure_many(coarse, sw[rows], wd[rows], keys, index, cfg.coarse_points, keep=True)
            chosen = rows[best_per_swipe(sw[rows], score(ch, cfg, nearest_keys(ch, sw[rows])), cfg.shortlist)]
            sel = np.concatenate([np.flatnonzero(~big), chosen])
            sel = sel[np.argsort(sw[sel], kind="stable")]  # each swipe's rows in its own order
            sw, wd = sw[sel], wd[sel]
        ch = measure_many(fine, sw, wd, keys, index, cfg.n_points, keep=True)
        s = score(ch, cfg, nearest_keys(ch, sw))
        finite = np.flatnonzero(np.isfinite(s))
        top = finite[best_per_swipe(sw[finite], s[finite], cfg.top_k)]
        parts.append(Matched(sw[top], wd[top], s[top], ch.shape[top], ch.location[top]))
    if not parts:
        empty = np.zeros(0, np.float32)
        return Matched(np.zeros(0, np.int64), np.zeros(0, np.int64), empty, empty, empty)
    return Matched(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("swipe", "words", "score", "shape",
                                                                               "location")))


def template_words(batch: SwipeBatch, layouts: dict[str, Layout], index: TemplateIndex, cfg: TemplateConfig,
                   cache: dict[str, LayoutKeys] | None = None) -> list[list[tuple[str, float]]]:
    """Decode every swipe of a batch on its own layout: per swipe, up to top_k (word, score)."""
    m = match(batch, layouts, index, cfg, cache)
    out: list[list[tuple[str, float]]] = [[] for _ in range(len(batch))]
    for i, w, sc in zip(m.swipe.tolist(), m.words.tolist(), m.score.tolist()):
        out[i].append((index.word(w), sc))
    return out
