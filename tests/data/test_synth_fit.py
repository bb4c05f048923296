"""Fitting the synthesizer to real swipes: the procedure finds a known generator back."""

from dataclasses import replace

import numpy as np

from swipe.dev.fit_synth import FitConfig, fit_synth, mean_ks
from swipe.data.realism import compute_stats
from swipe.data.synth import SynthConfig, synthesize

WORDS = ["hello", "the", "a", "letter", "world", "swipe", "keyboard", "of", "and", "people"]


def test_the_fit_moves_a_wrong_generator_toward_the_one_that_made_the_data(qwerty):
    """"Real" swipes come from a generator with slow, long-dwelling people; the fit starts
    from fast, short-dwelling ones and must lower the mean KS and move both parameters
    toward the truth."""
    truth = SynthConfig(move_ms=1800.0, dwell_start_ms=150.0)
    rng = np.random.default_rng(0)
    real = synthesize(list(rng.choice(WORDS, 400)), qwerty, truth, rng)
    layouts = {qwerty.name: qwerty}
    start = SynthConfig(move_ms=700.0, dwell_start_ms=40.0)
    r = fit_synth(real, layouts, start, FitConfig(params=("move_ms", "dwell_start_ms"), rounds=2), log=lambda _: None)
    assert r.objective_after < 0.5 * r.objective_before
    assert abs(np.log(r.synth.move_ms / truth.move_ms)) < abs(np.log(start.move_ms / truth.move_ms)) / 2
    assert abs(np.log(r.synth.dwell_start_ms / truth.dwell_start_ms)) < abs(np.log(start.dwell_start_ms / truth.dwell_start_ms)) / 2
    assert r.history and all(h["param"] in ("move_ms", "dwell_start_ms") for h in r.history)
    assert mean_ks(compute_stats(real, layouts), real, layouts, r.synth, 0) == r.objective_after


def test_users_share_their_biases(qwerty):
    """Swipes of one user share scale, offset and rotation: their start offsets from the key
    centres agree more with each other than with other users'."""
    cfg = replace(SynthConfig(), user_offset_sigma=0.4, via_sigma_rel=0.02, via_sigma_abs=0.01, drift_keys=0.0,
                  point_noise_px=0.0, swipes_per_user=50, start_speed=0.0)
    b = synthesize(["hello"] * 200, qwerty, cfg, np.random.default_rng(3))
    x0 = b.x[b.offsets[:-1]] - qwerty.letter_centres[qwerty.letter_index("h"), 0]
    user = np.arange(200) // 50
    within = np.mean([x0[user == u].std() for u in range(4)])
    assert within < 0.5 * x0.std()
