"""A writer of personal words in a process of its own, for the test of concurrent writers."""

from __future__ import annotations

import time

import numpy as np

from swipe.lexicon import Alphabet, build_trie
from swipe.serve.users import UserWords, UserWordsConfig

ALPHABET = Alphabet("abcdefghijklmnopqrstuvwxyz")


def user_words(store: str, max_words: int = 10_000, max_cached_users: int = 256) -> UserWords:
    shared = build_trie(["the", "and"], np.array([2.0, 1.0]), ALPHABET)
    return UserWords(UserWordsConfig(store=store, max_words=max_words, max_cached_users=max_cached_users),
                     ALPHABET, 32, shared)


def add_one_by_one(store: str, user: str, words: list[str], start_at: float = 0.0) -> int:
    """Add `words` to `user`, one request each, as a replica serving them would, from the
    wall-clock time `start_at` (so that two writers overlap); returns how many."""
    users = user_words(store)
    time.sleep(max(0.0, start_at - time.time()))
    for w in words:
        users.add(user, [w])
    return len(words)
