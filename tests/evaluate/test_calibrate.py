"""Tuning on one half of the users: stable halves, and a search that widens past its edges."""

from dataclasses import replace

import numpy as np

from swipe.decode.template import Channels, TemplateConfig
from swipe.dev.calibrate import SCALES, Candidates, tune
from swipe.metrics import user_half


def test_user_halves_are_stable_and_split_people_not_swipes():
    users = [f"u{i % 40}" for i in range(400)]
    half = user_half(users, 0)
    assert (half == user_half(users, 0)).all() and 100 < half.sum() < 300
    by_user = {}
    for u, h in zip(users, half):
        by_user.setdefault(u, set()).add(bool(h))
    assert all(len(v) == 1 for v in by_user.values())  # a person is in one half only


def test_the_search_widens_until_the_optimum_is_inside_its_grid():
    """Each swipe: its reference word 2 units from the path in shape, a rival word 1 unit away
    but 3 units of log-frequency rarer. Nothing in the starting grid ranks the reference
    first: only a wider σ_shape or a larger λ does, outside it, so the grid must grow."""
    n = 50
    swipe = np.repeat(np.arange(n), 2)
    is_ref = np.tile([True, False], n)
    ch = Channels(words=np.tile([0, 1], n), shape=np.tile([2.0, 1.0], n), location=np.zeros(2 * n),
                  start=np.zeros(2 * n), end=np.zeros(2 * n), logfreq=np.tile([0.0, -3.0], n))
    cands = Candidates(swipe, is_ref, ch)
    grid = {"sigma_shape": [0.5, 1.0, 1.5], "sigma_location": [1.0], "freq_weight": [0.05, 0.1, 0.2],
            "start_radius": [1.0], "end_radius": [1.0]}
    start = TemplateConfig(sigma_shape=1.0, sigma_location=1.0, freq_weight=0.1, start_radius=1.0, end_radius=1.0)
    rows = np.ones(n, bool)
    mrr = lambda cfg: cands.mrr(cfg, rows, n)["swipe_mrr"]  # noqa: E731
    assert all(mrr(replace(start, sigma_shape=a, freq_weight=b)) < 0.2 for a in grid["sigma_shape"]
               for b in grid["freq_weight"])  # the rival first everywhere in the starting grid
    best, final, steps = tune(lambda c, r: cands.mrr(c, r, n), rows, start, grid, rounds=3, scales=SCALES,
                              bounds={"start_radius": (0.25, 2.0), "end_radius": (0.25, 2.0)})
    assert mrr(best) == 1.0 and steps[-1]["swipe_mrr"] == 1.0
    assert best.sigma_shape > 1.5 or best.freq_weight > 0.2  # found outside the starting grid
    for k, values in final.items():  # inside its final grid, or on a plateau that reaches its edge
        v = getattr(best, k)
        assert values[0] < v < values[-1] or mrr(replace(best, **{k: values[-1]})) == mrr(best) \
            or mrr(replace(best, **{k: values[0]})) == mrr(best), (k, v, values)


def test_calibration_applies_the_nearest_key_fallback_per_swipe_as_prediction_does():
    """A swipe whose first point is on no candidate's first key within the radius keeps the
    candidates on its nearest key, in calibration as in prediction (swipe.decode.template.score
    on one swipe), not only where some other swipe's candidate is nearer."""
    from swipe.decode.template import score

    far = Channels(words=np.array([0, 1]), shape=np.array([0.1, 0.2]), location=np.zeros(2),
                   start=np.array([2.0, 3.0]), end=np.zeros(2), logfreq=np.zeros(2))
    near = Channels(words=np.array([2, 3]), shape=np.array([0.1, 0.2]), location=np.zeros(2),
                    start=np.array([0.5, 0.7]), end=np.zeros(2), logfreq=np.zeros(2))
    cfg = TemplateConfig(start_radius=1.0, end_radius=1.0)
    both = Channels(*(np.concatenate([getattr(far, k), getattr(near, k)]) for k in
                      ("words", "shape", "location", "start", "end", "logfreq")))
    cands = Candidates(np.array([0, 0, 1, 1]), np.array([True, False, True, False]), both)
    assert np.isfinite(score(far, cfg)[0])  # prediction, one swipe: its nearest key's word stays
    assert cands.mrr(cfg, np.array([True, False]), 2)["swipe_mrr"] == 1.0  # calibration: the same
