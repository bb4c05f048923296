"""Layouts: the shipped files, key kinds, malformed layouts named, nearest keys against brute force."""

import copy
import json

import numpy as np
import pytest

from swipe.keyboard import LayoutError, load_layouts, parse_layout

GRID = {"width": 100, "height": 50, "keys": [
    {"label": "a", "hitbox": {"x": 0, "y": 0, "w": 40, "h": 20}},
    {"label": "b", "hitbox": {"x": 50, "y": 0, "w": 40, "h": 20}},
    {"label": ",", "hitbox": {"x": 0, "y": 25, "w": 10, "h": 10}},
    {"action": "space", "hitbox": {"x": 20, "y": 25, "w": 60, "h": 20}},
]}


def test_shipped_layouts(qwerty, yandex):
    assert qwerty.letters == "qwertyuiopasdfghjklzxcvbnm"
    assert set(yandex) == {"default", "extra"}
    assert "ё" in yandex["extra"].letters and "ё" not in yandex["default"].letters
    default = yandex["default"]
    assert [default.labels[i] for i, k in enumerate(default.kinds) if k == "action"] == [
        "shift", "backspace", "toNumberState", "globe", "space", "enter"]
    assert [default.labels[i] for i, k in enumerate(default.kinds) if k == "symbol"] == [",", "."]
    assert qwerty.letter_bbox == (1.0, 9.5, 380.0, 179.5)
    w, h = 37.0, 56.0
    assert qwerty.mean_half_diagonal == pytest.approx(np.hypot(w, h) / 2)


def test_letter_symbol_action_kinds():
    lay = parse_layout("g", GRID)
    assert lay.kinds == ("letter", "letter", "symbol", "action")
    assert lay.letters == "ab"
    np.testing.assert_allclose(lay.letter_centres, [[20, 10], [70, 10]])


@pytest.mark.parametrize("mutate, message", [
    (lambda g: g.pop("width"), "grid 'g', grid: missing field 'width'"),
    (lambda g: g["keys"][1]["hitbox"].pop("h"), r"grid 'g', key #1 \('b'\): missing field 'h'"),
    (lambda g: g["keys"][1]["hitbox"].update(w=0), r"key #1 \('b'\): zero or negative size"),
    (lambda g: g["keys"][1].update(label="a"), r"key #1 \('a'\): duplicate letter 'a' \(also key #0\)"),
    (lambda g: [k.update(label=",") for k in g["keys"][:2]], "no letter keys"),
    (lambda g: g["keys"][0].pop("hitbox"), r"key #0 \('a'\): missing 'hitbox'"),
    (lambda g: g["keys"][0]["hitbox"].update(x="7"), "must be a finite number"),
    (lambda g: g["keys"][0].update(action="shift"), "exactly one of 'label' or 'action'"),
])
def test_malformed_layouts_name_grid_and_key(mutate, message):
    grid = copy.deepcopy(GRID)
    mutate(grid)
    with pytest.raises(LayoutError, match=message):
        parse_layout("g", grid)


def test_bad_layout_file(tmp_path):
    p = tmp_path / "l.json"
    p.write_text("{not json")
    with pytest.raises(LayoutError, match="not valid JSON"):
        load_layouts(p)
    p.write_text(json.dumps({}))
    with pytest.raises(LayoutError, match="non-empty"):
        load_layouts(p)


@pytest.mark.parametrize("grid", ["qwerty", "default"])
def test_nearest_and_distances_match_brute_force(grid, qwerty, yandex):
    lay = qwerty if grid == "qwerty" else yandex[grid]
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.2 * lay.width, 1.2 * lay.width, 3000)
    y = rng.uniform(-0.2 * lay.height, 1.2 * lay.height, 3000)
    for i in range(0, 3000, 97):
        d = [np.hypot(x[i] - cx, y[i] - cy) for cx, cy in lay.letter_centres]
        assert lay.nearest_letter(x[i:i + 1], y[i:i + 1])[0] == int(np.argmin(d))
        box = [np.hypot(max(bx - x[i], 0, x[i] - bx - bw), max(by - y[i], 0, y[i] - by - bh))
               for bx, by, bw, bh in lay.boxes[lay.letter_ids]]
        assert lay.distance_to_letter_keys(x[i:i + 1], y[i:i + 1])[0] == pytest.approx(min(box), abs=1e-3)
    np.testing.assert_allclose(lay.letter_distances(x, y).argmin(1), lay.nearest_letter(x, y))
    # inside a letter key: distance 0, and that key is the nearest letter
    c = lay.letter_centres
    assert (lay.distance_to_letter_keys(c[:, 0], c[:, 1]) == 0).all()
    assert (lay.nearest_letter(c[:, 0], c[:, 1]) == np.arange(len(c))).all()
