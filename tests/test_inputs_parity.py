"""One swipe through every path that feeds the model gives identical tensors: the model's own
input spec (model.json), never a caller's setting. And the statistics the model was trained
with are what its inference path produces.

The paths: training (its spec built from the training config, the Ray collate function),
validation, batch prediction (a prediction actor), the fused decoder, the fused tuning job's
candidates, the evaluation report, serving (the online decoder); for today's network and for one
with a key head (its CTC trie beam, and the fused decoder fed by it). The exported runtimes read
the spec from their export's JSON: tests/export/test_onnx.py and test_executorch.py.
"""

import json
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest

import swipe.model.inputs
from swipe.config import build_config, load_config
from swipe.data.swipes import SwipeBatch
from swipe.decode.fused import FusedConfig
from swipe.decode.search import BeamConfig
from swipe.decode.template import TemplateConfig, TemplateIndex
from swipe.dev.calibrate import collect_fused
from swipe.evaluate.predict import PredictConfig, Predictor, resolve_spec
from swipe.evaluate.report import spec_of
from swipe.keyboard import load_layouts
from swipe.lexicon import Alphabet, LexiconConfig, build_lexicon_trie
from swipe.model.checkpoint import load_meta, load_model
from swipe.model.features import KeyTable, compute_stats
from swipe.model.inputs import collate, model_inputs
from swipe.model.spec import PointSpec, load_spec
from swipe.train.config import TrainConfig
from swipe.train.fit import build_input_spec
from swipe.train.stream import PadCollate

from conftest import ROOT

pytestmark = pytest.mark.slow
SHIPPED = ROOT / "models/en-small"
SMALL = {"top_n": 3000}  # an explicit, recorded override of the lexicon: the points stay the model's


@pytest.fixture(scope="module")
def shipped():
    devices = load_layouts(ROOT / "data/layouts/howweswipe_devices.json")
    meta = load_meta(SHIPPED)
    model, _ = load_model(SHIPPED, "cpu", devices)
    return model, meta, devices


