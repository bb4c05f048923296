"""Generators learned from swipes: the transplant (donor bank) and the rectified flow, and their mix.

Donors here are parametric swipes (no real data is needed by the suite); what is tested is
the mechanics: a donor rendered on its own word gives its trace back, targets find like-shaped
donors, segment times follow the length law, the flow learns and draws valid swipes.
"""

import numpy as np
import pytest

from swipe.data.checks import ValidationConfig, validate
from swipe.data.flow import FlowConfig, conditions, generate_learned, load_flow, train_flow, training_arrays
from swipe.data.generators import GeneratorConfig, generate
from swipe.data.synth import SynthConfig, synthesize
from swipe.data.transplant import (DonorBank, TransplantConfig, donor_of, fit_bank, geometry, ideal_path, match,
                                   render, transplant)

WORDS = ["hello", "the", "a", "letter", "don't", "mississippi", "queue", "zz", "keyboard", "information"]
DONOR_WORDS = ["hello", "world", "the", "and", "swipe", "typing", "keyboard", "gesture", "a", "in", "quickly",
               "information", "people", "letter", "zoo", "mississippi", "queue", "python"]


@pytest.fixture(scope="module")
def bank(qwerty) -> DonorBank:
    rng = np.random.default_rng(0)
    donors = synthesize(list(rng.choice(DONOR_WORDS, 600)), qwerty, SynthConfig(), rng)
    return fit_bank(donors, {qwerty.name: qwerty}, points=48)


def _valid(batch, qwerty) -> None:
    checked = validate(batch, {qwerty.name: qwerty}, qwerty.letters + "'", ValidationConfig())
    assert len(checked.kept) == len(batch) and checked.repaired_rows == 0
    assert (batch.t[batch.offsets[:-1]] == 0).all()
    assert (np.diff(batch.t)[np.diff(batch.row_of_point) == 0] > 0).all()


def test_a_donor_rendered_on_its_own_word_gives_its_trace_back(qwerty):
    cfg = SynthConfig(frame_drop_prob=0.0, sample_jitter=0.0)
    swipes = synthesize(["hello", "keyboard", "quickly"] * 4, qwerty, cfg, np.random.default_rng(1))
    for i, word in enumerate(swipes.words):
        s, e = swipes.offsets[i], swipes.offsets[i + 1]
        x, y, t = swipes.x[s:e], swipes.y[s:e], swipes.t[s:e]
        d = donor_of(x, y, t, word, qwerty, 64)
        xy, ts = render(ideal_path(word, qwerty), qwerty, d.offsets, d.profile,
                        np.array([d.move_ms, d.dwell_start_ms, d.dwell_end_ms, d.interval_ms]), None,
                        TransplantConfig(), 0.0, 0.0, np.random.default_rng(0))
        assert abs(ts[-1] - t[-1]) <= 0.03 * t[-1] + 2  # the same duration …
        back = np.stack([np.interp(ts, t, x), np.interp(ts, t, y)], 1)  # … and the same place at each time
        err = np.hypot(*(xy - back).T) / qwerty.key_width
        assert np.median(err) < 0.1 and err.max() < 0.6, (word, np.median(err), err.max())


def test_transplanted_swipes_are_valid_seeded_and_on_their_letters(qwerty, bank):
    words = list(np.random.default_rng(3).choice(WORDS, 400))
    a = transplant(words, qwerty, bank, TransplantConfig(), np.random.default_rng(5))
    b = transplant(words, qwerty, bank, TransplantConfig(), np.random.default_rng(5))
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.t, b.t)
    _valid(a, qwerty)
    first = qwerty.nearest_letter(a.x[a.offsets[:-1]], a.y[a.offsets[:-1]])
    want = np.array([qwerty.letter_index(w[0]) for w in words])
    assert (first == want).mean() > 0.8


def test_targets_find_donors_of_their_shape(qwerty, bank):
    paths = [ideal_path(w, qwerty) for w in ["hello", "world", "typing", "gesture"]]
    rows = match(bank, paths, TransplantConfig(neighbours=1), np.random.default_rng(0))
    for p, r in zip(paths, rows):
        assert bank.n_seg[r] == len(p) - 1
        want, _ = geometry(p)
        got = bank.lengths[bank.seg_first[r]:bank.seg_first[r + 1]].astype(float)
        np.testing.assert_allclose(got, want, atol=0.05)  # the same word's donors are nearest


def test_a_longer_segment_takes_length_ratio_to_the_half_more_time(qwerty):
    path = np.array([[0.0, 0.0], [2.0, 0.0]])
    long = np.array([[0.0, 0.0], [8.0, 0.0]])
    offsets, profile = np.zeros((32, 2)), np.linspace(0, 1, 32)
    timing = np.array([400.0, 0.0, 0.0, 10.0])
    cfg = TransplantConfig(time_exponent=0.5)
    rng = np.random.default_rng(0)
    _, t_same = render(path, qwerty, offsets, profile, timing, np.array([2.0]), cfg, 0.0, 0.0, rng)
    _, t_long = render(long, qwerty, offsets, profile, timing, np.array([2.0]), cfg, 0.0, 0.0, rng)
    assert t_same[-1] == pytest.approx(400, abs=2)
    assert t_long[-1] == pytest.approx(400 * ((8 + 0.3) / (2 + 0.3)) ** 0.5, abs=2)


def test_the_bank_round_trips_and_stays_small(tmp_path, bank):
    size = bank.save(str(tmp_path / "bank.npz"))
    back = DonorBank.load(str(tmp_path / "bank.npz"))
    for f in ("offsets", "profile", "timing", "n_seg", "seg_first", "lengths", "turns"):
        np.testing.assert_array_equal(getattr(back, f), getattr(bank, f))
    assert size < 300 * len(bank)  # bytes per donor: 34k donors fit in 5 MB with room


