"""Alphabet and tokenizer, word lists with frequencies, and the lexicon trie as flat arrays.

The trie is a handful of numpy arrays (CSR layout, nodes numbered breadth-first so that
the children of a node are contiguous and sorted by token). No Python objects per node:
one `ray.put` of the arrays serves every actor on a node without copies, and the full
Russian `wordfreq` list (~670k words) builds in seconds.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Literal

import numpy as np

from swipe import storage
from swipe.config import build_config
from swipe.keyboard import Layout, char_positions

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<bos>", "<eos>")


# ----------------------------------------------------------------------------- alphabet
@dataclass(frozen=True)
class Alphabet:
    """Characters a decoder can emit; token ids are the specials, then the characters."""

    chars: str

    def __post_init__(self) -> None:
        if len(set(self.chars)) != len(self.chars):
            raise ValueError(f"alphabet has repeated characters: {self.chars!r}")

    @property
    def size(self) -> int:
        """Number of tokens, specials included (the model's output size)."""
        return len(SPECIALS) + len(self.chars)

    @property
    def tokens(self) -> tuple[str, ...]:
        return SPECIALS + tuple(self.chars)

    def encode(self, word: str) -> list[int]:
        """Characters → token ids (no BOS/EOS). KeyError names a character not in the alphabet."""
        try:
            return [self._index[c] for c in word]
        except KeyError as e:
            raise KeyError(f"character {e.args[0]!r} of {word!r} is not in the alphabet") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids → characters, stopping at EOS and skipping PAD/BOS."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i >= len(SPECIALS):
                out.append(self.chars[i - len(SPECIALS)])
        return "".join(out)

    def encode_many(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised encode of many words → (flat token ids (sum len,), lengths (N,)).

        Characters outside the alphabet become -1 (callers filter before encoding).
        """
        lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
        pos = char_positions(self.chars, "".join(words))
        return np.where(pos >= 0, pos + len(SPECIALS), -1).astype(np.int32), lengths

    @cached_property
    def _index(self) -> dict[str, int]:
        return {c: i + len(SPECIALS) for i, c in enumerate(self.chars)}


def build_alphabet(layouts: Iterable[Layout], extra_chars: str = "") -> Alphabet:
    """Union of the layouts' letters (first-seen order) plus `extra_chars` (e.g. `-`, `'`).

    Extra characters have no key of their own in a layout: a decoder may emit them, and the
    synthesizer swipes straight past them.
    """
    chars: list[str] = []
    for lay in layouts:
        chars.extend(c for c in lay.letters if c not in chars)
    chars.extend(c for c in extra_chars if c not in chars)
    return Alphabet("".join(chars))


# ----------------------------------------------------------------------------- word lists
@dataclass(frozen=True)
class LexiconConfig:
    """Where the word list comes from and how it is filtered."""

    source: Literal["wordfreq", "file"] = "wordfreq"  # wordfreq: the language's frequency list | file: a word<TAB>count file at `path`
    language: str = "en"  # wordfreq language code, when source=wordfreq
    path: str | None = None  # a `word<TAB>count` file, when source=file
    top_n: int | None = None  # keep the N most frequent words after filtering (None: all)
    max_word_len: int = 32  # longer words are dropped ("too_long")
    lowercase: bool = True  # fold case; words that then collide have their counts summed
    extra_chars: str = "'"  # characters besides the layout letters that words may contain


@dataclass
class WordList:
    """Unique words with their counts (or frequencies), most frequent first."""

    words: list[str]
    counts: np.ndarray  # (N,) float64
    dropped: Counter = field(default_factory=Counter)  # reason → number of words dropped
    source: str = ""
    missing_chars: Counter = field(default_factory=Counter)  # a character no layout has → words it kept out
    unspellable: list[str] = field(default_factory=list)  # the most frequent words kept out for them (≤ 10)

    def report(self) -> str:
        """One line: how many words were kept, how many dropped and why, what the layouts cannot spell."""
        line = f"word list {self.source}: {len(self)} words kept"
        if self.dropped:
            line += ", dropped " + ", ".join(f"{n} {why}" for why, n in self.dropped.most_common())
        if self.missing_chars:
            line += ("; the layouts cannot spell " + ", ".join(self.unspellable[:5]) + " … (characters missing: "
                     + " ".join(f"{c!r} {n}" for c, n in self.missing_chars.most_common(8)) + ")")
        return line

    def record(self) -> dict:
        """What a manifest or model records of the list it used."""
        return {"source": self.source, "words": len(self), "dropped": dict(self.dropped),
                "missing_chars": dict(self.missing_chars.most_common(20)), "unspellable": self.unspellable}

    def __len__(self) -> int:
        return len(self.words)

    def sample(self, n: int, uniform_share: float, rng: np.random.Generator) -> np.ndarray:
        """Indices of `n` words drawn by frequency, except a `uniform_share` drawn uniformly:
        the floor that lets rare words appear at all.  # (n,) int64"""
        by_freq = rng.choice(len(self.words), size=n, p=self.counts / self.counts.sum())
        uniform = rng.integers(0, len(self.words), size=n)
        return np.where(rng.random(n) < uniform_share, uniform, by_freq)


def load_word_counts(path: str | Path) -> tuple[dict[str, float], Counter]:
    """Read a `word<TAB>count` file (a bare word counts 1). Returns counts and malformed lines."""
    counts: dict[str, float] = {}
    bad: Counter = Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n\r")
            if not line.strip():
                continue
            word, _, count = line.partition("\t")
            try:
                c = float(count) if count else 1.0
            except ValueError:
                bad["malformed_line"] += 1
                continue
            if not math.isfinite(c) or c <= 0:
                bad["bad_count"] += 1
                continue
            counts[word] = counts.get(word, 0.0) + c
    return counts, bad


def load_word_list(cfg: LexiconConfig, alphabet: Alphabet) -> WordList:
    """Load the configured word list and keep only words spellable in `alphabet`."""
    if cfg.source == "wordfreq":
        import wordfreq  # local data files shipped in the package: no network

        raw = wordfreq.get_frequency_dict(cfg.language, wordlist="large")
        dropped: Counter = Counter()
        source = f"wordfreq:{cfg.language}:large"
    else:
        if cfg.path is None:
            raise ValueError("lexicon.source=file needs lexicon.path")
        raw, dropped = load_word_counts(cfg.path)
        source = f"file:{cfg.path}"
    return filter_words(raw, alphabet, cfg, dropped, source)


def filter_words(raw: dict[str, float], alphabet: Alphabet, cfg: LexiconConfig,
                 dropped: Counter | None = None, source: str = "") -> WordList:
    """Fold case, drop what the alphabet cannot spell, sort by count; count every drop by reason."""
    dropped = Counter(dropped or {})
    allowed = set(alphabet.chars)
    merged: dict[str, float] = {}
    missing: Counter = Counter()
    unspellable: list[tuple[float, str]] = []
    for word, count in raw.items():
        w = word.strip()
        if cfg.lowercase:
            w = w.lower()
        if not w:
            dropped["empty"] += 1
        elif len(w) > cfg.max_word_len:
            dropped["too_long"] += 1
        elif not allowed.issuperset(w):
            dropped["char_not_in_alphabet"] += 1
            missing.update(set(w) - allowed)
            unspellable.append((count, w))
        elif not any(c.isalpha() for c in w):
            dropped["no_letter"] += 1  # e.g. a lone apostrophe: nothing to swipe
        elif w in merged:
            dropped["merged_case_duplicate"] += 1
            merged[w] += count
        else:
            merged[w] = count
    words = sorted(merged, key=lambda w: (-merged[w], w))
    if cfg.top_n is not None and len(words) > cfg.top_n:
        dropped["beyond_top_n"] += len(words) - cfg.top_n
        words = words[: cfg.top_n]
    counts = np.array([merged[w] for w in words], dtype=np.float64)
    top = [w for _, w in sorted(unspellable, key=lambda cw: (-cw[0], cw[1]))[:10]]
    return WordList(words=words, counts=counts, dropped=dropped, source=source, missing_chars=missing, unspellable=top)


def dataset_lexicon(manifest: dict[str, Any], overrides: dict[str, Any]) -> LexiconConfig:
    """A dataset's lexicon (its manifest's `lexicon`: the words it was made of; wordfreq's English
    list for a dataset made before manifests carried theirs), with the keys `overrides` sets
    replacing its own. A word list file is named by its absolute path."""
    lexicon = build_config(LexiconConfig, (manifest.get("lexicon") or {}) | dict(overrides), "lexicon.")
    if lexicon.path and not storage.is_uri(lexicon.path):
        lexicon = replace(lexicon, path=str(Path(lexicon.path).resolve()))
    return lexicon


def check_language(cfg: LexiconConfig, languages: dict[str, str | None]) -> None:
    """Refuse a wordfreq list in another language than a layout declares (`"language"` in its JSON):
    English words spell fine on a German keyboard, so nothing else would catch it."""
    other = {name: lang for name, lang in languages.items() if lang and cfg.source == "wordfreq" and lang != cfg.language}
    if other:
        raise ValueError(f"lexicon.language={cfg.language!r}, but layouts {sorted(other)} are for "
                         f"{sorted(set(other.values()))}: set lexicon.language={next(iter(other.values()))} "
                         "(or lexicon.source=file with your own word list)")


# ----------------------------------------------------------------------------- trie
@dataclass(frozen=True, eq=False)
class Trie:
    """A lexicon trie in flat arrays. Node 0 is the root; nodes are numbered breadth-first.

    Children of node n are nodes `first_child[n] : first_child[n+1]`, sorted by token.
    Arrays may be read-only views (e.g. from Ray's object store): never modified in place.
    """

    alphabet: Alphabet
    node_token: np.ndarray  # (n_nodes,) int16: token on the edge into the node (PAD for root)
    first_child: np.ndarray  # (n_nodes + 1,) int32: CSR offsets into node ids
    node_word: np.ndarray  # (n_nodes,) int32: word id ending at the node, -1 if none
    node_max_logfreq: np.ndarray  # (n_nodes,) float32: best word log-frequency below the node
    word_logfreq: np.ndarray  # (n_words,) float32: log of relative frequency
    word_bytes: np.ndarray  # (total bytes,) uint8: all words, UTF-8, concatenated
    word_offsets: np.ndarray  # (n_words + 1,) int64: byte offsets into word_bytes

    ARRAYS = ("node_token", "first_child", "node_word", "node_max_logfreq", "word_logfreq",
              "word_bytes", "word_offsets")

    @property
    def n_nodes(self) -> int:
        return len(self.node_token)

    @property
    def n_words(self) -> int:
        return len(self.word_logfreq)

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, a).nbytes for a in self.ARRAYS)

    def word(self, i: int) -> str:
        return bytes(self.word_bytes[self.word_offsets[i]:self.word_offsets[i + 1]]).decode("utf-8")

    def words(self) -> list[str]:
        """All words, in word-id order (most frequent first)."""
        blob = bytes(self.word_bytes)
        o = self.word_offsets
        return [blob[o[i]:o[i + 1]].decode("utf-8") for i in range(self.n_words)]

    def step(self, nodes: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Follow one edge from each node: the child reached by each token, -1 if none.  # (B,)

        Vectorised binary search inside each node's sorted child range; -1 inputs stay -1.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        tokens = np.asarray(tokens, dtype=np.int64)
        ok = nodes >= 0
        safe = np.where(ok, nodes, 0)
        lo = self.first_child[safe].astype(np.int64)
        hi = self.first_child[safe + 1].astype(np.int64)
        end = hi.copy()
        while True:  # ~log2(alphabet) iterations, each over the whole batch
            active = lo < hi
            if not active.any():
                break
            mid = (lo + hi) // 2
            less = active & (self.node_token[np.minimum(mid, self.n_nodes - 1)] < tokens)
            lo = np.where(less, mid + 1, lo)
            hi = np.where(active & ~less, mid, hi)
        found = ok & (lo < end) & (self.node_token[np.minimum(lo, self.n_nodes - 1)] == tokens)
        return np.where(found, lo, -1)

    def allowed_next_tokens(self, nodes: np.ndarray) -> np.ndarray:
        """Which tokens may follow each prefix node: its children's tokens, EOS if a word ends.

        `nodes` (B,) int; -1 (a prefix outside the trie) allows nothing.  # -> (B, V) bool
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        ok = nodes >= 0
        safe = np.where(ok, nodes, 0)
        lo = self.first_child[safe].astype(np.int64)
        counts = np.where(ok, self.first_child[safe + 1] - lo, 0)
        mask = np.zeros((len(nodes), self.alphabet.size), dtype=bool)
        rows = np.repeat(np.arange(len(nodes)), counts)
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        children = starts + np.arange(counts.sum())  # concatenated child ranges
        mask[rows, self.node_token[children]] = True
        mask[:, EOS] = ok & (self.node_word[safe] >= 0)
        return mask

    def lookup(self, word: str) -> int:
        """Node id of `word` as a prefix, or -1 when no lexicon word starts with it."""
        if not set(word) <= set(self.alphabet.chars):
            return -1
        node = np.zeros(1, dtype=np.int64)
        for tok in self.alphabet.encode(word):
            node = self.step(node, np.array([tok]))
        return int(node[0])

    def lookup_many(self, words: list[str]) -> np.ndarray:
        """Node id of each word as a prefix, -1 where none: `lookup` for a list, one vectorised
        step per character position.  # (N,)"""
        flat, lens = self.alphabet.encode_many(words)
        nodes = np.zeros(len(words), np.int64)
        if not len(words):
            return nodes
        width = int(lens.max())
        toks = np.zeros((len(words), max(width, 1)), np.int64)
        rows = np.repeat(np.arange(len(words)), lens)
        toks[rows, np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens)] = flat
        nodes[np.bincount(rows[flat < 0], minlength=len(words)) > 0] = -1  # a character outside the alphabet
        for i in range(width):
            going = lens > i
            nodes[going] = self.step(nodes[going], toks[going, i])
        return nodes

    def word_ids(self, words: list[str]) -> np.ndarray:
        """Word id of each word, -1 where the lexicon has no such word.  # (N,)"""
        nodes = self.lookup_many(words)
        return np.where(nodes >= 0, self.node_word[np.maximum(nodes, 0)], -1).astype(np.int64)

    def contains(self, word: str) -> bool:
        node = self.lookup(word)
        return node >= 0 and self.node_word[node] >= 0

    def save(self, path: str | Path) -> None:
        """Write the arrays to an uncompressed `.npz` (loads without unpickling)."""
        np.savez(path, alphabet=np.frombuffer(self.alphabet.chars.encode("utf-8"), dtype=np.uint8),
                 **{a: getattr(self, a) for a in self.ARRAYS})


def build_lexicon_trie(cfg: LexiconConfig, alphabet: Alphabet, say: bool = False) -> Trie:
    """The configured word list, filtered to `alphabet`, compiled into a trie (`say`: print what was dropped)."""
    wl = load_word_list(cfg, alphabet)
    if say:
        print(wl.report(), flush=True)
    return build_trie(wl.words, wl.counts, alphabet)


def load_trie(path: str | Path) -> Trie:
    """Read a trie written by `Trie.save`."""
    with np.load(path, allow_pickle=False) as z:
        alphabet = Alphabet(bytes(z["alphabet"]).decode("utf-8"))
        return Trie(alphabet=alphabet, **{a: z[a] for a in Trie.ARRAYS})


def build_trie(words: list[str], counts: np.ndarray, alphabet: Alphabet) -> Trie:
    """Compile unique words (spellable in `alphabet`) with counts into a Trie, vectorised.

    Words are sorted by token sequence; the longest common prefix (LCP) with the previous
    word says at which depths a word opens new nodes. Per depth d, the nodes are numbered
    in word order, so parents are non-decreasing and children of a node come out contiguous
    and sorted: exactly the CSR layout.
    """
    if len(words) == 0:
        raise ValueError("cannot build a trie from an empty word list")
    flat, lens = alphabet.encode_many(list(words))
    if (flat < 0).any():
        bad = next(w for w in words if not set(w) <= set(alphabet.chars))
        raise ValueError(f"word {bad!r} has characters outside the alphabet")
    if (lens == 0).any():
        raise ValueError("empty word in the word list")
    n, depth_max = len(words), int(lens.max())
    mat = np.zeros((n, depth_max), dtype=np.int16)  # (N, Lmax) token rows, PAD after the end
    row = np.repeat(np.arange(n), lens)
    col = np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens)
    mat[row, col] = flat
    order = np.lexsort(mat.T[::-1])  # lexicographic by token (PAD sorts first: prefixes first)
    mat, lens = mat[order], lens[order]
    if n > 1 and (mat[1:] == mat[:-1]).all(1).any():
        raise ValueError("duplicate words in the word list")
    lcp = np.zeros(n, dtype=np.int64)
    if n > 1:
        diff = mat[1:] != mat[:-1]  # (N-1, Lmax)
        lcp[1:] = np.minimum(diff.argmax(1), np.minimum(lens[1:], lens[:-1]))

    total = int((lens - lcp).sum()) + 1
    node_token = np.zeros(total, dtype=np.int16)
    node_parent = np.zeros(total, dtype=np.int64)
    node_depth = np.zeros(total, dtype=np.int64)
    node_word = np.full(total, -1, dtype=np.int32)
    prev = np.zeros(n, dtype=np.int64)  # node at depth d-1 of every word (root at d=0)
    base = 1
    for d in range(1, depth_max + 1):
        has = lens >= d
        new = has & (lcp < d)
        ids = base + np.cumsum(new) - 1  # node at depth d of every word with len >= d
        k = int(new.sum())
        node_token[base:base + k] = mat[new, d - 1]
        node_parent[base:base + k] = prev[new]
        node_depth[base:base + k] = d
        ends = lens == d
        node_word[ids[ends]] = order[ends]  # word ids index the caller's order
        prev = np.where(has, ids, prev)
        base += k
    assert base == total

    counts = np.asarray(counts, dtype=np.float64)
    word_logfreq = np.log(counts / counts.sum()).astype(np.float32)
    node_max = np.full(total, -np.inf, dtype=np.float32)
    term = node_word >= 0
    node_max[term] = word_logfreq[node_word[term]]
    for d in range(depth_max, 0, -1):  # push the best word up, one depth at a time
        sel = node_depth == d
        np.maximum.at(node_max, node_parent[sel], node_max[sel])

    n_children = np.bincount(node_parent[1:], minlength=total)
    first_child = (1 + np.concatenate([[0], np.cumsum(n_children)])).astype(np.int32)
    encoded = [w.encode("utf-8") for w in words]
    offsets = np.zeros(n + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    return Trie(alphabet=alphabet, node_token=node_token, first_child=first_child,
                node_word=node_word, node_max_logfreq=node_max, word_logfreq=word_logfreq,
                word_bytes=np.frombuffer(b"".join(encoded), dtype=np.uint8),
                word_offsets=offsets)