@pytest.fixture(scope="module")
def long_swipe():
    """A real dev swipe of 200 points (more than the shipped model's 64), on its own keyboard."""
    for line in (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_text().splitlines():
        row = json.loads(line)
        c = row["curve"]
        if len(c["x"]) >= 200 and len(set(c["t"][:200])) == 200:
            return row | {"curve": c | {k: c[k][:200] for k in "xyt"}}
    raise AssertionError("no dev swipe of 200 points")


@pytest.fixture()
def recorded(monkeypatch):
    """Every padded input any path makes, as the model receives it."""
    seen: list[dict[str, np.ndarray]] = []
    real = swipe.model.inputs.pad_points

    def spy(*args):
        out = real(*args)
        seen.append(out)
        return out

    monkeypatch.setattr(swipe.model.inputs, "pad_points", spy)
    return seen


def _batch(row) -> SwipeBatch:
    c = row["curve"]
    return SwipeBatch.from_lists([0], [row["word"]], [c["grid_name"]], [c["x"]], [c["y"]], [c["t"]], "dev",
                                 [row.get("user") or "u"])


@pytest.fixture(scope="module")
def keyed(shipped, tmp_path_factory):
    """A model with a key head (head hybrid: the CTC trie beam and the decoder) saved as training
    saves one, reading what the shipped model reads, with the shipped model's training record."""
    import torch

    from swipe.model.checkpoint import save_model_dir
    from swipe.model.transformer import ModelConfig, SwipeModel

    _, meta, devices = shipped
    alphabet = Alphabet(meta["alphabet"])
    torch.manual_seed(0)
    model = SwipeModel(ModelConfig(preset="tiny", head="hybrid"), KeyTable.build(devices, alphabet), alphabet.size)
    model.features.set_stats(np.array(meta["feature_stats"]["mean"]), np.array(meta["feature_stats"]["std"]))
    layouts_json = json.loads((ROOT / "data/layouts/howweswipe_devices.json").read_text())
    path = save_model_dir(tmp_path_factory.mktemp("keyed") / "ckpt", model, alphabet, layouts_json, load_spec(meta),
                          {"train": meta["train"]})
    return path, load_model(path, "cpu", devices)[0], load_meta(path), devices


@pytest.mark.parametrize("which", ["shipped", "keyed"])
def test_one_swipe_reads_alike_through_every_path(shipped, keyed, long_swipe, recorded, tmp_path, which):
    """Every path, for today's network and for one with a key head (its CTC decoder and its fused
    decoder, whose first pass is the CTC trie beam)."""
    model, meta, devices = shipped
    checkpoint, kinds = SHIPPED, ("beam", "fused")
    if which == "keyed":
        checkpoint, model, meta, devices = keyed
        kinds = ("ctc", "fused")
    spec = load_spec(meta)
    batch = _batch(long_swipe)
    g = batch.grid_names[0]
    layouts = {g: devices[g]}
    alphabet = Alphabet(meta["alphabet"])
    expected = model_inputs(batch, spec)
    assert expected["mask"].sum() == 64  # the shipped model reads 64 of the 200 points
    recorded.clear()
    paths: dict[str, int] = {}

    def mark(name: str) -> None:
        paths[name] = len(recorded)

    # training and validation: the spec training builds from the model's recorded config
    train_cfg = build_config(TrainConfig, meta["train"]["config"])
    assert build_input_spec(train_cfg).points == spec.points
    keys = KeyTable.build(layouts, alphabet)
    PadCollate(keys.index(), alphabet, build_input_spec(train_cfg), model.cfg.max_word_len)(batch.to_arrow())
    mark("training")
    # batch prediction: the spec the driver resolves, handed to an actor
    trie = build_lexicon_trie(LexiconConfig(top_n=3000), alphabet)
    used, overrides = resolve_spec(meta, PredictConfig(lexicon=SMALL), "shipped")
    assert overrides == ["lexicon.top_n: None → 3000"]
    table = batch.to_arrow().append_column("path", pa.array(["p"], pa.string()))
    grid_json = {g: json.loads((ROOT / "data/layouts/howweswipe_devices.json").read_text())[g]}
    actor = Predictor(str(checkpoint), trie, BeamConfig(), used.to_dict(), 32, grid_json, kind=kinds[0])
    assert actor.decode_table(table)["candidates"].to_pylist()[0]
    mark("prediction")
    fused_actor = Predictor(str(checkpoint), (trie, TemplateIndex.build(trie)), BeamConfig(), used.to_dict(), 32,
                            grid_json, TemplateConfig(), FusedConfig())
    assert fused_actor.decode_table(table)["candidates"].to_pylist()[0]
    mark("fused")
    # the fused tuning job: what prediction with its base config would read
    base = replace(load_config(PredictConfig, ROOT / "configs/predict_template_en.yaml"), lexicon={})
    tuned, _ = resolve_spec(meta, base, "shipped")
    collect_fused(batch, model, alphabet, trie, TemplateIndex.build(trie), layouts, BeamConfig(), TemplateConfig(),
                  FusedConfig(), tuned, 32)
    mark("tuning")
    # the evaluation report: prediction.json's spec
    collate(batch, {n: i for i, n in enumerate(model.grid_names)}, alphabet,
            spec_of({"input_spec": used.to_dict()}, meta), model.cfg.max_word_len, targets=False)
    mark("report")
    # serving: the online decoder, the decode config's settings
    from swipe.serve.service import OnlineDecoder, ServeConfig, load_offer, resolve_paths
    from swipe.serve.users import UserWordsConfig

    cfg = resolve_paths(ServeConfig(users=UserWordsConfig(store=str(tmp_path / "users"))), ROOT)
    if which == "keyed":
        cfg = replace(cfg, models={"keyed": str(checkpoint)})
    decode, layouts_json = load_offer(cfg)
    service = OnlineDecoder(cfg, replace(decode, lexicon=SMALL), layouts_json)
    c = long_swipe["curve"]
    for kind in kinds:
        assert service.decode({"x": c["x"], "y": c["y"], "t": c["t"], "layout": g, "decoder": kind})["candidates"]
    mark("serving")
    start = 0
    for name, end in paths.items():
        assert end > start, f"{name} fed the model nothing"
        for got in recorded[start:end]:
            for k in ("x", "y", "t", "mask"):
                np.testing.assert_array_equal(got[k], expected[k], err_msg=f"{name}: {k}")
        start = end


def test_statistics_through_the_inference_path_match_the_stored_ones(shipped):
    """Swipes from the generator the shipped model was trained on (as its model.json records
    the dataset's config), read through the inference path with the model's spec, give the
    feature statistics stored in the model (the mean time step within 10%); read as
    prediction used to read them (128 points), they do not."""
    from swipe.data.generators import GeneratorConfig, generate
    from swipe.data.synth import SynthConfig
    from swipe.lexicon import load_word_list

    model, meta, devices = shipped
    made_by = meta["train"]["dataset"]["provenance"]["config"]
    synth = build_config(SynthConfig, made_by["synth"])
    gen = build_config(GeneratorConfig, made_by.get("generator", {}))
    alphabet = Alphabet(meta["alphabet"])
    words = load_word_list(LexiconConfig(top_n=50_000), alphabet)
    rng = np.random.default_rng(0)
    grids = sorted(devices)
    parts = []
    for i, g in enumerate(rng.choice(grids, 20)):  # each swipe its own pseudo-user: the users' tempos average out
        picked = [words.words[j] for j in words.sample(100, 0.05, rng)]
        parts.append(generate(picked, devices[g], synth, gen, rng, first_id=i * 100, users=np.arange(100) + i * 100))
    val = SwipeBatch.concat(parts)
    keys = KeyTable.build(devices, alphabet)
    stored = np.asarray(meta["feature_stats"]["mean"])

    def mean_dt(points: PointSpec) -> float:
        t = collate(val, keys.index(), alphabet, replace(load_spec(meta), points=points), model.cfg.max_word_len,
                    targets=False)
        return float(compute_stats([(t["x"], t["y"], t["t"], t["mask"], t["grid"])], keys)[0][0])

    assert mean_dt(load_spec(meta).points) == pytest.approx(stored[0], rel=0.10)
    assert mean_dt(PointSpec(128)) != pytest.approx(stored[0], rel=0.10)  # the old mismatch is caught


def _at_rate(c: dict, hz: float, phase_ms: float) -> dict:
    """The gesture of a logged swipe (its points joined by straight lines) as a device logging
    at `hz` would have recorded it, its clock starting `phase_ms` later."""
    t = np.asarray(c["t"], float)
    at = np.append(np.arange(t[0] + phase_ms, t[-1], 1000 / hz), t[-1])
    return {"x": np.interp(at, t, c["x"]).tolist(), "y": np.interp(at, t, c["y"]).tolist(), "t": (at - at[0]).tolist()}


@pytest.mark.parametrize("rule", ["time", "arclength"])
def test_a_120_hz_and_a_60_hz_trace_of_one_gesture_decode_alike_online(shipped, tmp_path, rule):
    """Under the named rate-free specs, the online decoder gives one gesture logged at 120 Hz
    and at 60 Hz the same word (the spec set as the decode config's explicit override). By
    index, the rule of the shipped model, the two read different points (why the demo thins its
    events): tests/model/test_spec.py checks the inputs, not how well some weights cope."""
    from swipe.serve.service import OnlineDecoder, ServeConfig, load_offer, resolve_paths
    from swipe.serve.users import UserWordsConfig

    cfg = resolve_paths(ServeConfig(users=UserWordsConfig(store=str(tmp_path / "users"))), ROOT)
    decode, layouts_json = load_offer(cfg)
    service = OnlineDecoder(cfg, replace(decode, decoder="beam", lexicon=SMALL, points={"rule": rule}),
                            layouts_json)
    lines = (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_text().splitlines()[::20]
    same = 0
    for line in lines:
        c = json.loads(line)["curve"]
        top = [service.decode({**_at_rate(c, hz, phase), "layout": c["grid_name"], "attention": False})["candidates"][0]
               for hz, phase in ((60, 0.0), (120, 4.0))]
        same += top[0]["word"] == top[1]["word"]
    # measured here (152 swipes, the shipped model trained by index): time 146, arclength 144 alike
    assert same >= 0.93 * len(lines), f"{rule}: {same} of {len(lines)} decoded alike"
