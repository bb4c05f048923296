"""How We Swipe swipelogs: the study's keyboard at any size, swipes segmented as the dev set's were,
every line accounted for, and the folder imported by parallel Ray tasks."""

import json

import pytest

from swipe.data.importers.howweswipe import parse_swipelog, read_swipelogs, study_layout
from swipe.data.importers.yandex import parse_yandex_lines
from swipe.keyboard import load_layouts

from conftest import ROOT

LOGS = ROOT / "data/samples/howweswipe_raw"
DEV = ROOT / "data/samples/howweswipe_en_dev.jsonl"


def test_the_study_keyboard_is_rebuilt_at_every_size_of_the_study():
    devices = json.loads((ROOT / "data/layouts/howweswipe_devices.json").read_text())
    assert len(devices) == 181
    assert all(study_layout(g["width"], g["height"]) == g for g in devices.values())
    load_layouts(ROOT / "data/layouts/howweswipe_devices.json")  # and each parses as a layout


def test_three_participants_logs_give_exactly_their_dev_swipes():
    paths = sorted(str(p) for p in LOGS.glob("*.log"))
    batch, rejects, layouts = read_swipelogs(paths, 0)
    users = {p.rsplit("/", 1)[1][:-4] for p in paths}
    want = [json.loads(ln) for ln in DEV.read_text().splitlines()]
    want = [r for r in want if r["uid"] in users]
    assert len(want) == 47 and len(batch) == 47
    want.sort(key=lambda r: sorted(users).index(r["uid"]))  # the batch is in file order; each file in log order
    for i, r in enumerate(want):  # the same swipes, in the same order, point for point
        s, e = batch.offsets[i], batch.offsets[i + 1]
        assert (batch.words[i], batch.grid_names[i], batch.users[i]) == (r["word"], r["curve"]["grid_name"], r["uid"])
        assert batch.x[s:e].tolist() == r["curve"]["x"] and batch.y[s:e].tolist() == r["curve"]["y"]
        assert batch.t[s:e].tolist() == r["curve"]["t"]
    assert set(layouts) == {r["curve"]["grid_name"] for r in want}
    # every other swipe is rejected with its reason, none lost
    assert rejects.counts() == {"failed_try": 60, "duplicate": 15, "repeated_try": 10, "not_a_word": 1}


def test_every_line_is_a_swipe_or_a_named_bad_line():
    header = "sentence timestamp keyb_width keyb_height event x_pos y_pos x_radius y_radius angle word is_err"
    ev = lambda t, e, x, w="hi", err=0: f"hi_there {t} 360 200 {e} {x} 50 1 1 0 {w} {err}"  # noqa: E731
    lines = [header,
             ev(0, "touchstart", 10), ev(16, "touchmove", 20), ev(32, "touchmove", 30), ev(40, "touchend", 30),
             ev(50, "touchstart", 10, "there", 1), ev(60, "touchmove", 40, "there", 1), ev(70, "touchend", 40, "there", 1),
             "hi_there 80 360 200 touchmove", "hi_there 90 360 200 touchwobble 1 2 1 1 0 there 0",
             "hi_there x 360 200 touchmove 1 2 1 1 0 there 0",
             ev(100, "touchstart", 30, "there"), ev(110, "touchmove", 50, "there"), ev(120, "touchend", 50, "there"),
             ev(130, "touchstart", 30, "a"), ev(140, "touchmove", 30, "a"), ev(150, "touchmove", 31, "a")]
    batch, rejects, layouts = parse_swipelog("\n".join(lines), "u1")
    assert batch.words == ["hi"] and batch.x.tolist() == [10, 20, 30] and batch.t.tolist() == [0, 16, 32]
    assert rejects.counts() == {"failed_try": 1, "bad_line": 3, "too_few_points": 1, "not_a_word": 1}
    assert set(layouts) == {"hws_360x200"}
    # a keyboard of no size is that swipe's reject, not the import's end (LayoutError aborted it)
    zero = [header, *(line.replace(" 360 200 ", " 0 200 ").replace(" hi 0", " there 0") for line in lines[1:5]),
            *lines[1:5]]
    batch, rejects, _ = parse_swipelog("\n".join(zero), "u3")
    assert rejects.counts() == {"bad_grid": 1} and batch.words == ["hi"]
    with pytest.raises(ValueError, match="not a How We Swipe swipelog"):
        parse_swipelog("word x y\n", "u2")


def test_the_dev_file_keeps_its_participants():
    lines = DEV.read_bytes().splitlines()[:50]
    batch, rejects, _ = parse_yandex_lines(lines, 0, load_layouts(ROOT / "data/layouts/howweswipe_devices.json"), "dev")
    assert len(batch) == 50 and not len(rejects)
    assert batch.users == [json.loads(ln)["uid"] for ln in lines]


@pytest.mark.ray
def test_the_folder_imports_in_parallel_tasks_with_its_own_keyboards(ray_session, tmp_path, in_root):
    from swipe.data.dataset import read_split
    from swipe.data.make import ImportSource, MakeDatasetConfig, make_dataset

    cfg = MakeDatasetConfig(out=str(tmp_path / "hws"), mode="import", layouts="", chunk_mb=0.3,
                            inputs=(ImportSource(path=str(LOGS), format="howweswipe", split="dev"),))
    m = make_dataset(cfg)
    assert len(m["splits"]["dev"]["files"]) == 3  # ~0.3 MB of logs per task: a task per log here
    assert m["rows_kept"] == 47 and m["rows_in"] == 47 + 86 == m["rows_kept"] + m["rows_rejected"]
    assert m["rejected"] == {"duplicate": 15, "failed_try": 60, "not_a_word": 1, "repeated_try": 10}
    assert set(m["layouts"]) == {"hws_360x197", "hws_360x216", "hws_360x220", "hws_701x159", "hws_701x185"}
    dev = read_split(cfg.out, "dev")
    assert dev.num_rows == 47 and dev["user"].null_count == 0 and len(set(dev["user"].to_pylist())) == 3
    assert len(set(dev["id"].to_pylist())) == 47
