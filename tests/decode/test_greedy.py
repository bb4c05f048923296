"""Greedy decoding (beam search with one beam) against scripted fake models."""

import numpy as np
import pytest
import torch

from swipe.decode.search import Search, greedy_decode
from swipe.lexicon import BOS, EOS, PAD, Alphabet, build_trie
from tests.support.fakes import StepCount

ALPHA = Alphabet("abc")
A, B, C = 3, 4, 5


def uniform_step(tokens, state):
    """A fake model: uniform logits whatever came before."""
    return torch.zeros(tokens.shape[0], ALPHA.size), state


def scripted_step(prefs):
    """A fake model preferring, at step i, token prefs[i]."""
    def step(tokens, state: StepCount):
        logits = torch.zeros(tokens.shape[0], ALPHA.size)
        logits[:, prefs[min(state.steps, len(prefs) - 1)]] = 5.0
        return logits, state.next()
    return step


def greedy(step, batch_size, max_len, trie):
    return greedy_decode(Search(step, ALPHA, max_len, trie), StepCount(), batch_size)


def test_greedy_with_lexicon_emits_only_lexicon_words():
    words = ["ab", "abc", "cab", "b"]
    trie = build_trie(words, np.ones(len(words)), ALPHA)
    out = greedy(uniform_step, 8, 6, trie)
    assert all(w in words for w in out.words)
    # the model wants "aaa…": the lexicon steers it to the closest allowed path
    out = greedy(scripted_step([A, A, A, EOS]), 2, 6, trie)
    assert out.words == ["ab", "ab"]
    out = greedy(scripted_step([C, A, B, EOS]), 1, 6, trie)
    assert out.words == ["cab"] and out.scores[0] < 0
    free = greedy(scripted_step([A, A, A, EOS]), 1, 6, None)
    assert free.words == ["aaa"]
    capped = greedy(scripted_step([A]), 1, 2, None)
    assert capped.words == ["aa"]  # out of room: EOS is forced


@pytest.mark.parametrize("special", [PAD, BOS, EOS])


def test_greedy_never_emits_pad_bos_or_an_empty_word(special):
    """A model that wants a special token first still gets a word, as beam search does."""
    out = greedy(scripted_step([special, B, EOS]), 3, 6, None)
    assert out.words == ["ab"] * 3  # the special is masked at step 0; the tie among the rest goes to "a"
