"""The CTC trie beam (swipe.decode.ctc) against exact CTC: torch's own loss is the oracle of each
word's log-probability, and scoring every lexicon word exactly is the oracle of the ranking."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from swipe.decode.ctc import CtcConfig, best_path, ctc_beam, ctc_word_logprobs, token_keys, word_keys
from swipe.lexicon import Alphabet, build_trie

ALPHABET = Alphabet("abcde'")
WORDS = ["a", "ab", "abba", "bad", "bed", "dab", "dead", "ed", "ded", "bead", "a'b", "be'", "'e", "cc", "c"]
LETTERS = "abcde"  # the layout's keys: no apostrophe key, so it is typed, not swiped


def _emissions(b: int, t: int, seed: int, sharp: float = 2.0) -> np.ndarray:
    logits = np.random.default_rng(seed).normal(size=(b, t, len(LETTERS) + 1)) * sharp
    return (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(np.float32)


def _torch_logp(logp: np.ndarray, n: int, word: str) -> float:
    """log p(word's keys | one swipe's first n points) by torch's CTC loss."""
    target = torch.tensor([LETTERS.index(c) + 1 for c in word if c in LETTERS])
    loss = F.ctc_loss(torch.from_numpy(logp[:n, None]).double(), target[None], torch.tensor([n]),
                      torch.tensor([len(target)]), blank=0, reduction="sum")
    return -float(loss)


@pytest.fixture(scope="module")
def trie():
    counts = np.arange(len(WORDS), 0, -1).astype(float)
    return build_trie(WORDS, counts, ALPHABET)


def test_every_word_the_beam_returns_has_its_exact_ctc_log_probability(trie):
    logp, lengths = _emissions(3, 12, seed=0), np.array([12, 9, 5])
    keys = np.stack([token_keys(LETTERS, ALPHABET)] * 3)
    wide = CtcConfig(beam_size=1000, top_k=100, freq_weight=0.0, prune=1e9, key_floor=-np.inf)
    found = ctc_beam(logp, lengths, keys, trie, wide)
    for b, cands in enumerate(found):
        # every lexicon word is reachable with a beam this wide (none has more keys than the shortest swipe has points)
        assert sorted(w for w, _ in cands) == sorted(WORDS)
        for w, s in cands:
            assert s == pytest.approx(_torch_logp(logp[b], lengths[b], w), abs=1e-6), w
        assert [s for _, s in cands] == sorted((s for _, s in cands), reverse=True)
    # the forward algorithm for any (swipe, word) pairs gives the same
    pairs = [(b, w) for b in range(3) for w in WORDS]
    exact = ctc_word_logprobs(logp, lengths, np.array([b for b, _ in pairs]), [word_keys(w, LETTERS) for _, w in pairs])
    want = [_torch_logp(logp[b], lengths[b], w) for b, w in pairs]
    np.testing.assert_allclose(exact, want, atol=1e-6)


def test_repeated_keys_need_a_blank_and_typed_letters_read_as_nothing(trie):
    def reading(path: list[int]) -> np.ndarray:  # one point per output, all but certain
        logp = np.full((1, len(path), len(LETTERS) + 1), -30.0, np.float32)
        logp[0, np.arange(len(path)), path] = 0.0
        return logp

    a, b = LETTERS.index("a") + 1, LETTERS.index("b") + 1
    keys = token_keys(LETTERS, ALPHABET)[None]
    cfg = CtcConfig(freq_weight=0.0, top_k=3)
    with_blank, without = reading([a, b, 0, b, a]), reading([a, b, b, a])
    assert ctc_beam(with_blank, np.array([5]), keys, trie, cfg)[0][0][0] == "abba"
    assert "abba" not in [w for w, _ in ctc_beam(without, np.array([4]), keys, trie, cfg)[0]]  # b, b is one b
    assert ctc_word_logprobs(without, np.array([4]), np.zeros(1, np.int64), [word_keys("abba", LETTERS)])[0] < -20
    # "a'b" is swiped as a, b: it ties with "ab" (the apostrophe has no key here), and "be'" with "be"
    assert word_keys("a'b", LETTERS).tolist() == [0, 1]
    top = ctc_beam(reading([a, b]), np.array([2]), keys, trie, cfg)[0]
    assert {w for w, _ in top[:2]} == {"ab", "a'b"} and top[0][1] == pytest.approx(top[1][1])
    # a layout with an apostrophe key: then it is swiped, and "a'b" needs it
    with_key = token_keys(LETTERS + "'", ALPHABET)[None]
    logp = np.concatenate([reading([a, b]), np.full((1, 2, 1), -30.0, np.float32)], -1)
    assert [w for w, _ in ctc_beam(logp, np.array([2]), with_key, trie, cfg)[0]][:1] == ["ab"]
    assert ctc_word_logprobs(logp, np.array([2]), np.zeros(1, np.int64), [word_keys("a'b", LETTERS + "'")])[0] < -20


def test_the_prior_and_length_weight_enter_the_score_as_documented(trie):
    logp, lengths = _emissions(2, 10, seed=1), np.array([10, 10])
    keys = np.stack([token_keys(LETTERS, ALPHABET)] * 2)
    cfg = CtcConfig(beam_size=1000, top_k=100, freq_weight=0.7, length_weight=-0.3, prune=1e9, key_floor=-np.inf)
    for b, cands in enumerate(ctc_beam(logp, lengths, keys, trie, cfg)):
        for w, s in cands:
            prior = trie.word_logfreq[trie.word_ids([w])[0]]
            assert s == pytest.approx(_torch_logp(logp[b], 10, w) + 0.7 * prior - 0.3 * len(w), abs=1e-5)


def test_a_narrow_beam_finds_the_exact_best_word_of_confident_readings(trie):
    """Peaked emissions (a trained network's): the beam of 4 returns the word that exact scoring
    of the whole lexicon ranks first; a pruned prefix can only lose probability, never gain it."""
    rng = np.random.default_rng(2)
    keys = token_keys(LETTERS, ALPHABET)
    for _ in range(30):
        word = WORDS[rng.integers(len(WORDS))]
        path = []  # each key held 2-3 points, a blank after it
        for k in word_keys(word, LETTERS):
            path += [k + 1] * int(rng.integers(2, 4)) + [0]
        logp = np.log(np.full((1, len(path), len(LETTERS) + 1), 0.02))
        logp[0, np.arange(len(path)), path] = np.log(0.9)
        logp = (logp - np.log(np.exp(logp).sum(-1, keepdims=True))).astype(np.float32)
        n = np.array([len(path)])
        got = ctc_beam(logp, n, keys[None], trie, CtcConfig(beam_size=4, top_k=3, freq_weight=0.0))[0]
        exact = dict(zip(WORDS, ctc_word_logprobs(logp, n, np.zeros(len(WORDS), np.int64),
                                                  [word_keys(w, LETTERS) for w in WORDS])))
        assert exact[got[0][0]] == pytest.approx(max(exact.values()))
        assert exact[word] == pytest.approx(max(exact.values()))  # the reading spells its word (or its twin)
        for w, s_ in got:
            assert s_ <= exact[w] + 1e-6


def test_best_path_merges_repeats_and_drops_blanks():
    logp = np.full((2, 6, 4), -9.0, np.float32)
    for b, path in enumerate([[1, 1, 0, 1, 2, 2], [0, 3, 3, 0, 0, 0]]):
        logp[b, np.arange(6), path] = 0.0
    assert best_path(logp, np.array([6, 3]), ["xyz", "xyz"]) == ["xxy", "z"]
