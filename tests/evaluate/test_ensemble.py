"""Ensembles on hand-made prediction folders (real Parquet, no model needed)."""

import json

import numpy as np
import pyarrow as pa
import pytest

from swipe.data.dataset import write_table
from swipe.dev.ensemble import EnsembleConfig, Member, append_by_rank, run_ensemble, weighted_merge
from swipe.evaluate.predictions import PREDICTION_SCHEMA
from swipe.evaluate.table import load_table


def _folder(path, rows, split, checkpoint=True):
    ids, words, cands, scores = zip(*rows)
    write_table(pa.table({"id": pa.array(ids, pa.int64()), "word": list(words), "grid_name": ["g"] * len(ids),
                          "candidates": list(cands), "scores": list(scores), "user": ["u"] * len(ids)},
                         schema=PREDICTION_SCHEMA),
                path / "part-00000.parquet")
    made_by = {"checkpoint": f"ck-{path.name}"} if checkpoint else {"checkpoint": None, "decoder": "template"}
    (path / "prediction.json").write_text(json.dumps(made_by | {"dataset": "d", "split": split}))
    return str(path)


def test_merges_by_hand():
    a = (["cat", "car"], [-0.1, -2.0])
    b = (["car", "cab"], [-0.1, -0.2])
    merged = weighted_merge([[a, b]], np.array([0.5, 0.5]))[0]
    p_a = np.exp([-0.1, -2.0]) / np.exp([-0.1, -2.0]).sum()
    p_b = np.exp([-0.1, -0.2]) / np.exp([-0.1, -0.2]).sum()
    want = {"cat": 0.5 * p_a[0], "car": 0.5 * p_a[1] + 0.5 * p_b[0], "cab": 0.5 * p_b[1]}
    assert [c for c, _ in merged] == sorted(want, key=lambda w: -want[w])
    assert dict(merged) == pytest.approx(want)
    assert append_by_rank([[["x", "y", "z"], ["y", "w"]]]) == [["x", "y", "w", "z"]]


def test_fit_on_val_apply_to_test_and_register(tmp_path):
    # member A ranks the reference first on every third swipe, B on the other two: B should weigh more
    def rows(member, n, offset):
        out = []
        for i in range(n):
            ref = f"w{i}"
            good = (i % 3 != 0) if member == "B" else (i % 3 == 0)
            cands = [ref, "zz"] if good else ["zz", ref]
            out.append((offset + i, ref, cands, [-0.1, -1.0]))
        return out

    for name in ("A_val", "A_test", "B_val", "B_test"):
        (tmp_path / name).mkdir()
    members = (Member(_folder(tmp_path / "A_val", rows("A", 30, 0), "val"), _folder(tmp_path / "A_test", rows("A", 30, 100), "test")),
               Member(_folder(tmp_path / "B_val", rows("B", 30, 0), "val", checkpoint=False),  # the template matcher
                      _folder(tmp_path / "B_test", rows("B", 30, 100), "test", checkpoint=False)))
    reg = tmp_path / "table.parquet"
    for method in ("weighted", "append"):
        r = run_ensemble(EnsembleConfig(members=members, method=method, out=str(tmp_path / method), registry=str(reg)))
        assert r["val_swipe_mrr"] >= max(r["member_val_swipe_mrr"]) - 1e-9
        assert r["test"]["n"] == 30
    w = json.loads((tmp_path / "weighted" / "ensemble.json").read_text())["weights"]
    assert w[1] > w[0]
    rows_ = load_table(reg)
    assert {r["decoder"] for r in rows_} == {"ensemble_weighted", "ensemble_append"} and all(r["split"] == "test" for r in rows_)
    assert {r["checkpoint"] for r in rows_} == {"ck-A_test+template"}
    with pytest.raises(ValueError, match="at least two"):
        run_ensemble(EnsembleConfig(members=members[:1]))
