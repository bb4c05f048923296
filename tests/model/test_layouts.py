"""Layouts at inference time: the key table comes with the data, so a model reads keyboards it
was not trained on, of any size and place, as long as it knows their letters."""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from swipe.data.synth import SynthConfig, synthesize
from swipe.decode.search import greedy_words
from swipe.metrics import summarize
from swipe.keyboard import layouts_to_json, parse_layout
from swipe.lexicon import build_alphabet, build_trie
from swipe.model.features import FEATURE_SETS, KeyTable, PointFeatures
from swipe.model.inputs import collate
from swipe.model.transformer import ModelConfig, SwipeModel
from swipe.train.module import smoothed_cross_entropy
from swipe.model.spec import InputSpec, PointSpec

P64 = InputSpec(PointSpec(64))

SCALE, SHIFT = 2.0, (40.0, -16.0)  # another phone: a bigger keyboard drawn elsewhere. Exact in float32:
# synthetic points are whole pixels, many of them halfway between two keys, and a scale that
# rounds would break those ties the other way (a rounding artefact, not a feature that moved)
WORDS = ["the", "and", "you", "that", "was", "for", "are", "with", "his", "they", "this", "have", "from",
         "one", "had", "word", "but", "not", "what", "all", "were", "when", "your", "can", "said"]


def moved(layout):
    """The layout scaled by SCALE and shifted by SHIFT, under another name."""
    grid = copy.deepcopy(layouts_to_json({layout.name: layout})[layout.name])  # not the shared fixture's
    for k in grid["keys"]:
        h = k["hitbox"]
        h.update(x=h["x"] * SCALE + SHIFT[0], y=h["y"] * SCALE + SHIFT[1], w=h["w"] * SCALE, h=h["h"] * SCALE)
    grid["width"], grid["height"] = grid["width"] * SCALE, grid["height"] * SCALE
    return parse_layout("moved", grid)


def on_moved(batch):
    """The same swipes, scaled and shifted with the keyboard, on the layout named "moved"."""
    return replace(batch, x=batch.x * SCALE + SHIFT[0], y=batch.y * SCALE + SHIFT[1],
                   grid_names=["moved"] * len(batch))


@pytest.mark.parametrize("features", FEATURE_SETS)
def test_no_feature_sees_the_keyboards_size_or_place(features, qwerty):
    alphabet = build_alphabet([qwerty])
    torch.manual_seed(0)
    feats = PointFeatures(features, KeyTable.build({qwerty.name: qwerty}, alphabet), alphabet.size, 8)
    if features == "gaussian":  # trained Gaussians, not the zero initialisation
        with torch.no_grad():
            feats.gauss_mu.normal_(0, 0.3)
            feats.gauss_log_sigma.normal_(0, 0.3)
    batch = synthesize(WORDS, qwerty, SynthConfig(), np.random.default_rng(0))
    a = collate(batch, {qwerty.name: 0}, alphabet, P64, 12)
    before = feats(a["x"], a["y"], a["t"], a["mask"], a["grid"])
    other = moved(qwerty)
    feats.set_keys(KeyTable.build({"moved": other}, alphabet))
    b = collate(on_moved(batch), {"moved": 0}, alphabet, P64, 12)
    after = feats(b["x"], b["y"], b["t"], b["mask"], b["grid"])
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_a_model_trained_on_one_layout_scores_the_same_on_a_moved_copy(qwerty):
    """Trained on qwerty only, the model decodes the same swipes scaled and shifted, over the
    scaled and shifted keyboard it never saw, to the same words (within float rounding)."""
    alphabet = build_alphabet([qwerty])
    keys = KeyTable.build({qwerty.name: qwerty}, alphabet)
    torch.manual_seed(0)
    model = SwipeModel(ModelConfig(preset="tiny", max_word_len=8, dropout=0.0), keys, alphabet.size)
    rng = np.random.default_rng(0)
    opt = torch.optim.AdamW(model.parameters(), 3e-3)
    for _ in range(150):  # enough to decode well above chance
        b = collate(synthesize(list(rng.choice(WORDS, 32)), qwerty, SynthConfig(), rng), {qwerty.name: 0},
                    alphabet, P64, 8)
        logits = model(b["x"], b["y"], b["t"], b["mask"], b["grid"], b["tokens_in"])
        smoothed_cross_entropy(logits, b["tokens_out"], 0.0, None).backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    trie = build_trie(WORDS, np.ones(len(WORDS)), alphabet)
    test = synthesize(WORDS * 4, qwerty, SynthConfig(), np.random.default_rng(1))
    own = greedy_words(model, collate(test, {qwerty.name: 0}, alphabet, P64, 8, targets=False), alphabet, trie).words
    model.set_keys(KeyTable.build({"moved": moved(qwerty)}, alphabet))
    away = collate(on_moved(test), {"moved": 0}, alphabet, P64, 8, targets=False)
    other = greedy_words(model, away, alphabet, trie).words
    acc_own = summarize([[w] for w in own], test.words)["acc@1"]
    acc_other = summarize([[w] for w in other], test.words)["acc@1"]
    assert acc_own > 0.3, acc_own  # it learned something: the comparison means something
    assert abs(acc_other - acc_own) <= 0.02 and np.mean(np.array(own) == np.array(other)) >= 0.98
