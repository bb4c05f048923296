"""The transformer: sizes, the KV cache against full decoding, beam rows, masks, checkpoints."""

import numpy as np
import pytest
import torch

from swipe.lexicon import build_alphabet
from swipe.model.checkpoint import load_model, save_model_dir
from swipe.model.features import FEATURE_SETS, KeyTable
from swipe.model.transformer import ModelConfig, SwipeModel, count_parameters
from swipe.model.spec import InputSpec


@pytest.fixture(scope="module")
def setup(qwerty):
    alpha = build_alphabet([qwerty], "'")
    keys = KeyTable.build({"qwerty_english": qwerty}, alpha)
    rng = np.random.default_rng(0)
    b, n = 4, 30
    x = torch.from_numpy(rng.uniform(0, 380, (b, n)).astype(np.float32))
    y = torch.from_numpy(rng.uniform(10, 180, (b, n)).astype(np.float32))
    t = torch.cumsum(torch.from_numpy(rng.uniform(5, 20, (b, n)).astype(np.float32)), 1)
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[1, 20:] = False
    mask[3, 5:] = False
    grid = torch.zeros(b, dtype=torch.long)
    tokens = torch.from_numpy(rng.integers(3, alpha.size, (b, 7)))
    return alpha, keys, (x, y, t, mask, grid), tokens


def _model(setup, preset="tiny", features="traj_nearest", seed=0, **sizes):
    alpha, keys, _, _ = setup
    torch.manual_seed(seed)
    return SwipeModel(ModelConfig(preset=preset, features=features, **sizes), keys, alpha.size).eval()


def test_presets_have_their_sizes(setup):
    sizes = {p: count_parameters(_model(setup, p)) for p in ("tiny", "small", "base")}
    assert sizes["tiny"] < 50_000
    assert 0.8e6 < sizes["small"] < 1.2e6
    assert 4.5e6 < sizes["base"] < 5.5e6


@pytest.mark.parametrize("features", ["traj_nearest", "gaussian"])
def test_cached_decoding_equals_full_decoding(setup, features):
    model = _model(setup, features=features)
    _, _, inputs, tokens = setup
    with torch.no_grad():
        full = model(*inputs, tokens)
        cache = model.start_cache(model.encode(*inputs), inputs[3])
        steps = []
        for i in range(tokens.shape[1]):
            logits, cache = model.decode_step(tokens[:, i], cache)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), full, rtol=1e-4, atol=1e-5)


def test_cache_rows_follow_the_beams(setup):
    """expand_beams, reorder_beams and keep_swipes move the cache as the search's protocol
    says: a beam's next logits are those of the swipe (and prefix) it now stands for."""
    model = _model(setup)
    _, _, inputs, tokens = setup
    b, k = tokens.shape[0], 3
    with torch.no_grad():
        cache = model.start_cache(model.encode(*inputs), inputs[3])
        for i in range(2):  # two tokens of every swipe, then beams
            _, cache = model.decode_step(tokens[:, i], cache)
        want, _ = model.decode_step(tokens[:, 2], cache)  # (B, V)
        beams = cache.expand_beams(k)  # swipe i → rows i·k … i·k + k − 1
        got, _ = model.decode_step(tokens[:, 2].repeat_interleave(k), beams)
        torch.testing.assert_close(got, want.repeat_interleave(k, 0), rtol=1e-4, atol=1e-5)
        # the beams take different tokens, then move: a moved row goes on as the row it came from
        _, beams = model.decode_step(torch.randint(3, model.vocab_size, (b * k,), generator=torch.Generator().manual_seed(0)),
                                     beams)
        nxt = tokens[:, 3].repeat_interleave(k)  # the same next token for a swipe's beams
        base, _ = model.decode_step(nxt, beams)  # (B·K, V)
        rows = torch.cat([torch.randperm(k, generator=torch.Generator().manual_seed(i)) + i * k for i in range(b)])
        assert (rows != torch.arange(b * k)).any() and not torch.allclose(base[rows], base)
        got, _ = model.decode_step(nxt, beams.reorder_beams(rows))
        torch.testing.assert_close(got, base[rows], rtol=1e-4, atol=1e-5)
        kept = beams.keep_swipes(torch.tensor([2, 0]))  # swipes 2 and 0 stay, in that order
        got, _ = model.decode_step(tokens[[2, 0], 3].repeat_interleave(k), kept)
        torch.testing.assert_close(got, base.view(b, k, -1)[[2, 0]].flatten(0, 1), rtol=1e-4, atol=1e-5)
        assert kept.length == 3 and kept.cross_k[0].shape[0] == 2 and kept.self_k[0].shape[0] == 2 * k


def test_causal_mask(setup):
    model = _model(setup)
    _, _, inputs, tokens = setup
    with torch.no_grad():
        a = model(*inputs, tokens)
        changed = tokens.clone()
        changed[:, 4] = (changed[:, 4] + 1 - 3) % (model.vocab_size - 3) + 3
        b = model(*inputs, changed)
    torch.testing.assert_close(a[:, :4], b[:, :4])  # earlier positions cannot see the future
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_a_two_layer_conformer_has_the_small_transformers_parameters(setup):
    small = count_parameters(_model(setup, "small"))
    conformer = count_parameters(_model(setup, "small", encoder="conformer", enc_layers=2))
    assert abs(conformer / small - 1) < 0.05


@pytest.mark.parametrize("features,encoder", [(f, "transformer") for f in FEATURE_SETS] + [("traj", "conformer")])
def test_padding_never_changes_logits(setup, features, encoder):
    model = _model(setup, features=features, encoder=encoder)
    _, _, (x, y, t, mask, grid), tokens = setup
    with torch.no_grad():
        a = model(x, y, t, mask, grid, tokens)
        junk = ~mask
        b = model(x.masked_fill(junk, 1e4), y.masked_fill(junk, -3e3), t.masked_fill(junk, 9e6), mask, grid, tokens)
        short = model(x[3:, :5], y[3:, :5], t[3:, :5], mask[3:, :5], grid[3:], tokens[3:])
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[3:], short, rtol=1e-4, atol=1e-5)


def test_checkpoint_reloads_into_identical_predictions(setup, tmp_path, qwerty):
    from swipe.keyboard import layouts_to_json

    alpha, _, inputs, tokens = setup
    model = _model(setup, features="distances", seed=3)
    model.features.set_stats(np.arange(5, dtype=np.float32) * 0.1, np.full(5, 1.5, np.float32))
    save_model_dir(tmp_path, model, alpha, layouts_to_json({"qwerty_english": qwerty}), InputSpec(), {"step": 7})
    again, meta = load_model(tmp_path)
    assert meta["step"] == 7 and meta["alphabet"] == alpha.chars
    with torch.no_grad():
        torch.testing.assert_close(again(*inputs, tokens), model(*inputs, tokens), rtol=0, atol=0)


class _Payload:
    def __reduce__(self):
        return (print, ("this would run on load",))


def test_model_weights_load_without_unpickling_code(setup, tmp_path, qwerty):
    """A model.pt carrying a pickled object is refused, not executed."""
    import pickle

    from swipe.keyboard import layouts_to_json

    alpha = setup[0]
    model = _model(setup, features="distances", seed=3)
    save_model_dir(tmp_path, model, alpha, layouts_to_json({"qwerty_english": qwerty}), InputSpec(), {"step": 1})
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    torch.save({**state, "extra": _Payload()}, tmp_path / "model.pt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_model(tmp_path)
