"""The key head (ModelConfig.head ctc / hybrid): outputs tied to the layout's keys, so one set of
weights reads any layout, letters its alphabet lacks included."""

import numpy as np
import pytest
import torch

from swipe.data.synth import SynthConfig, synthesize
from swipe.decode.ctc import CtcConfig, ctc_beam, token_keys
from swipe.keyboard import load_layouts
from swipe.lexicon import PAD, build_alphabet, build_trie
from swipe.model.features import compute_stats
from swipe.model.inputs import collate, encode_targets
from swipe.model.keys import KeyTable, unknown_token
from swipe.model.spec import InputSpec, PointSpec
from swipe.model.transformer import ModelConfig, SwipeModel, count_parameters
from swipe.train.module import key_ctc_loss, key_targets

from conftest import ROOT

UMLAUT_WORDS = ["grün", "böse", "straße", "mädchen", "über", "öl", "äpfel", "müde", "schön", "süß", "fuß", "größe",
                "küche", "hören", "zähne", "tür", "bär", "löwe", "kühl", "spaß"]
OTHER_WORDS = ["hund", "katze", "zeit", "welt", "haus", "baum", "wind", "kalt", "warm", "zug"]


@pytest.fixture(scope="module")
def layouts():
    return (load_layouts(ROOT / "data/layouts/qwerty_english.json"),
            load_layouts(ROOT / "data/layouts/qwertz_german.json"))


def test_key_table_marks_letters_outside_the_alphabet_only_when_asked(layouts):
    en, de = layouts
    alphabet = build_alphabet(en.values())
    with pytest.raises(ValueError, match="lacks"):
        KeyTable.build(de, alphabet)
    kt = KeyTable.build(de, alphabet, unknown_ok=True)
    assert kt.unknown == {"qwertz_german": "ßäöü"}
    letters = de["qwertz_german"].letters
    assert [letters[k] for k in np.flatnonzero(kt.tokens[0] == unknown_token(alphabet))] == ["ü", "ö", "ä", "ß"]
    np.testing.assert_allclose(kt.sizes[0, :len(letters)], de["qwertz_german"].letter_sizes, rtol=1e-6)
    # a model without a key head refuses it; one with a key head reads it
    with pytest.raises(ValueError, match="only a model that scores keys"):
        SwipeModel(ModelConfig(preset="tiny"), KeyTable.build(en, alphabet), alphabet.size).set_keys(kt)
    SwipeModel(ModelConfig(preset="tiny", head="ctc"), KeyTable.build(en, alphabet), alphabet.size).set_keys(kt)


def test_key_head_outputs_a_distribution_over_blank_and_the_layouts_keys(layouts):
    en, de = layouts
    alphabet = build_alphabet(en.values())
    both = KeyTable.build(en | de, alphabet, unknown_ok=True)  # 26 and 30 keys: the English row is padded
    torch.manual_seed(0)
    model = SwipeModel(ModelConfig(preset="tiny", head="hybrid"), both, alphabet.size).eval()
    assert count_parameters(model) > count_parameters(SwipeModel(ModelConfig(preset="tiny", head="ctc"), both,
                                                                 alphabet.size))  # ctc: no decoder at all
    x, y = torch.rand(2, 9) * 300, torch.rand(2, 9) * 150
    t, mask, grid = torch.cumsum(torch.full((2, 9), 16.0), 1), torch.ones(2, 9, dtype=torch.bool), torch.tensor([0, 1])
    memory, logp = model.encode_keys(x, y, t, mask, *model.key_rows(grid))
    assert memory.shape == (2, 9, 32) and logp.shape == (2, 9, 31)
    np.testing.assert_allclose(logp.exp().sum(-1).detach().numpy(), 1.0, atol=1e-5)
    assert torch.isinf(logp[0, :, 27:]).all() and torch.isfinite(logp[1]).all()  # the English row's padding keys
    # CTC targets are the keys of the word's letters on its own layout; a letter without a key is dropped
    _, tout = encode_targets(["zug", "zug"], alphabet, 32)
    target = key_targets(tout, model.features.key_tokens[grid])
    own = [en["qwerty_english"].letters, de["qwertz_german"].letters]
    assert [[own[i][k - 1] for k in row if k] for i, row in enumerate(target.tolist())] == [list("zug")] * 2
    assert target[0].tolist() != target[1].tolist()  # z sits elsewhere on QWERTZ
    assert (target[:, 3:] == 0).all() and (tout[:, 3] != PAD).all()  # EOS is no key


