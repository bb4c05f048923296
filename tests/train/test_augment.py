"""Training noise: a pure function of (seed, epoch, id); each transform does what it says."""

import numpy as np
import pyarrow as pa
import pytest

from swipe.data.synth import SynthConfig, synthesize
from swipe.train.augment import Augment, AugmentConfig, augment


@pytest.fixture(scope="module")
def batch(qwerty):
    rng = np.random.default_rng(0)
    return synthesize(list(rng.choice(["hello", "world", "a", "swipes", "keyboard"], 300)), qwerty,
                      SynthConfig(), rng)


KW = {"qwerty_english": 37.0}


def test_augment_is_a_function_of_seed_epoch_and_id(batch):
    cfg = AugmentConfig()
    whole = augment(batch, KW, cfg, epoch=0)
    rows = np.arange(100, 200)
    part = augment(batch.take(rows), KW, cfg, epoch=0)  # another batching of the same rows
    ref = whole.take(rows)
    for f in ("x", "y", "t", "offsets"):
        np.testing.assert_allclose(getattr(part, f), getattr(ref, f))
    other = augment(batch, KW, cfg, epoch=1)
    assert not (len(other.x) == len(whole.x) and np.allclose(other.x, whole.x))
    for b in (whole, other):
        assert (b.lengths >= 2).all()
        assert (np.diff(b.t)[np.diff(b.row_of_point) == 0] > 0).all()
        assert (b.t[b.offsets[:-1]] == 0).all()
    off = augment(batch, KW, AugmentConfig(enabled=False), epoch=0)
    np.testing.assert_array_equal(off.x, batch.x)


def test_each_transform_changes_what_it_should(batch):
    none = dict(jitter_prob=0, affine_prob=0, time_warp_prob=0, dropout_prob=0, resample_prob=0)
    only = lambda **kw: augment(batch, KW, AugmentConfig(**{**none, **kw}), 0)  # noqa: E731
    ident = only()
    np.testing.assert_allclose(ident.x, batch.x)
    np.testing.assert_allclose(ident.t, batch.t)
    jit = only(jitter_prob=1.0)
    assert 0.5 < np.std(jit.x - batch.x) / (0.04 * 37) < 1.5 and np.array_equal(jit.t, batch.t)
    warp = only(time_warp_prob=1.0)
    assert np.array_equal(warp.x, batch.x) and not np.allclose(warp.t, batch.t)
    drop = only(dropout_prob=1.0, point_drop=0.5)
    assert len(drop.x) < len(batch.x)
    np.testing.assert_array_equal(drop.x[drop.offsets[:-1]], batch.x[batch.offsets[:-1]])  # ends kept
    res = only(resample_prob=1.0)
    assert not np.array_equal(res.lengths, batch.lengths)


def test_augment_callable_on_arrow(batch):
    """Ray Data's map over Arrow batches gives what `augment` gives the same rows and epoch."""
    from swipe.data.swipes import SwipeBatch

    out = Augment(KW, AugmentConfig(), epoch=2)(batch.to_arrow())
    assert isinstance(out, pa.Table) and out.num_rows == len(batch)
    got, want = SwipeBatch.from_arrow(out), augment(batch, KW, AugmentConfig(), epoch=2)
    for f in ("x", "y", "t", "offsets"):
        np.testing.assert_allclose(getattr(got, f), getattr(want, f))
    assert not np.array_equal(got.lengths, batch.lengths) or not np.allclose(got.x, batch.x)  # not the input
