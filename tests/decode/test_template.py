"""Template matching: resampling by arc length, candidates pruned by start and end key, the word
of a clean swipe found on any layout, coarse-to-fine equal to scoring everything finely."""

from dataclasses import replace

import numpy as np
import pytest

from swipe.data.importers.howweswipe import study_layout
from swipe.data.swipes import SwipeBatch
from swipe.decode.template import LayoutKeys, TemplateConfig, TemplateIndex, candidates, resample, template_words
from swipe.keyboard import parse_layout
from swipe.lexicon import build_alphabet, build_trie

WORDS = ["hello", "help", "world", "word", "swipe", "keyboard", "the", "they", "then", "gesture", "quick",
         "quiz", "jump", "jumps", "lazy", "dog", "dig", "fox", "a", "i", "to", "ok"]  # no "too": a repeated
# letter adds no length, so "to" and "too" have one template (only the prior tells them apart)


def test_resample_spaces_points_evenly_along_the_path():
    pts = np.array([[[0, 0], [10, 0], [10, 10], [99, 99]], [[5, 5], [5, 5], [0, 0], [0, 0]]], np.float32)
    out = resample(pts, np.array([3, 2]), 5)  # the second: a tap (two equal points) plus padding
    np.testing.assert_allclose(out[0], [[0, 0], [5, 0], [10, 0], [10, 5], [10, 10]], atol=1e-5)
    np.testing.assert_allclose(out[1], [[5, 5]] * 5)


@pytest.fixture(scope="module")
def world():
    layouts = {g.name: g for g in (parse_layout("hws_360x197", study_layout(360, 197)),
                                   parse_layout("hws_1023x330", study_layout(1023, 330)))}
    alphabet = build_alphabet(layouts.values())
    freq = np.linspace(1000, 10, len(WORDS))
    return layouts, TemplateIndex.build(build_trie(WORDS, freq, alphabet)), alphabet


def clean(word, layout, points_per_key=6):
    """A swipe that follows the word's key centres exactly, densely sampled."""
    c = layout.letter_centres[[layout.letters.index(ch) for ch in word]]
    if len(c) == 1:
        c = np.repeat(c, 2, 0)
    t = np.linspace(0, len(c) - 1, points_per_key * len(c))
    x, y = np.interp(t, np.arange(len(c)), c[:, 0]), np.interp(t, np.arange(len(c)), c[:, 1])
    return x, y


def test_a_clean_swipe_decodes_to_its_word_on_any_keyboard(world):
    layouts, index, _ = world
    for g, lay in layouts.items():
        xs, ys = zip(*(clean(w, lay) for w in WORDS))
        batch = SwipeBatch.from_lists(list(range(len(WORDS))), WORDS, [g] * len(WORDS), xs, ys,
                                      [np.arange(len(x)) * 16.0 for x in xs])
        got = template_words(batch, layouts, index, TemplateConfig(freq_weight=0.0))
        assert [c[0][0] for c in got] == WORDS, g
        assert all(len(c) <= 4 and len({w for w, _ in c}) == len(c) for c in got)


def test_candidates_start_and_end_near_the_ends_of_the_swipe(world):
    layouts, index, alphabet = world
    lay = layouts["hws_360x197"]
    x, y = clean("hello", lay)
    found = {index.word(int(w)) for w in candidates(x, y, LayoutKeys(lay, alphabet), index, 0.6, 0.6)}
    assert "hello" in found and "help" not in found and "world" not in found  # help ends on p, world starts on w
    assert all(w[0] in "hgjyubn" for w in found)  # first letters on keys next to h


def test_coarse_to_fine_ranks_as_scoring_everything_finely(world):
    layouts, index, _ = world
    rng = np.random.default_rng(0)
    lay = layouts["hws_1023x330"]
    xs, ys = zip(*(clean(w, lay) for w in WORDS))
    noisy = [(x + rng.normal(0, 15, len(x)), y + rng.normal(0, 15, len(y))) for x, y in zip(xs, ys)]
    batch = SwipeBatch.from_lists(list(range(len(WORDS))), WORDS, [lay.name] * len(WORDS),
                                  [n[0] for n in noisy], [n[1] for n in noisy], [np.arange(len(x)) * 16.0 for x in xs])
    fine = template_words(batch, layouts, index, TemplateConfig(shortlist=0))
    coarse = template_words(batch, layouts, index, TemplateConfig(shortlist=5))
    assert [c[0][0] for c in coarse] == [c[0][0] for c in fine]
    assert replace(TemplateConfig(), shortlist=0).shortlist == 0