def test_a_tiny_model_trained_on_one_layout_decodes_a_layout_with_letters_it_never_saw(layouts):
    """300 steps on random letter strings swiped on English QWERTY (26 keys, no umlauts); then German
    words on QWERTZ (ä ö ü ß, z and y swapped): the umlaut words are read from their keys' positions."""
    en, de = layouts
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    alphabet = build_alphabet(en.values())
    strings = ["".join(rng.choice(list(alphabet.chars), rng.integers(2, 7))) for _ in range(3000)]
    keys, spec = KeyTable.build(en, alphabet), InputSpec(PointSpec(48))
    model = SwipeModel(ModelConfig(preset="tiny", head="ctc", dropout=0.0), keys, alphabet.size)

    def batch(words, layout, targets=True):
        b = synthesize(words, layout, SynthConfig(), rng)
        return b, collate(b, {layout.name: 0}, alphabet, spec, 32, targets)

    _, t = batch(strings[:512], en["qwerty_english"])
    model.features.set_stats(*compute_stats([(t["x"], t["y"], t["t"], t["mask"], t["grid"])], keys))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(300):
        _, t = batch([strings[i] for i in rng.integers(0, len(strings), 64)], en["qwerty_english"])
        _, logp = model.encode_keys(t["x"], t["y"], t["t"], t["mask"], *model.key_rows(t["grid"]))
        loss = key_ctc_loss(logp, t["mask"], t["tokens_out"], t["grid"], model)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval().set_keys(KeyTable.build(de, alphabet, unknown_ok=True))
    german = build_alphabet(de.values())
    words = UMLAUT_WORDS + OTHER_WORDS
    trie = build_trie(words, np.ones(len(words)), german)  # no prior: every word alike
    swipes, t = batch(words * 4, de["qwertz_german"], targets=False)
    with torch.no_grad():
        _, logp = model.encode_keys(t["x"], t["y"], t["t"], t["mask"], *model.key_rows(t["grid"]))
    keymap = np.stack([token_keys(de["qwertz_german"].letters, german)] * len(swipes))
    found = ctc_beam(logp.numpy(), t["mask"].sum(1).numpy(), keymap, trie, CtcConfig(freq_weight=0.0))
    right = np.array([bool(c) and c[0][0] == w for c, w in zip(found, swipes.words)])
    umlaut = np.array([w in UMLAUT_WORDS for w in swipes.words])
    assert right[umlaut].mean() >= 0.75, right[umlaut].mean()  # chance: 1/30 (97% when written)
    assert right[~umlaut].mean() >= 0.75, right[~umlaut].mean()


def test_subsampled_frames_read_a_swipe_alone_as_in_a_padded_batch(layouts):
    """model.subsample 2: pairs of points are one frame (⌈points / 2⌉ of them); padding never
    reaches a swipe's frames, and only a key head (no decoder) may subsample."""
    from swipe.decode.network import frame_lengths
    from swipe.model.transformer import resolve

    en, _ = layouts
    alphabet = build_alphabet(en.values())
    torch.manual_seed(0)
    model = SwipeModel(ModelConfig(preset="tiny", head="ctc", subsample=2), KeyTable.build(en, alphabet),
                       alphabet.size).eval()
    x, y = torch.rand(2, 9) * 300, torch.rand(2, 9) * 150
    t = torch.cumsum(torch.full((2, 9), 16.0), 1)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 5:] = False  # 5 points: 3 frames, the last of one point
    grid = torch.zeros(2, dtype=torch.long)
    with torch.no_grad():
        _, both = model.encode_keys(x, y, t, mask, *model.key_rows(grid))
        _, alone = model.encode_keys(x[1:, :5], y[1:, :5], t[1:, :5], mask[1:, :5], *model.key_rows(grid[1:]))
    assert both.shape[1] == 5 and alone.shape[1] == 3 == frame_lengths(5, 2)
    np.testing.assert_allclose(both[1, :3].numpy(), alone[0].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="subsample"):
        resolve(ModelConfig(head="hybrid", subsample=2))
