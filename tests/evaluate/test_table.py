"""The prediction table: canonical predictor identities, merging tables, conflicts."""

import pytest

from swipe.config import ConfigError
from swipe.evaluate.table import (
    ConflictError,
    canonical_args,
    load_table,
    merge_rows,
    model_identity,
    predictor_row,
    register,
    save_table,
)

MODEL = {"preset": "small", "d_model": 128}


def _row(decoder="beam_lexicon", args=None, lexicon=None, layout="qwerty_english", preds="p1", mrr=0.5):
    return predictor_row("ckpt/a", MODEL, decoder, args or {}, lexicon if lexicon is not None else {"top_n": 100},
                         layout, "ds", "test", preds, {"swipe_mrr": mrr})


def test_canonical_args_fill_defaults_and_reject_unknown_names():
    assert canonical_args("beam", {}) == canonical_args("beam", {"beam_size": 6, "top_k": 4})
    assert canonical_args("beam", {"beam_size": 8}) != canonical_args("beam", {})
    with pytest.raises(ConfigError, match="beam_sise"):
        canonical_args("beam", {"beam_sise": 8})
    with pytest.raises(ConfigError, match="unknown decoder"):
        canonical_args("bean", {})
    with pytest.raises(ConfigError, match="takes no lexicon"):
        canonical_args("beam", {}, {"top_n": 5})
    # the lexicon is part of a lexicon decoder's identity
    assert canonical_args("beam_lexicon", {}, {"top_n": 100}) != canonical_args("beam_lexicon", {}, {"top_n": 200})


def test_equal_predictors_share_a_key_different_ones_do_not():
    assert _row()["key"] == _row(args={"beam_size": 6})["key"] == _row(lexicon={"top_n": 100, "language": "en"})["key"]
    assert _row()["key"] != _row(args={"beam_size": 2})["key"]
    assert _row()["key"] != _row(layout="other")["key"]
    assert _row()["key"] != _row(decoder="beam", lexicon={})["key"]


def test_a_model_retrained_to_the_same_path_is_another_predictor():
    meta = {"model": MODEL, "train": {"created": "2026-12-05T08:11:29+00:00"}, "step": 3000}
    again = meta | {"train": {"created": "2026-12-05T09:19:23+00:00"}}
    keys = {predictor_row("models/en-small", model_identity(m), "beam_lexicon", {}, {}, "qwerty_english", "ds",
                          "test", "p1", {"swipe_mrr": 0.5})["key"] for m in (meta, again, meta | {"step": 2000})}
    assert len(keys) == 3
    assert model_identity({}) == {}  # template matching


def test_tables_from_two_machines_merge_and_conflicts_fail(tmp_path):
    a = [_row(), _row(layout="default")]
    b = [_row(), _row(args={"beam_size": 2}, preds="p2")]  # one shared, one new
    save_table(a, tmp_path / "a.parquet")
    save_table(b, tmp_path / "b.parquet")
    merged = merge_rows(load_table(tmp_path / "a.parquet"), load_table(tmp_path / "b.parquet"))
    assert len(merged) == 3
    with pytest.raises(ConflictError, match="conflicting rows"):
        merge_rows(a, [_row(mrr=0.7)])  # same predictor, other metrics
    # the same measurement in another folder (a second quickstart run) keeps the first row
    assert merge_rows(a, [_row(preds="elsewhere")]) == merge_rows(a)
    register(tmp_path / "t.parquet", a)
    assert len(register(tmp_path / "t.parquet", b)) == 3
