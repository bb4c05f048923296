import numpy as np
import pytest
import torch

from swipe.decode import greedy_decode
from swipe.lexicon import EOS, Alphabet, build_trie
from swipe.metrics import accuracy_at, dedupe, summarize, swipe_mrr

ALPHA = Alphabet("abc")
A, B, C = 3, 4, 5


def uniform_step(tokens, state):
    """A fake model: uniform logits whatever came before."""
    return torch.zeros(tokens.shape[0], ALPHA.size), state


def scripted_step(prefs):
    """A fake model preferring, at step i, token prefs[i]."""
    def step(tokens, i):
        logits = torch.zeros(tokens.shape[0], ALPHA.size)
        logits[:, prefs[min(i, len(prefs) - 1)]] = 5.0
        return logits, i + 1
    return step


def test_greedy_with_lexicon_emits_only_lexicon_words():
    words = ["ab", "abc", "cab", "b"]
    trie = build_trie(words, np.ones(len(words)), ALPHA)
    out = greedy_decode(uniform_step, None, 8, ALPHA, max_len=6, trie=trie)
    assert all(w in words for w in out.words)
    # the model wants "aaa…": the lexicon steers it to the closest allowed path
    out = greedy_decode(scripted_step([A, A, A, EOS]), 0, 2, ALPHA, max_len=6, trie=trie)
    assert out.words == ["ab", "ab"]
    out = greedy_decode(scripted_step([C, A, B, EOS]), 0, 1, ALPHA, max_len=6, trie=trie)
    assert out.words == ["cab"] and out.scores[0] < 0
    free = greedy_decode(scripted_step([A, A, A, EOS]), 0, 1, ALPHA, max_len=6, trie=None)
    assert free.words == ["aaa"]
    capped = greedy_decode(scripted_step([A]), 0, 1, ALPHA, max_len=2, trie=None)
    assert capped.words == ["aa"]  # out of room: EOS is forced


def test_swipe_mrr_hand_cases():
    assert swipe_mrr(["cat", "car"], "cat") == 1.0
    assert swipe_mrr(["car", "cat"], "cat") == pytest.approx(0.1)
    assert swipe_mrr(["car", "car", "cab", "cat"], "cat") == pytest.approx(0.09)  # duplicates removed first
    assert swipe_mrr(["a", "b", "c", "cat"], "cat") == pytest.approx(0.08)
    assert swipe_mrr(["a", "b", "c", "d", "cat"], "cat") == 0.0  # only the top 4 count
    assert swipe_mrr([], "cat") == 0.0 and swipe_mrr(["cat"], "cat") == 1.0  # fewer than 4
    assert dedupe(["x", "y", "x", "z", "y"]) == ["x", "y", "z"]
    assert accuracy_at(["x", "x", "y"], "y", 2) == 1.0
    s = summarize([["cat"], ["dog", "cat"], ["x"]], ["cat", "cat", None])
    assert s["n"] == 2 and s["unlabeled"] == 1
    assert s["swipe_mrr"] == pytest.approx(0.55) and s["acc@1"] == 0.5 and s["acc@2"] == 1.0


def test_breakdown_groups_in_natural_order():
    from swipe.metrics import breakdown

    cands = [["a"], ["bb"], ["x"], ["cccccccccc"]]
    refs = ["a", "bb", "cc", "cccccccccc"]
    out = breakdown(cands, refs, [len(r) for r in refs])
    assert list(out) == [1, 2, 10]  # numbers numerically, not "10" before "2"
    assert out[2]["acc@1"] == 0.5 and out[2]["n"] == 2
