"""Every shipped config loads into its dataclass (a typo in a key fails here, not on a cluster)."""

import pytest

from swipe.config import load_config
from swipe.data_report import ReportConfig
from swipe.datagen import MakeDatasetConfig
from swipe.predict import PredictConfig
from swipe.train import TrainConfig

from conftest import ROOT

CONFIGS = sorted(p.name for p in (ROOT / "configs").glob("*.yaml"))


def _kind(name: str):
    if name.startswith(("synth_", "import_")):
        return MakeDatasetConfig
    if name.startswith("report_"):
        return ReportConfig
    if name.startswith("predict_"):
        return PredictConfig
    return TrainConfig


@pytest.mark.parametrize("name", CONFIGS)
def test_config_loads(name):
    text = (ROOT / "configs" / name).read_text()
    assert text.startswith("#"), "each config says in its header what it is for and how to run it"
    load_config(_kind(name), ROOT / "configs" / name)


def test_all_kinds_present():
    assert {"quickstart.yaml", "en_small.yaml", "yandex_cup.yaml", "synth_en.yaml"} <= set(CONFIGS)
