"""Yandex Cup JSONL import: round trips, every bad row quarantined with its reason, chunks, inline grids."""

import json
import math

import numpy as np
import pyarrow as pa

from swipe.data.checks import ValidationConfig, validate
from swipe.data.importers.yandex import line_chunks, parse_yandex_lines, read_yandex_range
from swipe.data.swipes import SwipeBatch
from swipe.data.synth import SynthConfig, synthesize

from conftest import ROOT


def _line(word, x, y, t, grid="qwerty_english", **extra):
    curve = {"x": x, "y": y, "t": t, "grid_name": grid}
    rec = {"word": word, "curve": curve, **extra}
    return json.dumps(rec)


def test_round_trip_keeps_values(tmp_path, qwerty):
    b = synthesize(["hello", "world", "swipe"], qwerty, SynthConfig(), np.random.default_rng(0))
    path = tmp_path / "in.jsonl"
    with open(path, "w") as f:
        for i in range(len(b)):
            s, e = b.offsets[i], b.offsets[i + 1]
            f.write(_line(b.words[i], b.x[s:e].tolist(), b.y[s:e].tolist(), b.t[s:e].tolist()) + "\n")
    got, rejects, _ = read_yandex_range(path, 0, path.stat().st_size, 0, {"qwerty_english": qwerty})
    assert len(rejects) == 0 and got.words == b.words and got.ids.tolist() == [0, 1, 2]
    for f in ("x", "y", "t", "offsets"):
        np.testing.assert_array_equal(getattr(got, f), getattr(b, f))
    table = got.to_arrow()  # and through Arrow
    assert table.schema.field("x").type.value_type == pa.float32()
    back = type(got).from_arrow(table)
    np.testing.assert_array_equal(back.x, b.x)


MALFORMED = {
    "bad_json": '{"word": "cat", "curve": {"x": [1, 2',  # truncated
    "missing_field": '{"word": "cat", "curve": {"x": [1, 2], "y": [1, 2]}}',
    "bad_type": _line("cat", ["1", "2"], [30, 30], [0, 10]),
    "length_mismatch": _line("cat", [30, 60], [30], [0, 10]),
    "unknown_grid": _line("cat", [30, 60], [30, 30], [0, 10], grid="dvorak"),
    "non_finite": _line("cat", [30, math.nan], [30, 30], [0, 10]),  # json writes NaN
    "too_few_points": _line("cat", [], [], []),
    "time_not_increasing": _line("cat", [30, 60, 90], [30, 30, 30], [0, 20, 10]),
    "off_keyboard": _line("cat", [30, 5000], [30, 30], [0, 10]),
    "char_not_in_alphabet": _line("кот", [30, 60], [30, 30], [0, 10]),
    "missing_word": json.dumps({"curve": {"x": [30, 60], "y": [30, 30], "t": [0, 10],
                                          "grid_name": "qwerty_english"}}),
}


def test_every_bad_row_quarantined_with_its_reason(tmp_path, qwerty):
    good = [_line("cat", [30, 60, 90], [30, 30, 31], [0, 16, 33]),
            _line("dog", [100, 120, 140, 160], [100, 90, 90, 80], [5, 10, 10, 30]),  # dup t: repaired
            _line("one", [30, 60], [30, 30], [0, 1])]
    one_point = _line("cat", [30], [30], [0])
    inf_line = _line("cat", [30, 60], [30, 30], [0, 10]).replace("60", "1e999")
    lines = good[:1] + list(MALFORMED.values()) + good[1:2] + [one_point, inf_line, ""] + good[2:]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    layouts = {"qwerty_english": qwerty}
    batch, rejects, _ = read_yandex_range(path, 0, path.stat().st_size, 0, layouts)
    checked = validate(batch, layouts, qwerty.letters, ValidationConfig())
    rejects.extend(checked.rejects)
    assert len(checked.kept) + len(rejects) == len(lines)
    assert checked.kept.words == ["cat", "dog", "one"] and checked.repaired_rows == 1
    dog = checked.kept.take([1])
    assert dog.t.tolist() == [0, 5, 25] and dog.x.tolist() == [100, 120, 160]  # first of the dup kept, t from 0
    by_line = dict(zip(rejects.ids, rejects.reasons))
    for k, reason in enumerate(MALFORMED, start=1):
        assert by_line[k] == reason, (k, reason, by_line)
    assert by_line[len(MALFORMED) + 2] == "too_few_points"
    assert by_line[len(MALFORMED) + 3] == "non_finite"
    assert by_line[len(MALFORMED) + 4] == "bad_json"  # blank line
    table = rejects.to_arrow()
    assert table.column_names == ["id", "source", "reason", "detail", "raw"]
    raws = dict(zip(table["id"].to_pylist(), table["raw"].to_pylist()))
    assert raws.pop(len(MALFORMED) + 4) == ""  # the blank line
    assert all(raws.values())  # every other offending record is kept for inspection


def test_unlabeled_file_takes_words_from_ref(tmp_path, qwerty):
    recs = [json.dumps({"curve": {"x": [30, 60], "y": [30, 30], "t": [0, 10], "grid_name": "qwerty_english"}})
            for _ in range(3)]
    path, ref = tmp_path / "test.jsonl", tmp_path / "test.ref"
    path.write_text("\n".join(recs) + "\n")
    ref.write_text("qa\nwe\n")  # one word short: the last row has none
    batch, rejects, _ = read_yandex_range(path, 0, path.stat().st_size, 0, {"qwerty_english": qwerty}, ref)
    assert batch.words == ["qa", "we", None]
    assert len(validate(batch, {"qwerty_english": qwerty}, qwerty.letters, ValidationConfig()).rejects) == 1


