"""Personal words: a small lexicon per user, decoded beside the shared one without retraining.

Each word is one object in a store (a folder or an object-storage URI): `USER/HEX.word`, its
name the word's UTF-8 in hex. Adding a word is one put and removing it one delete, so no
write reads, modifies and writes back another's: two replicas (or processes) adding words to
one user at once lose none. The words survive a replica's restart and every replica sees
them. A replica keeps one small trie (and template index) for each of its most recently seen
users (`max_cached_users`), rebuilt when the user's `_version` object (replaced after every
add or remove) changes: a request costs one small read; the shared 300k-word trie
is never copied. An entry whose name is not a word is set aside (`unreadable`), never a 500. Personal words all get one prior: the log-frequency of the shared
lexicon's word at rank `prior_rank` (a common word's), so a word the user added competes
with the lexicon's on the decoder's evidence.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace

import numpy as np

from swipe import storage
from swipe.decode.decoders import Lexicon
from swipe.lexicon import Alphabet, Trie, build_trie

USER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # fullmatch: "$" let a trailing newline in
WORD_SUFFIX = ".word"
VERSION_FILE = "_version"  # replaced after every change of a user's words
MAX_NAMED = 10  # refused words named in one reply
log = logging.getLogger(__name__)


class RequestError(ValueError):
    """A request the service refuses: an HTTP status (4xx) and a message saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UserWordsConfig:
    """Where personal words are kept and how many a user may have."""

    store: str = "runs/serve/users"  # a folder or a URI; one object per word: USER/HEX.word
    max_words: int = 1000  # per user (concurrent adds from several replicas may pass it by their size)
    max_cached_users: int = 256  # users whose lexicons a replica keeps built (least recently used go)
    prior_rank: int = 5000  # personal words' log-frequency: the shared lexicon's word at this rank
    lowercase: bool = True  # fold case, as the shared lexicon does


