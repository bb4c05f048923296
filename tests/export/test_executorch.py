"""The ExecuTorch export against PyTorch on real dev swipes: the same top-k, logits within 1e-4.
Needs the optional `executorch` extra (`make executorch`); skipped, saying so, without it."""

import importlib.util

import numpy as np
import pytest
import torch

from swipe.data.importers.yandex import parse_yandex_lines
from swipe.decode.search import BeamConfig, beam_words
from swipe.keyboard import load_layouts
from swipe.lexicon import Alphabet, LexiconConfig, build_lexicon_trie
from swipe.model.checkpoint import load_model
from swipe.model.inputs import collate, encode_targets
from swipe.model.spec import load_spec

from conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    importlib.util.find_spec("executorch") is None,
    reason="ExecuTorch is an optional extra: `make executorch` (pip install -e '.[dev,executorch]') runs this test")]


def test_executorch_programs_decode_as_torch_does(tmp_path):
    from swipe.export.executorch import EtModel, export_executorch

    export_executorch(ROOT / "models/en-small", tmp_path)
    devices = load_layouts(ROOT / "data/layouts/howweswipe_devices.json")
    lines = (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_bytes().splitlines()
    batch, _, _ = parse_yandex_lines([lines[i] for i in range(0, 3024, 126)], 0, devices, "dev")
    model, meta = load_model(ROOT / "models/en-small", "cpu", devices)
    alphabet = Alphabet(meta["alphabet"])
    et = EtModel(tmp_path)
    assert et.spec == load_spec(meta)  # the model's input spec, saved at export
    # logits along each swipe's word, step by step, against the model's own cached steps
    tokens_in, _ = encode_targets(list(batch.words), alphabet, model.cfg.max_word_len)
    tensors = collate(batch, {g: i for i, g in enumerate(model.grid_names)}, alphabet, load_spec(meta), model.cfg.max_word_len,
                      targets=False)
    with torch.inference_mode():
        state = et.encode(batch, devices)
        memory = model.encode(tensors["x"], tensors["y"], tensors["t"], tensors["mask"], tensors["grid"])
        cache = model.start_cache(memory, tensors["mask"])
        worst = 0.0
        for i in range(tokens_in.shape[1]):
            got, state = et.step(tokens_in[:, i], state)
            want, cache = model.decode_step(tokens_in[:, i], cache)
            spelled = tokens_in[:, i] != 0
            worst = max(worst, float((got - want).abs()[spelled].max()))
    assert worst < 1e-4, worst
    cfg = BeamConfig(beam_size=6, top_k=4)
    trie = build_lexicon_trie(LexiconConfig(), alphabet)
    ours = et.beam_words(batch, devices, cfg, trie)
    ref = beam_words(model, tensors, alphabet, cfg, trie)
    assert [[w for w, _ in c] for c in ours] == [[w for w, _ in c] for c in ref]
    np.testing.assert_allclose([s for c in ours for _, s in c], [s for c in ref for _, s in c], atol=1e-4)