def test_inline_grid_is_registered(qwerty):
    grid = dict(qwerty.grid, grid_name="mine")
    line = json.dumps({"word": "qa", "curve": {"x": [20, 25], "y": [40, 100], "t": [0, 9], "grid": grid}})
    bad = json.dumps({"word": "qa", "curve": {"x": [1, 2], "y": [1, 2], "t": [0, 9],
                                              "grid": {"grid_name": "broken", "width": 1}}})
    batch, rejects, inline = parse_yandex_lines([line.encode(), bad.encode()], 0, {}, "s")
    assert batch.grid_names == ["mine"] and set(inline) == {"mine"}
    assert rejects.reasons == ["bad_grid"]


def test_chunks_cover_every_line_once(tmp_path):
    path = tmp_path / "f.jsonl"
    lines = [json.dumps({"i": i, "pad": "x" * (i % 50)}) for i in range(500)]
    path.write_text("\n".join(lines) + "\n")
    chunks = line_chunks(path, 1000)
    assert len(chunks) > 5
    seen = []
    for s, e, first in chunks:
        with open(path, "rb") as f:
            f.seek(s)
            part = f.read(e - s).split(b"\n")[:-1]
        assert json.loads(part[0])["i"] == first
        seen += [json.loads(p)["i"] for p in part]
    assert seen == list(range(500))


def test_shipped_sample_imports():
    from swipe.keyboard import load_layouts

    path = ROOT / "data/samples/howweswipe_en_dev.jsonl"
    devices = load_layouts(ROOT / "data/layouts/howweswipe_devices.json")
    batch, rejects, _ = read_yandex_range(path, 0, path.stat().st_size, 0, devices)
    assert len(batch) == 3024 and len(rejects) == 0
    assert set(batch.grid_names) <= set(devices) and len(set(batch.users)) == 31


def test_yandex_round_trip_two_grids_inline_and_ref(tmp_path, yandex):
    """Russian swipes on both Yandex Cup grids → JSONL (half with inline grids, words in a
    .ref file, like the unlabeled test set) → import: every value back, every grid known."""
    rng = np.random.default_rng(0)
    words = ["привет", "съешь", "ещё", "какой-то", "мама"]
    parts = [synthesize(words, lay, SynthConfig(), rng) for lay in yandex.values()]
    path, ref = tmp_path / "test.jsonl", tmp_path / "test.ref"
    with open(path, "w") as f, open(ref, "w") as r:
        for b in parts:
            for i in range(len(b)):
                s, e = b.offsets[i], b.offsets[i + 1]
                curve = {"x": b.x[s:e].tolist(), "y": b.y[s:e].tolist(), "t": b.t[s:e].tolist()}
                if i % 2:
                    curve["grid"] = dict(yandex[b.grid_names[i]].grid, grid_name=b.grid_names[i])
                else:
                    curve["grid_name"] = b.grid_names[i]
                f.write(json.dumps({"curve": curve}, ensure_ascii=False) + "\n")
                r.write(b.words[i] + "\n")
    got, rejects, inline = read_yandex_range(path, 0, path.stat().st_size, 0, yandex, ref)
    assert len(rejects) == 0 and set(inline) == {"default", "extra"}
    assert got.words == words * 2 and got.grid_names == [g for g in yandex for _ in words]
    np.testing.assert_array_equal(got.x, np.concatenate([p.x for p in parts]))
    alphabet = "".join(sorted(set("".join(l.letters for l in yandex.values())))) + "-"
    assert len(validate(got, yandex, alphabet, ValidationConfig()).kept) == 10


def test_ragged_lists_and_values_beyond_float32_cost_their_line_only(tmp_path, qwerty):
    ok = _line("cat", [30, 60, 90], [30, 30, 31], [0, 16, 33])
    bad = {
        "bad_type": ok.replace("[30, 60, 90]", "[[30, 60], 90]"),  # ragged: numpy raised and aborted the import
        "out_of_range": _line("cat", [30, 60], [30, 30], [0, 1e300]),  # finite in float64, inf once stored
        "bad_grid": json.dumps({"word": "cat", "curve": {"x": [30], "y": [30], "t": [0], "grid": [1, 2]}}),
    }
    too_long = _line("cat", [30, 60], [30, 30], [0, 120_000])  # two minutes: beyond the documented bound
    lines = [ok, *bad.values(), too_long, ok]
    path = tmp_path / "damaged.jsonl"
    path.write_text("\n".join(lines) + "\n")
    layouts = {"qwerty_english": qwerty}
    batch, rejects, _ = read_yandex_range(path, 0, path.stat().st_size, 0, layouts)
    checked = validate(batch, layouts, qwerty.letters, ValidationConfig())
    rejects.extend(checked.rejects)
    assert len(checked.kept) == 2 and len(checked.kept) + len(rejects) == len(lines)
    by_line = dict(zip(rejects.ids, rejects.reasons))
    assert [by_line[k] for k in range(1, 5)] == [*bad, "out_of_range"]
    assert np.isfinite(checked.kept.to_arrow()["t"].combine_chunks().flatten().to_numpy()).all()
    # no points in the batch's last row (no last point to time it by): quarantined, not an IndexError
    empty_last = SwipeBatch.from_lists([0, 1], ["cat", "cat"], ["qwerty_english"] * 2, [[30, 60], []],
                                       [[30, 30], []], [[0, 10], []], source="test")
    assert validate(empty_last, layouts, qwerty.letters, ValidationConfig()).rejects.reasons == ["too_few_points"]