class UserWords:
    """The store of every user's words, and their lexicons as this replica has built them."""

    def __init__(self, cfg: UserWordsConfig, alphabet: Alphabet, max_word_len: int, shared: Trie):
        self.cfg, self.alphabet, self.max_word_len = cfg, alphabet, max_word_len
        self.prior = float(shared.word_logfreq[min(cfg.prior_rank, shared.n_words - 1)])
        self._built: OrderedDict[str, tuple[tuple[str, ...], Lexicon]] = OrderedDict()
        self._lock = threading.Lock()
        self.unreadable: list[str] = []  # entries set aside: names that are not words

    def _folder(self, user: str) -> str:
        if not isinstance(user, str) or not USER_NAME.fullmatch(user):
            raise RequestError(400, f"user name {user!r} must be 1-64 letters, digits, '_', '.' or '-'")
        return storage.join(self.cfg.store, user)

    def _version_file(self, user: str) -> str:
        return storage.join(self._folder(user), VERSION_FILE)

    def version(self, user: str) -> str:
        """The user's words' version: a token every add or remove replaces after its writes
        ("" before the first), so one small read tells a replica its lexicon is current."""
        try:
            return storage.read_text(self._version_file(user))
        except (FileNotFoundError, OSError):
            return ""

    def _changed(self, user: str) -> None:
        storage.write_bytes(self._version_file(user), uuid.uuid4().hex.encode())

    def _entry(self, user: str, word: str) -> str:
        return storage.join(self._folder(user), word.encode("utf-8").hex() + WORD_SUFFIX)

    def words(self, user: str) -> list[str]:
        """The user's words as stored now, sorted ([] for a user with none)."""
        folder = self._folder(user)
        self._migrate(user)
        out = []
        for path in storage.list_files(folder, WORD_SUFFIX):
            try:
                out.append(bytes.fromhex(storage.basename(path)[: -len(WORD_SUFFIX)]).decode("utf-8"))
            except ValueError:  # not a name this store writes: set aside, reported, never a 500
                self._set_aside(path)
        return sorted(out)

    def _set_aside(self, path: str) -> None:
        log.warning("personal words: %s is not a word entry; set aside as %s.unreadable", path, path)
        self.unreadable.append(path)
        try:
            storage.write_bytes(path + ".unreadable", storage.read_bytes(path))
            storage.remove_file(path)
        except OSError:  # another replica set it aside first
            pass

    def _migrate(self, user: str) -> None:
        """A user's words from the one-file-per-user store (USER.json) become one entry each."""
        legacy = storage.join(self.cfg.store, f"{user}.json")
        if not storage.exists(legacy):
            return
        try:
            words = json.loads(storage.read_text(legacy))["words"]
        except (OSError, ValueError, KeyError, TypeError):
            self._set_aside(legacy)
            return
        for w in words:
            if isinstance(w, str) and w:
                storage.write_bytes(self._entry(user, w), w.encode("utf-8"))
        storage.remove_file(legacy)
        self._changed(user)

    def check(self, words: list) -> list[str]:
        """The words as they will be stored (case folded); RequestError naming every word refused."""
        if not isinstance(words, list) or not words:
            raise RequestError(400, "'words' must be a non-empty list of strings")
        if len(words) > self.cfg.max_words:
            raise RequestError(413, f"{len(words)} words in one request; at most {self.cfg.max_words}")
        bad, out = [], []
        for w in words:
            if not isinstance(w, str) or not w.strip():
                bad.append(f"{w!r}: not a word")
                continue
            w = w.strip().lower() if self.cfg.lowercase else w.strip()
            outside = sorted(set(w) - set(self.alphabet.chars))
            if outside:
                bad.append(f"{w!r}: characters {outside} are not in the alphabet")
            elif len(w) > self.max_word_len:
                bad.append(f"{w!r}: {len(w)} letters; the model spells at most {self.max_word_len}")
            else:
                out.append(w)
        if bad:  # at most MAX_NAMED named: 200k bad words made a 20 MB reply
            more = f"; and {len(bad) - MAX_NAMED} more" if len(bad) > MAX_NAMED else ""
            raise RequestError(422, f"{len(bad)} word(s) refused (nothing was added; the alphabet is "
                                    f"{self.alphabet.chars!r}): " + "; ".join(bad[:MAX_NAMED]) + more)
        return list(dict.fromkeys(out))

    def add(self, user: str, words: list) -> dict:
        """Add words (all or none): refused if one is not spellable or the user would pass max_words."""
        new = self.check(words)
        have = set(self.words(user))
        added = [w for w in new if w not in have]
        if len(have) + len(added) > self.cfg.max_words:
            raise RequestError(422, f"user {user!r} has {len(have)} words; adding {len(added)} would pass "
                                    f"the limit of {self.cfg.max_words} (nothing was added)")
        for w in added:  # one put each: nothing read back and rewritten, so no other writer's word is lost
            storage.write_bytes(self._entry(user, w), w.encode("utf-8"))
        if added:
            self._changed(user)  # after the words: a replica that sees the new version lists them all
        return {"user": user, "added": added, "words": len(have) + len(added)}

    def remove(self, user: str, words: list) -> dict:
        gone = set(self.check(words))
        have = set(self.words(user))
        for w in sorted(gone & have):
            storage.remove_file(self._entry(user, w))
        if gone & have:
            self._changed(user)
        return {"user": user, "removed": sorted(gone & have), "words": len(have - gone)}

    def lexicon(self, user: str | None) -> Lexicon | None:
        """The user's words as a lexicon (None without words). Kept per replica and rebuilt only
        when the store's version of them changes: one small read per request, not a listing."""
        if not user:
            return None
        version = self.version(user)
        with self._lock:
            made = self._built.get(user)
            if made is not None:
                self._built.move_to_end(user)
        if made is None or made[0] != version:
            words = self.words(user)
            lexicon = None
            if words:
                trie = build_trie(words, np.ones(len(words)), self.alphabet)
                n = trie.n_words  # one prior for all: the shared lexicon's common-word frequency
                trie = replace(trie, word_logfreq=np.full(n, self.prior, np.float32),
                               node_max_logfreq=np.full(trie.n_nodes, self.prior, np.float32))
                lexicon = Lexicon.build(trie)
            made = (version, lexicon)
            with self._lock:
                self._built[user] = made
                self._built.move_to_end(user)
                while len(self._built) > self.cfg.max_cached_users:
                    self._built.popitem(last=False)
        return made[1]
