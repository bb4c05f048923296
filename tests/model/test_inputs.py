"""Padded model inputs: swipes → tensors (and the Ray collate function's equality with it), targets."""

import numpy as np
import pytest

from swipe.data.swipes import SwipeBatch
from swipe.data.synth import SynthConfig, synthesize
from swipe.lexicon import BOS, EOS, PAD, build_alphabet
from swipe.model.inputs import collate, encode_targets
from swipe.model.spec import InputSpec, PointSpec
from swipe.train.stream import PadCollate


@pytest.fixture(scope="module")
def batch(qwerty):
    rng = np.random.default_rng(0)
    return synthesize(list(rng.choice(["hello", "world", "a", "swipes", "keyboard"], 300)), qwerty,
                      SynthConfig(), rng)


def test_collate_pads_and_encodes(batch, qwerty):
    alpha = build_alphabet([qwerty], "'")
    b = batch.take(np.arange(5))
    out = collate(b, {"qwerty_english": 0}, alpha, InputSpec(PointSpec(500)), max_word_len=32)
    n = b.lengths
    assert out["x"].shape == (5, n.max()) and out["mask"].sum(1).tolist() == n.tolist()
    for i in range(5):
        np.testing.assert_array_equal(out["x"][i, :n[i]].numpy(), b.x[b.offsets[i]:b.offsets[i + 1]].astype(np.float32))
        assert (out["x"][i, n[i]:] == 0).all()
    tin, tout = out["tokens_in"], out["tokens_out"]
    w = b.words[0]
    assert tin[0, 0] == BOS and tin[0, 1:len(w) + 1].tolist() == alpha.encode(w)
    assert tout[0, :len(w)].tolist() == alpha.encode(w) and tout[0, len(w)] == EOS
    assert (tout[0, len(w) + 1:] == PAD).all()
    # long swipes are subsampled uniformly, first and last point kept
    short = collate(b, {"qwerty_english": 0}, alpha, InputSpec(PointSpec(8)), max_word_len=32)
    assert short["x"].shape[1] == 8
    last = b.offsets[1:] - 1
    kept = np.minimum(n, 8)  # a one-letter swipe can have fewer points than that
    np.testing.assert_array_equal(short["x"][np.arange(5), kept - 1].numpy(), b.x[last].astype(np.float32))
    # the Ray collate function gives the same from Arrow
    via_arrow = PadCollate({"qwerty_english": 0}, alpha, InputSpec(PointSpec(500)), 32)(b.to_arrow())
    for k in out:
        assert (via_arrow[k] == out[k]).all()
    with pytest.raises(KeyError, match="dvorak"):
        collate(SwipeBatch(b.ids, b.words, ["dvorak"] * 5, b.x, b.y, b.t, b.offsets), {"qwerty_english": 0},
                alpha, InputSpec(PointSpec(500)), 32)
    with pytest.raises(ValueError, match="allows 3"):
        encode_targets(["abcd"], alpha, 3)