def test_kept_and_predrawn_templates_match_as_drawn_afresh_and_a_layout_is_drawn_whole_once(world, monkeypatch):
    """Swipes one at a time (as online): after PREDRAW_AFTER on a layout its coarse templates are
    drawn whole, once, even when the layout is evicted and comes back; every swipe gets the
    words and scores of a matcher that keeps nothing."""
    from swipe.decode import template

    layouts, index, _ = world
    rng = np.random.default_rng(1)
    calls = []
    predraw = template.LayoutKeys.predraw
    monkeypatch.setattr(template.LayoutKeys, "predraw", lambda self, *a: calls.append(self) or predraw(self, *a))
    monkeypatch.setattr(template, "KEPT_LAYOUTS", 1)  # every change of layout evicts the other
    cfg = TemplateConfig(shortlist=3, coarse_points=8)
    cache = template.LayoutCache()
    for g in ["hws_1023x330"] * (template.PREDRAW_AFTER + 3) + ["hws_360x197"] + ["hws_1023x330"] * 12:
        w = WORDS[rng.integers(len(WORDS))]
        x, y = clean(w, layouts[g])
        one = SwipeBatch.from_lists([0], [w], [g], [x + rng.normal(0, 9, len(x))], [y + rng.normal(0, 9, len(y))],
                                    [np.arange(len(x)) * 16.0])
        assert template_words(one, layouts, index, cfg, cache) == template_words(one, layouts, index, cfg, None)
    assert len(calls) == 1 and cache.predrawn == {"hws_1023x330"}


def test_a_letter_without_a_key_is_swiped_past_and_a_word_with_no_key_is_left_out():
    """The one rule (DrawnWords): on a keyboard without an apostrophe key, "don't" is drawn as
    "dont" (as the synthesizer swipes it), "'tis" is found by its first letter with a key, and
    a word with no key for any letter is never a candidate."""
    from swipe.decode.template import drawn

    lay = parse_layout("abc", {"width": 200, "height": 40, "keys": [
        {"label": c, "hitbox": {"x": 20 * i, "y": 0, "w": 20, "h": 40}} for i, c in enumerate("dontis")]})
    alphabet = build_alphabet([lay], extra_chars="'")
    words = ["don't", "dont", "'tis", "'", "''", "it's"]
    index = TemplateIndex.build(build_trie(words, np.linspace(100, 10, len(words)), alphabet))
    keys = LayoutKeys(lay, alphabet)
    ids = {index.word(i): i for i in range(len(index.lengths))}
    assert np.isfinite(drawn(np.array([ids[w] for w in words[:3] + words[5:]]), keys, index, 8)).all()
    np.testing.assert_allclose(*drawn(np.array([ids["don't"], ids["dont"]]), keys, index, 8).transpose(1, 0, 2))
    tis = drawn(np.array([ids["'tis"]]), keys, index, 8)[:2, 0]  # x, y: from t's key to s's
    np.testing.assert_allclose(tis[:, [0, -1]].T, lay.letter_centres[[lay.letters.index("t"), lay.letters.index("s")]])
    assert list(keys.words(index).drawable) == [index.word(i) not in ("'", "''") for i in range(len(index.lengths))]
    x, y = clean("tis", lay)
    found = {index.word(int(w)) for w in candidates(x, y, keys, index, 0.4, 0.4)}
    assert "'tis" in found and "it's" not in found  # starts on t, ends on s; "it's" starts on i
    x, y = clean("dont", lay)
    batch = SwipeBatch.from_lists([0], ["don't"], ["abc"], [x], [y], [np.arange(len(x)) * 16.0])
    got = template_words(batch, {"abc": lay}, index, TemplateConfig(freq_weight=1.0))[0]
    assert [w for w, _ in got[:2]] == ["don't", "dont"] and all(np.isfinite(s) for _, s in got)


def test_the_shared_lexicons_kept_templates_survive_a_personal_words_request(world, monkeypatch):
    """Online, each request matches the shared index and then the user's own: the shared index's
    templates, drawn whole once, stay kept (pinned) however many users' indexes come between."""
    from swipe.decode import template

    layouts, index, alphabet = world
    lay = layouts["hws_1023x330"]
    calls = []
    predraw = template.LayoutKeys.predraw
    monkeypatch.setattr(template.LayoutKeys, "predraw", lambda self, *a: calls.append(a[0]) or predraw(self, *a))
    monkeypatch.setattr(template, "KEEP_AFTER", 2)  # users' indexes kept too, soon
    cfg = TemplateConfig(shortlist=3, coarse_points=8)
    cache = template.LayoutCache()
    for i in range(template.PREDRAW_AFTER + 2 * template.KEPT_INDEXES + 4):
        w = WORDS[i % len(WORDS)]
        x, y = clean(w, lay)
        one = SwipeBatch.from_lists([0], [w], [lay.name], [x], [y], [np.arange(len(x)) * 16.0])
        template_words(one, layouts, index, cfg, cache)
        personal = TemplateIndex.build(build_trie([f"{w}{'x' * (i % 3)}", "zq"], np.array([5.0, 1.0]), alphabet))
        template_words(one, layouts, personal, cfg, cache)
        if i > template.PREDRAW_AFTER:
            assert cache[lay.name].keeps(cfg.coarse_points, index), i
    assert calls == [index] and cache.pinned is index
    assert len(cache[lay.name]._kept) <= 1 + template.KEPT_INDEXES