def test_the_flow_learns_and_draws_valid_swipes(tmp_path, qwerty):
    rng = np.random.default_rng(0)
    donors = synthesize(list(rng.choice(DONOR_WORDS, 300)), qwerty, SynthConfig(), rng)
    data, cond = training_arrays(donors, {qwerty.name: qwerty}, 32)
    assert data.shape == (300, 7, 32) and cond.shape == (300, 10, 32)
    assert np.isfinite(data).all() and np.isfinite(cond).all()
    flow, curve = train_flow(data, cond, FlowConfig(points=32, width=16, blocks=2, steps=120, batch=64),
                             log_every=20)
    assert curve[-1]["loss"] < 0.8 * curve[0]["loss"]
    flow.save(str(tmp_path / "flow.pt"))
    again = load_flow(str(tmp_path / "flow.pt"))
    c = conditions(ideal_path("hello", qwerty), 32)[None]
    np.testing.assert_allclose(again.sample(c, 4, np.random.default_rng(1)),
                               flow.sample(c, 4, np.random.default_rng(1)), atol=0.05)  # weights kept in fp16
    b = generate_learned(WORDS * 10, qwerty, again, TransplantConfig(), np.random.default_rng(2), 4)
    _valid(b, qwerty)


def test_a_mix_keeps_the_words_order_and_draws_each_kind(tmp_path, qwerty, bank):
    bank.save(str(tmp_path / "bank.npz"))
    gen = GeneratorConfig(mix={"parametric": 1.0, "transplant": 1.0}, bank=str(tmp_path / "bank.npz"))
    words = list(np.random.default_rng(0).choice(WORDS, 300))
    b = generate(words, qwerty, SynthConfig(), gen, np.random.default_rng(0), first_id=10)
    assert b.words == words and list(b.ids) == list(range(10, 310))
    share = np.mean([s == "transplant" for s in b.sources()])
    assert 0.4 < share < 0.6
    _valid(b, qwerty)
    with pytest.raises(ValueError, match="kinds must be among"):
        GeneratorConfig(mix={"gan": 1.0}).shares()


@pytest.mark.parametrize("kind", ["transplant", "learned"])
def test_the_shipped_generators_draw_russian_on_a_layout_they_never_saw(kind, yandex):
    """The fitted artifacts in the repository (English people on phone keyboards) need no real
    data to draw another language on another keyboard: here Russian on the Yandex Cup layout."""
    from conftest import ROOT

    gen = GeneratorConfig(kind=kind, bank=str(ROOT / "models/generators/transplant_en.npz"),
                          flow=str(ROOT / "models/generators/flow_en.pt"), flow_steps=4)
    layout = yandex["default"]
    words = ["привет", "слово", "клавиатура", "и", "программирование"] * 20
    b = generate(words, layout, SynthConfig(), gen, np.random.default_rng(0))
    checked = validate(b, {layout.name: layout}, layout.letters, ValidationConfig())
    assert len(checked.kept) == len(b)
    last = layout.nearest_letter(b.x[b.offsets[1:] - 1], b.y[b.offsets[1:] - 1])
    want = np.array([layout.letter_index(w[-1]) for w in words])
    assert (last == want).mean() > 0.6


def test_fit_generators_writes_both_artifacts_and_their_realism_and_keeps_what_exists(tmp_path, qwerty):
    """The fitting job on a small How We Swipe-format file (parametric swipes standing in for
    people): both artifacts, the realism table with every generator, and no overwrite."""
    import json

    from conftest import ROOT
    from swipe.dev.fit_generators import FitGeneratorConfig, fit_generators

    rng = np.random.default_rng(0)
    words = list(rng.choice(DONOR_WORDS, 400))
    b = synthesize(words, qwerty, SynthConfig(), rng)
    lines = []
    for i, w in enumerate(words):
        s, e = b.offsets[i], b.offsets[i + 1]
        curve = {"x": b.x[s:e].tolist(), "y": b.y[s:e].tolist(), "t": b.t[s:e].tolist(), "grid_name": qwerty.name}
        lines.append(json.dumps({"word": w, "curve": curve, "uid": f"person{i % 40}"}))
    (tmp_path / "real.jsonl").write_text("\n".join(lines) + "\n")
    cfg = FitGeneratorConfig(real=str(tmp_path / "real.jsonl"), layouts=str(ROOT / "data/layouts/qwerty_english.json"),
                             synth_config=str(ROOT / "configs/synth_en_fitted.yaml"),
                             bank=str(tmp_path / "bank.npz"), flow_out=str(tmp_path / "flow.pt"),
                             flow=FlowConfig(points=32, width=16, blocks=2, steps=40, batch=32), flow_steps=2,
                             check_share=0.25, check_swipes=80, report=str(tmp_path / "REPORT.md"), threads=1)
    out = fit_generators(cfg)
    assert out["source"]["check_people"] >= 5 and out["source"]["people"] + out["source"]["check_people"] == 40
    assert set(out["realism"]) == {"parametric", "transplant", "learned"}
    assert all(0.0 <= r["c2st_auc"] <= 1.0 for r in out["realism"].values())
    assert "| **c2st_auc** |" in (tmp_path / "REPORT.md").read_text()
    assert len(DonorBank.load(cfg.bank)) == out["artifacts"]["transplant"]["donors"]
    with pytest.raises(FileExistsError, match="overwrite=true"):
        fit_generators(cfg)
