"""Batched, cached beam search against the one-swipe-at-a-time, no-cache reference decoder."""

import numpy as np
import pytest
import torch

from swipe.decode import BeamConfig, beam_search, beam_words, reference_words
from swipe.features import KeyTable
from swipe.keyboard import parse_layout
from swipe.lexicon import Alphabet, build_trie
from swipe.model import ModelConfig, SwipeModel

ALPHA = Alphabet("abcdef")
GRID = {"width": 120, "height": 40, "keys": [
    {"label": c, "hitbox": {"x": 20 * i, "y": 0, "w": 20, "h": 40}} for i, c in enumerate(ALPHA.chars)]}


def _setup(seed: int, n_words: int = 60):
    rng = np.random.default_rng(seed)
    words = sorted({"".join(rng.choice(list(ALPHA.chars), rng.integers(1, 6))) for _ in range(n_words)})
    trie = build_trie(words, rng.uniform(1, 1000, len(words)), ALPHA)
    keys = KeyTable.build({"g": parse_layout("g", GRID)}, ALPHA)
    torch.manual_seed(seed)
    model = SwipeModel(ModelConfig(preset="tiny", max_word_len=6, dropout=0.0), keys, ALPHA.size).eval()
    b, n = 5, 12
    lens = rng.integers(2, n + 1, b)
    mask = torch.from_numpy(np.arange(n)[None, :] < lens[:, None])
    batch = {"x": torch.from_numpy(rng.uniform(0, 120, (b, n)).astype(np.float32)),
             "y": torch.from_numpy(rng.uniform(0, 40, (b, n)).astype(np.float32)),
             "t": torch.cumsum(torch.full((b, n), 16.0), 1), "mask": mask, "grid": torch.zeros(b, dtype=torch.long)}
    return words, trie, model, batch


def _same(batched, reference):
    assert len(batched) == len(reference)
    for got, ref in zip(batched, reference):
        assert [w for w, _ in got] == [w for w, _ in ref]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in ref], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("constrained", [True, False])
def test_batched_beam_equals_reference(seed, constrained):
    words, trie, model, batch = _setup(seed)
    cfg = BeamConfig(beam_size=4, top_k=4)
    t = trie if constrained else None
    got = beam_words(model, batch, ALPHA, cfg, t)
    _same(got, reference_words(model, batch, ALPHA, cfg, t))
    if constrained:  # every constrained candidate is a lexicon word, each once
        for cands in got:
            assert cands and all(w in words for w, _ in cands)
            assert len({w for w, _ in cands}) == len(cands)


def test_frequency_prior_and_length_alpha_match_reference():
    words, trie, model, batch = _setup(5)
    cfg = BeamConfig(beam_size=5, top_k=3, length_alpha=0.7, freq_weight=0.3)
    _same(beam_words(model, batch, ALPHA, cfg, trie), reference_words(model, batch, ALPHA, cfg, trie))


def test_prior_reorders_candidates():
    """Uniform logits: without a prior, ties; with it, the most frequent word first."""
    words = ["ab", "ba", "cd"]
    trie = build_trie(words, np.array([1.0, 100.0, 10.0]), ALPHA)
    uniform = lambda tok, st: (torch.zeros(tok.shape[0], ALPHA.size), st)  # noqa: E731
    keep = lambda st, rows: st  # noqa: E731
    out = beam_search(uniform, None, keep, keep, 2, ALPHA, 4, BeamConfig(beam_size=3, top_k=3, freq_weight=1.0), trie)
    assert [w for w, _ in out[0]] == ["ba", "cd", "ab"] and out[0] == out[1]
