"""The exported model against PyTorch on real dev swipes (same top-k, logits within 1e-4), and
its onnxruntime path decoding in a process where torch cannot be imported."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from swipe.data.importers.yandex import parse_yandex_lines
from swipe.decode.search import BeamConfig, beam_words
from swipe.export.onnx import torch_step_logits
from swipe.export.runtime import OnnxModel
from swipe.keyboard import load_layouts
from swipe.lexicon import Alphabet, LexiconConfig, build_lexicon_trie
from swipe.model.checkpoint import load_meta, load_model
from swipe.model.inputs import collate, encode_targets, model_inputs
from swipe.model.spec import load_spec

from conftest import ROOT

pytestmark = pytest.mark.slow
ROWS = np.arange(0, 3024, 63)  # 48 real swipes, spread over the 31 people and their keyboards


@pytest.fixture(scope="module")
def exported():
    from swipe.serve.service import exported_model

    out = exported_model(ROOT / "models/en-small")  # the service's own export (fp32 and int8): made once
    devices = load_layouts(ROOT / "data/layouts/howweswipe_devices.json")
    lines = (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_bytes().splitlines()
    batch, _, _ = parse_yandex_lines([lines[i] for i in ROWS], 0, devices, "dev")
    model, meta = load_model(ROOT / "models/en-small", "cpu", devices)
    alphabet = Alphabet(meta["alphabet"])
    return out, batch, devices, model, alphabet, build_lexicon_trie(LexiconConfig(), alphabet)


def _torch_topk(model, batch, alphabet, trie, cfg):
    grid = {g: i for i, g in enumerate(model.grid_names)}
    torch.set_num_threads(1)
    return beam_words(model, collate(batch, grid, alphabet, load_spec(load_meta(ROOT / "models/en-small")), model.cfg.max_word_len, targets=False), alphabet, cfg,
                      trie)


def test_exported_logits_and_top_k_equal_torch_on_real_swipes(exported):
    folder, batch, devices, model, alphabet, trie = exported
    ort = OnnxModel(folder, "fp32")
    # logits at every step of spelling each swipe's word, from the same padded inputs
    assert ort.spec == load_spec(load_meta(ROOT / "models/en-small"))  # the model's input spec, saved at export
    points = model_inputs(batch, ort.spec)
    layouts = [devices[g] for g in batch.grid_names]
    state, key_logp = ort.encode_points(points, layouts)
    assert key_logp is None  # today's network has no key head
    tokens_in, _ = encode_targets(list(batch.words), alphabet, model.cfg.max_word_len)
    got = []
    for i in range(tokens_in.shape[1]):
        logits, state = ort.step(tokens_in[:, i].numpy(), state)
        got.append(logits)
    keys = [ort.keys_of(lay) for lay in layouts]
    width = max(k["centres"].shape[1] for k in keys)
    pad = lambda a, axis: np.pad(a, [(0, 0)] + [(0, width - a.shape[1]) if d == 1 else (0, 0)  # noqa: E731
                                                for d in range(1, a.ndim)])
    enc = [torch.from_numpy(points[k]) for k in ("x", "y", "t", "mask")] + [
        torch.from_numpy(np.concatenate([k["bbox"] for k in keys])),
        torch.from_numpy(np.concatenate([pad(k["centres"], 1) for k in keys])),
        torch.from_numpy(np.concatenate([pad(k["key_tokens"], 1) for k in keys])),
        torch.from_numpy(np.concatenate([k["half_diag"] for k in keys]))]
    want = torch_step_logits(model, tuple(enc), tokens_in).numpy()
    spelled = (tokens_in != 0).numpy()  # PAD positions after a word's end are not compared
    diff = np.abs(np.stack(got, 1) - want)[spelled]
    assert diff.max() < 1e-4, diff.max()
    # and the beam's top 4 of each swipe, with the full English lexicon
    cfg = BeamConfig(beam_size=6, top_k=4)
    ours = ort.beam_words(batch, devices, cfg, trie)
    ref = _torch_topk(model, batch, alphabet, trie, cfg)
    assert [[w for w, _ in c] for c in ours] == [[w for w, _ in c] for c in ref]
    np.testing.assert_allclose([s for c in ours for _, s in c], [s for c in ref for _, s in c], atol=1e-4)
    assert sum(bool(c) and c[0][0] == w for c, w in zip(ours, batch.words)) >= len(ROWS) // 4  # it reads people


def test_every_decoder_runs_without_torch_and_gives_the_torch_words(exported):
    """The first 200 dev swipes through SwipeDecoder on the exported model, in a fresh
    interpreter where `import torch` fails: greedy, beam, template and fused (configs/decode_en.yaml)
    give the torch path's top 4 for fp32, scores within 1e-4; int8 moves some near-ties only."""
    from dataclasses import asdict

    from swipe.config import load_config
    from swipe.decode.decoders import Lexicon, SwipeDecoder
    from swipe.evaluate.predict import PredictConfig

    folder, _, devices, model, alphabet, trie = exported
    d = load_config(PredictConfig, ROOT / "configs/decode_en.yaml")
    settings = json.dumps({"beam": asdict(d.beam), "template": asdict(d.template), "fused": asdict(d.fused)})
    code = f"""
import json, sys
sys.modules["torch"] = None  # any import of torch now raises ImportError
import numpy as np
from swipe.data.importers.yandex import parse_yandex_lines
from swipe.decode.decoders import Lexicon, SwipeDecoder
from swipe.decode.fused import FusedConfig
from swipe.decode.search import BeamConfig
from swipe.decode.template import TemplateConfig
from swipe.export.runtime import OnnxModel
from swipe.keyboard import load_layouts
from swipe.lexicon import LexiconConfig, build_lexicon_trie
devices = load_layouts("data/layouts/howweswipe_devices.json")
lines = open("data/samples/howweswipe_en_dev.jsonl", "rb").read().splitlines()
batch, _, _ = parse_yandex_lines(lines[:200], 0, devices, "dev")
s = json.loads({settings!r})
beam = BeamConfig(**s["beam"])
out = {{}}
for precision in ("fp32", "int8"):
    m = OnnxModel({str(folder)!r}, precision)
    lexicon = Lexicon.build(build_lexicon_trie(LexiconConfig(), m.alphabet))
    dec = SwipeDecoder(m, m.alphabet, devices, TemplateConfig(**s["template"]), FusedConfig(**s["fused"]), m.spec)
    out[precision] = {{kind: dec.decode(batch, kind, lexicon, beam) for kind in ("greedy", "beam", "template", "fused")}}
assert sys.modules["torch"] is None
print(json.dumps(out))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    lines = (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_bytes().splitlines()
    batch, _, _ = parse_yandex_lines(lines[:200], 0, devices, "dev")
    torch.set_num_threads(1)
    dec = SwipeDecoder(model, alphabet, devices, d.template, d.fused, load_spec(load_meta(ROOT / "models/en-small")))
    lexicon = Lexicon.build(trie)
    for kind in ("greedy", "beam", "template", "fused"):
        ref = dec.decode(batch, kind, lexicon, d.beam)
        ours = got["fp32"][kind]
        assert [[w for w, _ in c] for c in ours] == [[w for w, _ in c] for c in ref], kind
        np.testing.assert_allclose([s for c in ours for _, s in c], [s for c in ref for _, s in c], atol=1e-4)
        top1 = np.mean([a[:1] == b[:1] for a, b in zip([[w for w, _ in c] for c in got["int8"][kind]],
                                                        [[w for w, _ in c] for c in ref])])
        assert top1 >= 0.9, (kind, top1)  # int8 weights move some near-ties, not most words


def test_an_export_of_another_format_is_refused_with_what_to_do(exported, tmp_path):
    folder = exported[0]
    meta = json.loads((folder / "export.json").read_text())
    (tmp_path / "export.json").write_text(json.dumps(meta | {"format": 1}))
    with pytest.raises(ValueError, match="format 1.*export it again"):
        OnnxModel(tmp_path, "fp32")


def test_words_without_a_key_for_every_letter_decode_in_batches_on_both_backends(exported):
    """Batch decoding (SwipeDecoder.decode, as prediction actors run it) on torch and on
    onnxruntime: "don't" and "it's" swiped over their letters on qwerty_english (no
    apostrophe key) are in the fused top 4 with finite scores, the same words on both."""
    from swipe.config import load_config
    from swipe.data.swipes import SwipeBatch
    from swipe.decode.decoders import Lexicon, SwipeDecoder
    from swipe.evaluate.predict import PredictConfig
    from tests.support.swipes import ideal_swipe

    folder, _, _, model, alphabet, trie = exported
    qwerty = load_layouts(ROOT / "data/layouts/qwerty_english.json")
    words = ["don't", "it's"]
    swipes = [ideal_swipe(qwerty["qwerty_english"], w) for w in words]
    batch = SwipeBatch.from_lists(list(range(len(words))), words, ["qwerty_english"] * len(words),
                                  *([s[a] for s in swipes] for a in "xyt"))
    d = load_config(PredictConfig, ROOT / "configs/decode_en.yaml")
    lexicon = Lexicon.build(trie)
    spec = load_spec(load_meta(ROOT / "models/en-small"))
    got = {}
    for name, net in (("torch", model), ("onnxruntime", OnnxModel(folder, "fp32"))):
        dec = SwipeDecoder(net, alphabet, qwerty, d.template, d.fused, spec)
        got[name] = dec.decode(batch, "fused", lexicon, d.beam)
        for word, cands in zip(words, got[name]):
            assert word in [w for w, _ in cands[:4]] and all(np.isfinite(s) for _, s in cands), (name, cands)
        assert not dec.dropped, dec.dropped
    assert [[w for w, _ in c] for c in got["torch"]] == [[w for w, _ in c] for c in got["onnxruntime"]]


KEYED = ROOT / "models/en-small-ctc"  # the key-head model (head ctc): its export is the encoder graph alone


@pytest.fixture(scope="module")
def keyed_export():
    from swipe.serve.service import exported_model

    devices = load_layouts(ROOT / "data/layouts/howweswipe_devices.json")
    lines = (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_bytes().splitlines()
    batch, _, _ = parse_yandex_lines([lines[i] for i in ROWS], 0, devices, "dev")
    model, meta = load_model(KEYED, "cpu", devices)
    alphabet = Alphabet(meta["alphabet"])
    return exported_model(KEYED), batch, devices, model, alphabet, build_lexicon_trie(LexiconConfig(), alphabet)


def test_the_ctc_beam_gives_the_same_words_on_torch_and_onnxruntime(keyed_export):
    """The key head's log-probabilities (within 1e-4) and the CTC trie beam's top 4 (scores within
    1e-4) on 48 real dev swipes, torch against the export in onnxruntime; and the fused decoder
    fed by it, and "don't" swiped on a keyboard without an apostrophe key."""
    from swipe.config import load_config
    from swipe.data.swipes import SwipeBatch
    from swipe.decode.decoders import Lexicon, SwipeDecoder
    from swipe.evaluate.predict import PredictConfig
    from tests.support.swipes import ideal_swipe

    folder, batch, devices, model, alphabet, trie = keyed_export
    torch.set_num_threads(1)
    d = load_config(PredictConfig, ROOT / "configs/decode_en_ctc.yaml")
    spec = load_spec(load_meta(KEYED))
    lexicon = Lexicon.build(trie)
    qwerty = load_layouts(ROOT / "data/layouts/qwerty_english.json")
    words = ["don't", "it's", "hello"]
    drawn = [ideal_swipe(qwerty["qwerty_english"], w) for w in words]
    typed = SwipeBatch.from_lists(list(range(3)), words, ["qwerty_english"] * 3, *([s[a] for s in drawn] for a in "xyt"))
    got = {}
    for name, net in (("torch", model), ("onnxruntime", OnnxModel(folder, "fp32"))):
        dec = SwipeDecoder(net, alphabet, devices | qwerty, d.template, d.fused, spec, 32, d.ctc)
        enc = dec.encode(batch)
        got[name] = {"logp": enc.key_logp, "ctc": dec.decode(batch, "ctc", lexicon, d.beam),
                     "fused": dec.decode(batch, "fused", lexicon, d.beam),
                     "typed": dec.decode(typed, "ctc", lexicon, d.beam)}
    mask = got["torch"]["logp"] > -1e9  # padding keys are −inf on both
    # float32: within 1e-4 where a key is at all likely, and to float32's relative precision where the
    # distance term makes it hundreds of nats unlikely
    np.testing.assert_allclose(got["onnxruntime"]["logp"][mask], got["torch"]["logp"][mask], rtol=2e-5, atol=1e-4)
    for kind in ("ctc", "fused", "typed"):
        ref, ours = got["torch"][kind], got["onnxruntime"][kind]
        assert [[w for w, _ in c[:4]] for c in ours] == [[w for w, _ in c[:4]] for c in ref], kind
        np.testing.assert_allclose([s for c in ours for _, s in c[:4]], [s for c in ref for _, s in c[:4]], atol=1e-4)
    hits = sum(bool(c) and c[0][0] == w for c, w in zip(got["onnxruntime"]["ctc"], batch.words))
    assert hits >= len(ROWS) // 2, hits  # it reads people
    for word, cands in zip(words, got["onnxruntime"]["typed"]):
        assert word in [w for w, _ in cands[:4]], (word, cands)


def test_the_ctc_decoder_runs_without_torch(keyed_export):
    """The key-head export's CTC trie beam in a fresh interpreter where `import torch` fails: the
    torch path's top 4 on the first 40 dev swipes."""
    from swipe.config import load_config
    from swipe.decode.decoders import Lexicon, SwipeDecoder
    from swipe.evaluate.predict import PredictConfig

    from dataclasses import asdict

    folder, _, devices, model, alphabet, trie = keyed_export
    d = load_config(PredictConfig, ROOT / "configs/decode_en_ctc.yaml")
    code = f"""
import json, sys
sys.modules["torch"] = None  # any import of torch now raises ImportError
from swipe.data.importers.yandex import parse_yandex_lines
from swipe.decode.ctc import CtcConfig
from swipe.decode.decoders import Lexicon, SwipeDecoder
from swipe.decode.fused import FusedConfig
from swipe.decode.search import BeamConfig
from swipe.decode.template import TemplateConfig
from swipe.export.runtime import OnnxModel
from swipe.keyboard import load_layouts
from swipe.lexicon import LexiconConfig, build_lexicon_trie
devices = load_layouts("data/layouts/howweswipe_devices.json")
batch, _, _ = parse_yandex_lines(open("data/samples/howweswipe_en_dev.jsonl", "rb").read().splitlines()[:40], 0,
                                 devices, "dev")
m = OnnxModel({str(folder)!r}, "fp32")
dec = SwipeDecoder(m, m.alphabet, devices, TemplateConfig(), FusedConfig(), m.spec, 32, CtcConfig(**{asdict(d.ctc)!r}))
out = dec.decode(batch, "ctc", Lexicon.build(build_lexicon_trie(LexiconConfig(), m.alphabet)), BeamConfig())
assert sys.modules["torch"] is None
print(json.dumps(out))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    lines = (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_bytes().splitlines()
    batch, _, _ = parse_yandex_lines(lines[:40], 0, devices, "dev")
    dec = SwipeDecoder(model, alphabet, devices, d.template, d.fused, load_spec(load_meta(KEYED)), 32, d.ctc)
    ref = dec.decode(batch, "ctc", Lexicon.build(trie), d.beam)
    assert [[w for w, _ in c[:4]] for c in got] == [[w for w, _ in c[:4]] for c in ref]
