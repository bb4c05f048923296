"""Batched, cached beam search against the one-swipe-at-a-time, no-cache reference decoder."""

import numpy as np
import pytest
import torch

from swipe.decode.search import BeamConfig, Search, beam_search, beam_words, reference_beam_search, reference_words
from swipe.keyboard import parse_layout
from swipe.lexicon import Alphabet, build_trie
from swipe.model.features import KeyTable
from swipe.model.transformer import ModelConfig, SwipeModel
from tests.support.fakes import RowTags, StepCount

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


def test_a_beam_wider_than_the_alphabet_decodes_as_one_as_wide():
    """Beam sizes above the token count (9 here; 31–32 for English) crashed at the first step."""
    words, trie, model, batch = _setup(3)
    widest = beam_words(model, batch, ALPHA, BeamConfig(beam_size=ALPHA.size, top_k=4), trie)
    assert beam_words(model, batch, ALPHA, BeamConfig(beam_size=ALPHA.size + 2, top_k=4), trie) == widest


def test_frequency_prior_and_length_alpha_match_reference():
    words, trie, model, batch = _setup(5)
    cfg = BeamConfig(beam_size=5, top_k=3, length_alpha=0.7, freq_weight=0.3)
    _same(beam_words(model, batch, ALPHA, cfg, trie), reference_words(model, batch, ALPHA, cfg, trie))


def test_prior_reorders_candidates():
    """Uniform logits: without a prior, ties; with it, the most frequent word first."""
    words = ["ab", "ba", "cd"]
    trie = build_trie(words, np.array([1.0, 100.0, 10.0]), ALPHA)
    uniform = lambda tok, st: (torch.zeros(tok.shape[0], ALPHA.size), st)  # noqa: E731
    out = beam_search(Search(uniform, ALPHA, 4, trie), StepCount(), 2, BeamConfig(beam_size=3, top_k=3, freq_weight=1.0))
    assert [w for w, _ in out[0]] == ["ba", "cd", "ab"] and out[0] == out[1]


def test_words_under_is_best_first_and_limited():
    from swipe.decode.prefix import words_under

    words = ["ab", "abc", "abd", "b", "ba"]
    trie = build_trie(words, np.array([5.0, 1.0, 50.0, 7.0, 2.0]), ALPHA)
    under_ab = [trie.word(w) for w in words_under(trie, [trie.lookup("ab")], 10)]
    assert under_ab == ["abd", "ab", "abc"]  # exact frequency order
    assert len(words_under(trie, [0], 2)) == 2 and words_under(trie, [-1], 5) == []


def test_complete_from_prefixes_scores_every_word_under_the_survivors():
    from swipe.decode.prefix import PrefixConfig, complete_from_prefixes

    words = ["abc", "abd", "acf", "bed", "fad"]
    trie = build_trie(words, np.ones(len(words)), ALPHA)
    prefer = {"abd": -0.5, "abc": -2.0, "acf": -3.0, "bed": -1.0, "fad": -9.0}

    def step(tok, st):  # the prefix phase prefers 'a' first
        logits = torch.zeros(tok.shape[0], ALPHA.size)
        logits[:, ALPHA.encode("a")[0]] = 3.0
        return logits, st

    def score(rows, tin, tout):  # a fake full model: a fixed log-probability per word
        return torch.tensor([prefer[ALPHA.decode(r)] * (len(ALPHA.decode(r)) + 1) for r in tout.tolist()])

    cfg = PrefixConfig(prefix_steps=1, beam=BeamConfig(beam_size=1, top_k=3), max_words=10)
    out = complete_from_prefixes(Search(step, ALPHA, 6, trie), StepCount(), 2, score, cfg)
    assert [w for w, _ in out[0]] == ["abd", "abc", "acf"]  # every word under "a", by score
    assert out[0][0][1] == pytest.approx(-0.5) and out[0] == out[1]


def test_levenshtein_repair():
    from swipe.decode.repair import levenshtein_repair

    lexicon = ["hello", "help", "world", "hallo"]
    got = levenshtein_repair([[("helo", -1.0), ("help", -1.5), ("zzzzzzz", -2.0), ("hellp", -2.5)]], lexicon, 4)
    assert got == [[("hello", -1.0), ("help", -1.5)]]  # repaired, kept, dropped (too far), duplicate


def test_prefix_completion_with_a_model_emits_lexicon_words():
    from swipe.decode.prefix import PrefixConfig, prefix_words

    words, trie, model, batch = _setup(4)
    out = prefix_words(model, batch, ALPHA, PrefixConfig(prefix_steps=2, beam=BeamConfig(beam_size=3)), trie)
    assert len(out) == batch["x"].shape[0]
    assert all(c and all(w in words for w, _ in c) for c in out)


