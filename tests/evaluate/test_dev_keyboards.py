"""The dev set on its own 37 keyboards decodes with a model trained on one other layout: no
`unknown_grid`, every row decoded (the prediction actor, without Ray)."""

import json

import numpy as np
import pyarrow as pa
import torch

from swipe.data.importers.yandex import parse_yandex_lines
from swipe.decode.search import BeamConfig
from swipe.evaluate.predict import Predictor
from swipe.keyboard import layouts_to_json, load_layouts
from swipe.lexicon import build_alphabet, build_trie
from swipe.model.checkpoint import save_model_dir
from swipe.model.features import KeyTable
from swipe.model.transformer import ModelConfig, SwipeModel
from swipe.model.spec import InputSpec, PointSpec

from conftest import ROOT


def test_a_model_of_one_layout_decodes_the_dev_set_on_its_own_keyboards(qwerty, tmp_path):
    devices = load_layouts(ROOT / "data/layouts/howweswipe_devices.json")
    lines = (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_bytes().splitlines()
    batch, rejects, _ = parse_yandex_lines(lines, 0, devices, "dev")
    assert len(batch) == 3024 and not len(rejects) and len(set(batch.grid_names)) == 37
    alphabet = build_alphabet([qwerty], "'")
    torch.manual_seed(0)
    model = SwipeModel(ModelConfig(preset="tiny", max_word_len=16), KeyTable.build({qwerty.name: qwerty}, alphabet),
                       alphabet.size)
    ckpt = save_model_dir(tmp_path / "ckpt", model, alphabet, layouts_to_json({qwerty.name: qwerty}), InputSpec(PointSpec(64)), {"step": 0})
    used = {g: devices[g] for g in set(batch.grid_names)}
    words = sorted({w for w in batch.words})
    predictor = Predictor(str(ckpt), build_trie(words, np.ones(len(words)), alphabet), BeamConfig(beam_size=2), InputSpec(PointSpec(64)).to_dict(),
                          64, layouts_to_json(used))
    rows = batch.take(np.arange(0, 3024, 12))  # 252 swipes over the keyboards
    out = predictor.decode_table(rows.to_arrow().append_column("path", pa.array(["dev"] * len(rows))))
    assert out["error"].null_count == len(rows), set(out["error"].to_pylist())  # nothing rejected
    assert all(c for c in out["candidates"].to_pylist())  # every swipe decoded to lexicon words
    assert out["user"].to_pylist() == [json.loads(lines[i])["uid"] for i in range(0, 3024, 12)]
