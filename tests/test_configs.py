"""Every shipped config loads into its dataclass (a typo in a key fails here, not on a cluster)."""

import pytest

from swipe.config import load_config
from swipe.data.make import MakeDatasetConfig
from swipe.data.report import ReportConfig
from swipe.evaluate.predict import PredictConfig
from swipe.train.config import TrainConfig
from swipe.train.sweep import SweepConfig

from conftest import ROOT

CONFIGS = sorted(p.relative_to(ROOT / "configs").as_posix() for p in (ROOT / "configs").rglob("*.yaml"))


def _kind(name: str):
    folder, _, base = name.rpartition("/")
    if folder == "tune":
        return SweepConfig
    if base.startswith(("synth_", "import_")):
        return MakeDatasetConfig
    if base.startswith("report_"):
        return ReportConfig
    if base.startswith(("predict_", "decode_")):
        return PredictConfig
    if base.startswith("serve_"):
        from swipe.serve.service import ServeConfig

        return ServeConfig
    return TrainConfig


@pytest.mark.parametrize("name", CONFIGS)
def test_config_loads(name):
    text = (ROOT / "configs" / name).read_text()
    assert text.startswith("#"), "each config says in its header what it is for and how to run it"
    load_config(_kind(name), ROOT / "configs" / name)


def test_every_kind_and_folder_is_loaded():
    assert {"quickstart.yaml", "en_small.yaml", "yandex_cup.yaml", "synth_en.yaml", "tune/quick.yaml",
            "tune/full.yaml"} <= set(CONFIGS)
