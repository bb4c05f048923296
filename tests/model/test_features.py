"""Every feature set against a hand-computed example; padding and mixed layouts."""

import math

import numpy as np
import pytest
import torch

from swipe.keyboard import parse_layout
from swipe.lexicon import Alphabet
from swipe.model.features import FAR, FEATURE_SETS, KeyTable, PointFeatures, compute_stats, trajectory

ALPHA = Alphabet("abc")  # tokens: a=3, b=4, c=5
GRID = {"width": 100, "height": 40, "keys": [
    {"label": "a", "hitbox": {"x": 0, "y": 0, "w": 20, "h": 20}},
    {"label": "b", "hitbox": {"x": 40, "y": 0, "w": 20, "h": 20}},
    {"action": "space", "hitbox": {"x": 0, "y": 25, "w": 100, "h": 10}},
]}
LAY = parse_layout("g", GRID)  # letter box (0, 0, 60, 20); centres a=(10,10), b=(50,10)
HALF = math.hypot(20, 20) / 2
KEYS = KeyTable.build({"g": LAY}, ALPHA)
# one swipe of 3 points, then 2 padding slots filled with junk
X = torch.tensor([[10.0, 30.0, 50.0, 999.0, -5.0]])
Y = torch.tensor([[10.0, 12.0, 10.0, 999.0, 7.0]])
T = torch.tensor([[0.0, 10.0, 30.0, 31.0, 40.0]])
M = torch.tensor([[True, True, True, False, False]])
G = torch.tensor([0])


def _expected_traj():
    xn = np.array([10, 30, 50]) / 60
    yn = np.array([10, 12, 10]) / 20
    t = np.array([0, 10, 30.0])
    dt = np.array([0, 10, 20.0])

    def cdiff(v):  # one-sided at the ends, central inside
        return np.array([(v[1] - v[0]) / (t[1] - t[0]), (v[2] - v[0]) / (t[2] - t[0]), (v[2] - v[1]) / (t[2] - t[1])])

    vx, vy = cdiff(xn), cdiff(yn)
    return np.stack([xn, yn, dt, vx, vy, cdiff(vx), cdiff(vy)], 1)


def _module(fs):
    torch.manual_seed(0)
    return PointFeatures(fs, KEYS, ALPHA.size, d_key=4).eval()


def test_trajectory_by_hand():
    got = trajectory(X, Y, T, M, torch.from_numpy(KEYS.bbox)[G])[0]
    np.testing.assert_allclose(got[:3].numpy(), _expected_traj(), rtol=1e-5, atol=1e-7)
    assert (got[3:] == 0).all()


