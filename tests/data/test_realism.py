"""Realism beyond medians: the KS statistic, the swipe profile statistics, and a classifier
two-sample test that is 0.5 for one distribution and near 1 for two."""

import numpy as np

from swipe.data.realism import ALL_STATS, c2st_auc, compute_stats, ks_statistic, roc_auc, swipe_features
from swipe.data.synth import SynthConfig, synthesize

WORDS = ["hello", "world", "the", "keyboard", "swipe", "people", "phone", "gesture", "typing", "quick"]


def test_ks_and_auc_on_known_cases():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 2000), rng.normal(0, 1, 2000)
    assert ks_statistic(a, b) < 0.06 and ks_statistic(a, b + 10) == 1.0
    assert ks_statistic(np.array([1.0, np.nan, 2.0]), np.array([1.0, 2.0])) == 0.0  # NaNs ignored
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert roc_auc(np.array([1.0, 1.0]), np.array([0, 1])) == 0.5  # a tie counts half


def test_profile_statistics_are_defined_for_real_looking_swipes(qwerty):
    batch = synthesize(WORDS * 5, qwerty, SynthConfig(), np.random.default_rng(0))
    stats = compute_stats(batch, {qwerty.name: qwerty})
    assert set(ALL_STATS) <= set(stats)
    for s in ("speed_cv", "speed_lag1", "turn_per_key", "dwell_first_ms", "start_offset_keys"):
        assert np.isfinite(stats[s]).mean() > 0.9, s
    assert (stats["dwell_first_ms"][np.isfinite(stats["dwell_first_ms"])] >= 0).all()


def test_the_classifier_cannot_tell_a_generator_from_itself_but_tells_two_apart(qwerty):
    layouts = {qwerty.name: qwerty}
    one = swipe_features(synthesize(WORDS * 30, qwerty, SynthConfig(), np.random.default_rng(1)), layouts)
    same = swipe_features(synthesize(WORDS * 30, qwerty, SynthConfig(), np.random.default_rng(2)), layouts)
    other = swipe_features(synthesize(WORDS * 30, qwerty, SynthConfig(point_noise_px=6.0, dwell_start_ms=300.0),
                                      np.random.default_rng(3)), layouts)
    assert abs(c2st_auc(one, same, steps=150) - 0.5) < 0.1
    assert c2st_auc(one, other, steps=150) > 0.9
