"""Alphabet, word lists and the flat-array trie against plain Python sets."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from swipe.lexicon import (
    EOS,
    Alphabet,
    LexiconConfig,
    build_alphabet,
    build_trie,
    filter_words,
    load_trie,
    load_word_counts,
    load_word_list,
)

ALPHA = Alphabet("abcde")


def _ids(word: str) -> list[int]:
    return ALPHA.encode(word)


@settings(max_examples=60, deadline=None)
@given(st.sets(st.text(alphabet="abcde", min_size=1, max_size=7), min_size=1, max_size=60),
       st.lists(st.text(alphabet="abcde", max_size=8), min_size=1, max_size=40))
def test_trie_agrees_with_python_sets(words, probes):
    words = sorted(words)
    counts = np.arange(1, len(words) + 1, dtype=float)
    trie = build_trie(words, counts, ALPHA)
    prefixes = {w[:k] for w in words for k in range(len(w) + 1)}
    assert trie.n_nodes == len(prefixes)
    assert trie.words() == words
    queries = probes + list(prefixes)[:30] + ["abx", "ä"]  # and characters outside the alphabet
    many = trie.lookup_many(queries)
    ids = trie.word_ids(queries)
    for i, p in enumerate(queries):
        assert many[i] == trie.lookup(p)  # the list at once, as one at a time
        assert (ids[i] >= 0) == (p in words) and (ids[i] < 0 or trie.words()[ids[i]] == p)
    for p in probes + list(prefixes)[:30]:
        node = trie.lookup(p)
        assert (node >= 0) == (p in prefixes)
        assert trie.contains(p) == (p in words)
        if node >= 0:  # allowed next tokens = the letters that extend p within the lexicon, EOS if p is a word
            mask = trie.allowed_next_tokens(np.array([node]))[0]
            expected = {ALPHA.encode(w[len(p)])[0] for w in words if w.startswith(p) and len(w) > len(p)}
            assert set(np.flatnonzero(mask[3:]) + 3) == expected
            assert mask[EOS] == (p in words)
            below = [np.log(counts[i] / counts.sum()) for i, w in enumerate(words) if w.startswith(p)]
            assert trie.node_max_logfreq[node] == pytest.approx(max(below), rel=1e-5)


def test_batched_step_and_allowed_match_single(tmp_path):
    rng = np.random.default_rng(0)
    words = sorted({"".join(rng.choice(list("abcde"), rng.integers(1, 9))) for _ in range(3000)})
    trie = build_trie(words, rng.uniform(1, 100, len(words)), ALPHA)
    nodes = np.concatenate([rng.integers(0, trie.n_nodes, 500), [-1]])
    toks = rng.integers(0, ALPHA.size, len(nodes))
    stepped = trie.step(nodes, toks)
    mask = trie.allowed_next_tokens(nodes)
    for n, t, s, m in zip(nodes, toks, stepped, mask):
        if n < 0:
            assert s == -1 and not m.any()
            continue
        children = range(trie.first_child[n], trie.first_child[n + 1])
        match = [c for c in children if trie.node_token[c] == t]
        assert s == (match[0] if match else -1)
        assert (s >= 0) == bool(m[t]) or t == EOS
    trie.save(tmp_path / "t.npz")
    again = load_trie(tmp_path / "t.npz")
    assert again.alphabet == trie.alphabet and again.words() == trie.words()
    for a in trie.ARRAYS:
        np.testing.assert_array_equal(getattr(again, a), getattr(trie, a))


def test_alphabet_and_tokenizer(qwerty, yandex):
    a = build_alphabet([qwerty], "'")
    assert a.chars == "qwertyuiopasdfghjklzxcvbnm'" and a.size == 3 + 27
    assert a.decode(a.encode("don't") + [EOS, 5]) == "don't"
    flat, lens = a.encode_many(["ab", "", "z'"])
    assert lens.tolist() == [2, 0, 2] and flat.tolist() == a.encode("abz'")
    with pytest.raises(KeyError, match="'é'"):
        a.encode("café")
    ru = build_alphabet(yandex.values(), "-")
    assert "ё" in ru.chars and "ъ" in ru.chars and ru.chars.endswith("-")


def test_filter_counts_every_drop(tmp_path):
    path = tmp_path / "words.tsv"
    path.write_text("Cat\t5\ncat\t2\ndog\t3\ncafé\t1\nbad\tx\nzero\t0\n'\t4\nlonglonglong\t1\nbare\n")
    raw, bad = load_word_counts(path)
    assert bad == {"malformed_line": 1, "bad_count": 1}
    alpha = Alphabet("abcdefghijklmnopqrstuvwxyz'")
    wl = filter_words(raw, alpha, LexiconConfig(source="file", max_word_len=8), bad)
    assert wl.words == ["cat", "dog", "bare"] and wl.counts.tolist() == [7, 3, 1]
    assert wl.dropped == {"malformed_line": 1, "bad_count": 1, "merged_case_duplicate": 1,
                          "char_not_in_alphabet": 1, "no_letter": 1, "too_long": 1}
    top = load_word_list(LexiconConfig(source="file", path=str(path), top_n=2, max_word_len=8), alpha)
    assert top.words == ["cat", "dog"] and top.dropped["beyond_top_n"] == 1


def test_wordfreq_list_is_offline_and_filtered(qwerty):
    wl = load_word_list(LexiconConfig(language="en", top_n=1000), build_alphabet([qwerty], "'"))
    assert len(wl) == 1000 and wl.words[0] == "the"
    assert all(set(w) <= set(qwerty.letters + "'") for w in wl.words)
    assert wl.dropped["char_not_in_alphabet"] > 0
    rng = np.random.default_rng(0)
    idx = wl.sample(20000, 0.5, rng)
    assert (np.bincount(idx, minlength=1000) > 0).sum() > 900  # the floor reaches rare words


def test_build_rejects_bad_input():
    with pytest.raises(ValueError, match="duplicate"):
        build_trie(["ab", "ab"], np.ones(2), ALPHA)
    with pytest.raises(ValueError, match="outside the alphabet"):
        build_trie(["az"], np.ones(1), ALPHA)
    with pytest.raises(ValueError, match="empty"):
        build_trie([], np.ones(0), ALPHA)


def test_unspellable_words_are_counted_with_the_characters_missing():
    wl = filter_words({"für": 9.0, "über": 8.0, "und": 7.0, "schön": 1.0}, Alphabet("abcdefghijklmnopqrstuvwxyz"),
                      LexiconConfig(), source="test")
    assert wl.words == ["und"] and wl.dropped["char_not_in_alphabet"] == 3
    assert wl.missing_chars == {"ü": 2, "ö": 1} and wl.unspellable == ["für", "über", "schön"]
    assert "cannot spell für, über, schön" in wl.report() and "'ü' 2" in wl.report()


def test_a_wordfreq_list_in_another_language_than_the_layout_is_refused():
    from swipe.lexicon import check_language

    check_language(LexiconConfig(language="de"), {"qwertz_german": "de", "plain": None})
    check_language(LexiconConfig(source="file", path="w.tsv"), {"qwertz_german": "de"})  # the user's own list
    with pytest.raises(ValueError, match="set lexicon.language=de"):
        check_language(LexiconConfig(language="en"), {"qwertz_german": "de"})


def test_training_and_template_matching_take_the_datasets_lexicon_with_their_keys_on_top(tmp_path, monkeypatch):
    from swipe.lexicon import dataset_lexicon

    made = {"lexicon": {"source": "wordfreq", "language": "de", "top_n": 300}}
    assert (dataset_lexicon(made, {}).language, dataset_lexicon(made, {}).top_n) == ("de", 300)
    wider = dataset_lexicon(made, {"top_n": None})
    assert (wider.language, wider.top_n) == ("de", None)
    assert dataset_lexicon({}, {}).language == "en"  # a dataset made before manifests said
    monkeypatch.chdir(tmp_path)
    own = dataset_lexicon(made, {"source": "file", "path": "words.tsv"})
    assert own.path == str(tmp_path / "words.tsv")  # named absolutely: the model is read from elsewhere


def test_template_prediction_decodes_within_the_datasets_words_and_refuses_another_languages():
    """decoder=template has no model spec: a German dataset is decoded with its own German words,
    and an English list named for it is refused (it decoded English words, with no error)."""
    from swipe.config import load_config
    from swipe.evaluate.predict import PredictConfig, decode_lexicon

    german = {"lexicon": {"source": "wordfreq", "language": "de", "top_n": 300},
              "layouts": {"qwertz_german": {"language": "de"}}}
    assert decode_lexicon(PredictConfig(decoder="template"), german, None).language == "de"
    english = load_config(PredictConfig, ROOT / "configs/predict_template_en.yaml")
    with pytest.raises(ValueError, match="set lexicon.language=de"):
        decode_lexicon(english, german, None)
    english_dev = {"lexicon": {"extra_chars": "'"}, "layouts": {"hws_360x640": {}}}
    assert decode_lexicon(english, english_dev, None).top_n is None  # the shipped config: all English words
