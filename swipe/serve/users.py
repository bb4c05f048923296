"""Personal words: a small lexicon per user, decoded beside the shared one without retraining.

Each user's words are a JSON file in a store (a folder or an object-storage URI), so they
survive a replica's restart and every replica sees them. A replica keeps one small trie
(and template index) per user, rebuilt when the stored list changes; the shared 300k-word
trie is never copied. Personal words all get one prior: the log-frequency of the shared
lexicon's word at rank `prior_rank` (a common word's), so a word the user added competes
with the lexicon's on the decoder's evidence.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, replace

import numpy as np

from swipe import storage
from swipe.decode.decoders import Lexicon
from swipe.lexicon import Alphabet, Trie, build_trie

USER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # fullmatch: "$" let a trailing newline in


class RequestError(ValueError):
    """A request the service refuses: an HTTP status (4xx) and a message saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UserWordsConfig:
    """Where personal words are kept and how many a user may have."""

    store: str = "runs/serve/users"  # a folder or a URI; one USER.json per user
    max_words: int = 1000  # per user
    prior_rank: int = 5000  # personal words' log-frequency: the shared lexicon's word at this rank
    lowercase: bool = True  # fold case, as the shared lexicon does


class UserWords:
    """The store of every user's words, and their lexicons as this replica has built them."""

    def __init__(self, cfg: UserWordsConfig, alphabet: Alphabet, max_word_len: int, shared: Trie):
        self.cfg, self.alphabet, self.max_word_len = cfg, alphabet, max_word_len
        self.prior = float(shared.word_logfreq[min(cfg.prior_rank, shared.n_words - 1)])
        self._built: dict[str, tuple[tuple[str, ...], Lexicon]] = {}
        self._lock = threading.Lock()

    def _path(self, user: str) -> str:
        if not isinstance(user, str) or not USER_NAME.fullmatch(user):
            raise RequestError(400, f"user name {user!r} must be 1-64 letters, digits, '_', '.' or '-'")
        return storage.join(self.cfg.store, f"{user}.json")

    def words(self, user: str) -> list[str]:
        """The user's words as stored now ([] for a user with none)."""
        path = self._path(user)
        if not storage.exists(path):
            return []
        return json.loads(storage.read_text(path))["words"]

    def check(self, words: list) -> list[str]:
        """The words as they will be stored (case folded); RequestError naming every word refused."""
        if not isinstance(words, list) or not words:
            raise RequestError(400, "'words' must be a non-empty list of strings")
        bad, out = [], []
        for w in words:
            if not isinstance(w, str) or not w.strip():
                bad.append(f"{w!r}: not a word")
                continue
            w = w.strip().lower() if self.cfg.lowercase else w.strip()
            outside = sorted(set(w) - set(self.alphabet.chars))
            if outside:
                bad.append(f"{w!r}: characters {outside} are not in the alphabet {self.alphabet.chars!r}")
            elif len(w) > self.max_word_len:
                bad.append(f"{w!r}: {len(w)} letters; the model spells at most {self.max_word_len}")
            else:
                out.append(w)
        if bad:
            raise RequestError(422, "words refused (nothing was added): " + "; ".join(bad))
        return list(dict.fromkeys(out))

    def add(self, user: str, words: list) -> dict:
        """Add words (all or none): refused if one is not spellable or the user would pass max_words."""
        new = self.check(words)
        with self._lock:
            have = self.words(user)
            added = [w for w in new if w not in have]
            if len(have) + len(added) > self.cfg.max_words:
                raise RequestError(422, f"user {user!r} has {len(have)} words; adding {len(added)} would pass "
                                        f"the limit of {self.cfg.max_words} (nothing was added)")
            storage.write_text(self._path(user), json.dumps({"words": have + added}, ensure_ascii=False))
        return {"user": user, "added": added, "words": len(have) + len(added)}

    def remove(self, user: str, words: list) -> dict:
        gone = set(self.check(words))
        with self._lock:
            have = self.words(user)
            kept = [w for w in have if w not in gone]
            storage.write_text(self._path(user), json.dumps({"words": kept}, ensure_ascii=False))
        return {"user": user, "removed": sorted(gone & set(have)), "words": len(kept)}

    def lexicon(self, user: str | None) -> Lexicon | None:
        """The user's words as a lexicon (None without words), rebuilt only when they change."""
        if not user:
            return None
        words = tuple(self.words(user))
        if not words:
            return None
        made = self._built.get(user)
        if made is None or made[0] != words:
            trie = build_trie(list(words), np.ones(len(words)), self.alphabet)
            n = trie.n_words  # one prior for all: the shared lexicon's common-word frequency
            trie = replace(trie, word_logfreq=np.full(n, self.prior, np.float32),
                           node_max_logfreq=np.full(trie.n_nodes, self.prior, np.float32))
            made = (words, Lexicon.build(trie))
            self._built[user] = made
        return made[1]