def test_finished_swipes_leave_the_batch_without_changing_results():
    """Swipe i wants to end after i + 1 letters: it leaves the batch then (fewer rows per
    step), and its candidates are still those of the one-swipe reference decoder."""
    import itertools

    words = ["".join(p) for n in range(1, 6) for p in itertools.product("ab", repeat=n)]
    trie = build_trie(words, np.ones(len(words)), ALPHA)
    a, b = ALPHA.encode("ab")
    k, eos = 3, 2  # EOS token id

    def logits_for(swipe: torch.Tensor, n: int) -> torch.Tensor:  # n: tokens decoded so far
        logits = torch.full((len(swipe), ALPHA.size), -5.0)
        logits[:, a], logits[:, b] = 2.0, 0.1 * n  # "ab" and "ba" never tie
        logits[:, eos] = torch.where(n >= swipe + 1, 10.0, -10.0)
        return logits

    rows_seen: list[int] = []

    def step(tokens: torch.Tensor, state: RowTags):
        rows_seen.append(tokens.shape[0])
        return logits_for(state.tags, state.steps), state.next()

    cfg = BeamConfig(beam_size=k, top_k=2)
    got = beam_search(Search(step, ALPHA, 6, trie), RowTags(torch.arange(4)), 4, cfg)
    ref = [reference_beam_search(lambda p, i=i: logits_for(torch.tensor([i]), len(p) - 1)[0], ALPHA, 6, cfg, trie)
           for i in range(4)]
    _same(got, ref)
    assert [c[0][0] for c in got] == ["a", "aa", "aaa", "aaaa"]
    # swipe i ends "a"·(i+1) and "b"·… at call i+1; its third beam one call later. Without
    # leaving, every call would decode all 12 rows until the longest word had ended.
    assert rows_seen == [4, 12, 12, 6, 3]


def test_the_device_trie_steps_and_masks_as_the_host_trie_does():
    """DeviceTrie (torch, no host round trip) against Trie's numpy, on every kind of node."""
    import numpy as np

    from swipe.decode.device import DeviceTrie
    from swipe.lexicon import Alphabet, LexiconConfig, build_lexicon_trie

    trie = build_lexicon_trie(LexiconConfig(top_n=3000), Alphabet("abcdefghijklmnopqrstuvwxyz'"))
    assert DeviceTrie.of(trie, "cpu") is DeviceTrie.of(trie, "cpu")  # made once per trie and device
    dev = DeviceTrie(trie, "cpu", kernels="torch")  # the GPU's code, here on the CPU
    rng = np.random.default_rng(0)
    nodes = np.concatenate([[-1, 0], rng.integers(0, trie.n_nodes, 500)])
    tokens = rng.integers(0, trie.alphabet.size, len(nodes))
    got = dev.step(torch.from_numpy(nodes), torch.from_numpy(tokens)).numpy()
    assert (got == trie.step(nodes, tokens)).all() and (got >= 0).any() and (got == -1).any()
    assert (dev.allowed(torch.from_numpy(nodes)).numpy() == trie.allowed_next_tokens(nodes)).all()


class _NumpyRows:
    """The model's KV cache behind numpy row indices: what a numpy-backed search hands it."""

    def __init__(self, cache):
        self.cache = cache

    def expand_beams(self, k):
        return _NumpyRows(self.cache.expand_beams(k))

    def reorder_beams(self, rows):
        return _NumpyRows(self.cache.reorder_beams(torch.from_numpy(np.asarray(rows))))

    def keep_swipes(self, swipes):
        return _NumpyRows(self.cache.keep_swipes(torch.from_numpy(np.asarray(swipes))))


@pytest.mark.parametrize("seed", [0, 3])
def test_the_search_on_numpy_arrays_equals_the_search_on_torch(seed):
    """One search, two array backends: the step function's logits as numpy arrays (an exported
    model's) give the candidates and scores that torch tensors give."""
    from swipe.decode.search import model_search

    words, trie, model, batch = _setup(seed)
    cfg = BeamConfig(beam_size=4, top_k=4, freq_weight=0.2)
    with torch.inference_mode():
        search, memory, cache = model_search(model, batch, ALPHA, trie)

        def step(tokens, state):
            logits, nxt = model.decode_step(torch.from_numpy(np.asarray(tokens)), state.cache)
            return logits.numpy(), _NumpyRows(nxt)

        on_numpy = Search(step, ALPHA, model.cfg.max_word_len, trie, backend="numpy")
        got = beam_search(on_numpy, _NumpyRows(cache), memory.shape[0], cfg)
        _same(got, beam_search(search, cache, memory.shape[0], cfg))
    assert all(cands for cands in got)


def test_device_tries_of_many_users_are_bounded():
    """One DeviceTrie per user's small trie would pile up (each held its trie alive): 50 users
    leave at most DeviceTrie.KEPT, and the most recent is still the one made for its trie."""
    import gc

    from swipe.decode.device import DeviceTrie

    tries = [build_trie([f"ab{'c' * (i % 4)}", "fed"[: 1 + i % 3]], np.array([3.0, 1.0]), ALPHA) for i in range(50)]
    made = [DeviceTrie.of(t, "cpu") for t in tries]
    del made
    gc.collect()
    assert len(DeviceTrie._made) <= DeviceTrie.KEPT
    assert DeviceTrie.of(tries[-1], "cpu").trie is tries[-1]