def test_standardisation_uses_saved_stats():
    f = _module("traj")
    mean, std = np.arange(5, dtype=np.float32), np.full(5, 2.0, np.float32)
    f.set_stats(mean, std)
    got = f(X, Y, T, M, G)[0, :3].numpy()
    exp = _expected_traj()
    np.testing.assert_allclose(got[:, :2], exp[:, :2], rtol=1e-5)
    np.testing.assert_allclose(got[:, 2:], (exp[:, 2:] - mean) / std, rtol=1e-4, atol=1e-6)
    assert "stats_mean" in f.state_dict()  # saved with the model
    m, s = compute_stats([(X, Y, T, M, G)], KEYS)
    np.testing.assert_allclose(m, exp[:, 2:].mean(0), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("fs", ["nearest", "traj_nearest", "google2015", "indiswipe"])
def test_nearest_key_embedding_by_hand(fs):
    f = _module(fs)
    got = f(X, Y, T, M, G)[0, :3]
    emb = f.key_emb.weight.detach()
    near = emb[[3, 3, 4]]  # (30, 12) is 20.1 px from both a and b: the first key wins ties
    exp_traj = torch.from_numpy(_expected_traj()).float()
    pick = {"nearest": [], "traj_nearest": [exp_traj], "google2015": [exp_traj[:, :3]],
            "indiswipe": [exp_traj[:, :2], exp_traj[:, 3:5]]}[fs]
    torch.testing.assert_close(got, torch.cat(pick + [near], -1), rtol=1e-4, atol=1e-6)


def _dist(px, py):
    return np.array([math.hypot(px - 10, py - 10), math.hypot(px - 50, py - 10)]) / HALF


@pytest.mark.parametrize("fs", ["weighted", "gaussian"])
def test_weighted_and_gaussian_by_hand(fs):
    f = _module(fs)
    got = f(X, Y, T, M, G)[0, :3, 7:].detach()
    emb = f.key_emb.weight.detach().numpy()[[3, 4]]  # keys a, b
    for i, (px, py) in enumerate([(10, 10), (30, 12), (50, 10)]):
        if fs == "weighted":
            w = 1 / (1 + np.exp(1.8 * (_dist(px, py) - 2.2)))
        else:  # trainable Gaussians start at μ = 0, σ = 1 half-diagonal
            d = np.array([[(px - 10) / HALF, (py - 10) / HALF], [(px - 50) / HALF, (py - 10) / HALF]])
            w = np.exp(-0.5 * (d ** 2).sum(1))
        np.testing.assert_allclose(got[i].numpy(), w @ emb, rtol=1e-4, atol=1e-6)
    if fs == "gaussian":
        assert {"gauss_mu", "gauss_log_sigma"} <= {n for n, _ in f.named_parameters()}


def test_distances_by_hand():
    f = _module("distances")
    got = f(X, Y, T, M, G)[0, :3, 7:].detach()
    for i, (px, py) in enumerate([(10, 10), (30, 12), (50, 10)]):
        per_char = np.full(ALPHA.size, FAR, np.float32)
        per_char[[3, 4]] = _dist(px, py)  # 'c' has no key on this layout: FAR
        exp = f.dist_proj(torch.from_numpy(per_char)).detach().numpy()
        np.testing.assert_allclose(got[i].numpy(), exp, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fs", FEATURE_SETS)
def test_padding_never_changes_features(fs):
    f = _module(fs)
    a = f(X, Y, T, M, G)[0, :3]
    x2, y2, t2 = X.clone(), Y.clone(), T.clone()
    x2[0, 3:], y2[0, 3:], t2[0, 3:] = -1e4, 5e3, 1e6  # other junk in the padding
    b = f(x2, y2, t2, M, G)[0, :3]
    c = f(X[:, :3], Y[:, :3], T[:, :3], M[:, :3], G)[0]  # no padding at all
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    assert (f(X, Y, T, M, G)[0, 3:] == 0).all()


@pytest.mark.parametrize("fs", FEATURE_SETS)
def test_several_layouts_in_one_batch(fs, qwerty, yandex):
    from swipe.lexicon import build_alphabet

    layouts = {"qwerty_english": qwerty, **yandex}
    alpha = build_alphabet(layouts.values())
    keys = KeyTable.build(layouts, alpha)
    torch.manual_seed(0)
    f = PointFeatures(fs, keys, alpha.size, d_key=4).eval()
    rng = np.random.default_rng(0)
    n = 6
    x = torch.from_numpy(rng.uniform(0, 380, (3, n)).astype(np.float32))
    y = torch.from_numpy(rng.uniform(0, 220, (3, n)).astype(np.float32))
    t = torch.cumsum(torch.full((3, n), 15.0), 1)
    m = torch.ones(3, n, dtype=torch.bool)
    g = torch.tensor([0, 1, 2])
    mixed = f(x, y, t, m, g)
    for i in range(3):
        alone = f(x[i:i + 1], y[i:i + 1], t[i:i + 1], m[i:i + 1], g[i:i + 1])
        torch.testing.assert_close(mixed[i:i + 1], alone)
    assert keys.grid_names == ("qwerty_english", "extra", "default")
