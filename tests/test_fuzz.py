"""The fuzzer's short version (`python jobs/bench.py fuzz` runs ≥ 2 000 of each): damaged
import lines and requests never abort an import, lose a row, or give a 5xx."""

import json

import pytest

from swipe.keyboard import load_layouts
from tests.support.fuzz import MAX_REQUEST_MS, FuzzResult, fuzz_imports, fuzz_requests

from conftest import ROOT


def _dev_records(n: int = 8) -> list[dict]:
    lines = (ROOT / "data/samples/howweswipe_en_dev.jsonl").read_text().splitlines()[:n]
    return [json.loads(line) for line in lines]


def test_damaged_lines_never_abort_an_import_or_lose_a_row():
    layouts = load_layouts(ROOT / "data/layouts/howweswipe_devices.json")
    result = FuzzResult()
    fuzz_imports(result, _dev_records(), layouts, "abcdefghijklmnopqrstuvwxyz'", examples=150)
    assert result.lines_tried >= 300
    assert (result.jobs_aborted, result.rows_lost) == (0, 0), result.examples


@pytest.mark.slow
def test_damaged_requests_never_get_a_server_error(online):
    service = online
    good = [{"x": r["curve"]["x"], "y": r["curve"]["y"], "t": r["curve"]["t"], "layout": r["curve"]["grid_name"]}
            for r in _dev_records(4)]
    result = FuzzResult()
    fuzz_requests(result, service, good, examples=150)
    assert result.requests_tried == 150 and result.server_errors == 0, result.examples
    assert result.max_request_ms < MAX_REQUEST_MS
    # what users send is among it: the fused decoder, and their own words with apostrophes
    assert result.kinds["request:fused"] + result.kinds["personal:fused"] > 0 and result.kinds["apostrophe"] > 0, \
        result.kinds
