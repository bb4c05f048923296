"""The fused decoder: the model scores every candidate (the beam's and the template
matcher's), and the weights decide the order."""

from dataclasses import replace

import numpy as np
import torch

from swipe.data.synth import SynthConfig, synthesize
from swipe.decode.fused import FusedChannels, FusedConfig, fused_channels, rank_fused
from swipe.decode.search import BeamConfig, beam_words
from swipe.decode.template import TemplateConfig, TemplateIndex, template_words
from swipe.decode.torch_network import TorchNetwork
from swipe.keyboard import parse_layout
from swipe.lexicon import Alphabet, build_trie
from swipe.model.features import KeyTable
from swipe.model.inputs import collate
from swipe.model.transformer import ModelConfig, SwipeModel
from swipe.model.spec import InputSpec, PointSpec

ALPHA = Alphabet("abcdef")
GRID = {"width": 120, "height": 40, "keys": [
    {"label": c, "hitbox": {"x": 20 * i, "y": 0, "w": 20, "h": 40}} for i, c in enumerate(ALPHA.chars)]}


def _setup(seed=0):
    rng = np.random.default_rng(seed)
    words = sorted({"".join(rng.choice(list(ALPHA.chars), rng.integers(1, 6))) for _ in range(80)})
    trie = build_trie(words, rng.uniform(1, 1000, len(words)), ALPHA)
    layout = parse_layout("g", GRID)
    torch.manual_seed(seed)
    model = SwipeModel(ModelConfig(preset="tiny", max_word_len=6, dropout=0.0), KeyTable.build({"g": layout}, ALPHA),
                       ALPHA.size).eval()
    part = synthesize(list(rng.choice(words, 6)), layout, SynthConfig(), rng)
    tensors = collate(part, {"g": 0}, ALPHA, InputSpec(PointSpec(64)), 6, targets=False)
    return words, trie, layout, model, part, tensors


def test_teacher_forced_logp_is_the_beams_own_score():
    """With no length normalisation, a beam candidate's score is Σ log p of its tokens and
    EOS: the teacher-forced log-probability must be that same number."""
    _, _, _, model, part, tensors = _setup()
    beams = beam_words(model, tensors, ALPHA, BeamConfig(beam_size=4, top_k=4, length_alpha=0.0), None)
    swipe = np.array([i for i, c in enumerate(beams) for _ in c])
    words = [w for c in beams for w, _ in c]
    net = TorchNetwork(model, ALPHA, InputSpec(PointSpec(64)), {"g": parse_layout("g", GRID)})
    got = net.word_logprobs(net.encode(part), swipe, words)
    np.testing.assert_allclose(got, [s for c in beams for _, s in c], rtol=1e-4, atol=1e-4)


def test_candidates_are_the_union_of_both_decoders_each_once():
    _, trie, layout, model, part, tensors = _setup(1)
    index = TemplateIndex.build(trie)
    beam, template = BeamConfig(beam_size=4), TemplateConfig()
    cfg = FusedConfig(beam_candidates=3, template_candidates=3)
    net = TorchNetwork(model, ALPHA, InputSpec(PointSpec(64)), {"g": layout})
    ch = fused_channels(net, net.encode(part), trie, index, {"g": layout}, beam, template, cfg, {})
    neural = beam_words(model, tensors, ALPHA, replace(beam, top_k=3, length_alpha=1.0), trie)
    matched = template_words(part, {"g": layout}, index, replace(template, top_k=3))
    for i in range(len(part)):
        mine = [w for w, s in zip(ch.words, ch.swipe) if s == i]
        assert len(mine) == len(set(mine))
        assert set(mine) == {w for w, _ in neural[i]} | {w for w, _ in matched[i]}
    assert np.isfinite(ch.logp).all() and (ch.logp < 0).all() and (ch.shape >= 0).all()


def test_the_weights_decide_the_order():
    ch = FusedChannels(swipe=np.zeros(3, np.int64), words=["ab", "abc", "b"], logp=np.array([-1.0, -3.0, -6.0]),
                       length=np.array([2.0, 3.0, 1.0]), logfreq=np.array([-5.0, -1.0, -3.0]),
                       shape=np.array([0.3, 0.1, 0.0]), location=np.zeros(3), ctc=np.array([-9.0, -9.0, -1.0]))
    neural = FusedConfig(length_alpha=0.0, freq_weight=0.0, sigma_shape=1e6, sigma_location=1e6, top_k=3)
    assert [w for w, _ in rank_fused(ch, 1, neural)[0]] == ["ab", "abc", "b"]
    freq = replace(neural, neural_weight=0.0, freq_weight=1.0)
    assert [w for w, _ in rank_fused(ch, 1, freq)[0]] == ["abc", "b", "ab"]
    shape = replace(neural, neural_weight=0.0, sigma_shape=0.1)
    assert [w for w, _ in rank_fused(ch, 1, shape)[0]] == ["b", "abc", "ab"]
    longer = replace(neural, length_weight=10.0)  # a length bonus per letter outweighs the log-probability
    assert [w for w, _ in rank_fused(ch, 1, longer)[0]][0] == "abc"
    ctc = replace(neural, neural_weight=0.0, ctc_weight=1.0)  # a hybrid network's key head
    assert [w for w, _ in rank_fused(ch, 1, ctc)[0]][0] == "b"
