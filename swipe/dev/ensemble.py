"""Ensembles of predictors: fit on a validation split, apply to a test split, record the result.

- `weighted`: each member's candidate scores become a distribution over its own list
  (softmax); a word's ensemble score is Σ_m w_m · p_m(word); the weights are fitted on the
  validation split by a grid over the simplex, maximising swipe_mrr.
- `append`: members ordered by their validation swipe_mrr; for rank r = 1, 2, …, each
  member's r-th candidate is appended if not already there.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa

from swipe.data.dataset import write_table
from swipe.metrics import summarize
from swipe.evaluate.predictions import PREDICTION_SCHEMA, read_info, read_predictions

TOP_K = 4


@dataclass(frozen=True)
class Member:
    """One predictor's prediction folders on the validation and the test split."""

    val: str  # its prediction folder on the validation split (weights are fitted there)
    test: str  # its prediction folder on the test split (the ensemble is applied there)


@dataclass(frozen=True)
class EnsembleConfig:
    members: tuple[Member, ...] = ()  # each member's prediction folders: {val: …, test: …}
    method: Literal["weighted", "append"] = "weighted"  # weighted: scores merged with weights fitted on val | append: candidates interleaved by rank
    grid_step: float = 0.1  # weight grid resolution (weighted)
    out: str = ""  # prediction folder for the ensemble on the test split
    registry: str = "runs/predictions.parquet"  # the row for the ensemble is merged here ("": none)


def _by_id(folder: str) -> dict[int, dict]:
    return {r["id"]: r for r in read_predictions(folder).to_pylist()}


def weighted_merge(lists: list[list[tuple[list[str], list[float]]]], weights: np.ndarray
                   ) -> list[list[tuple[str, float]]]:
    """Per swipe: members' (candidates, scores) → merged (candidate, Σ w·p) pairs, best first."""
    out = []
    for per_member in lists:
        total: dict[str, float] = {}
        for w, (cands, scores) in zip(weights, per_member):
            if not cands:
                continue
            s = np.asarray(scores, dtype=np.float64)
            p = np.exp(s - s.max())
            p /= p.sum()
            for c, pc in zip(cands, p):
                total[c] = total.get(c, 0.0) + float(w) * float(pc)
        out.append(sorted(total.items(), key=lambda kv: -kv[1])[:TOP_K])
    return out


def append_by_rank(lists: list[list[list[str]]]) -> list[list[str]]:
    """Per swipe: members' candidate lists (in member priority order) → interleaved by rank."""
    out = []
    for per_member in lists:
        merged: list[str] = []
        for rank in range(max((len(c) for c in per_member), default=0)):
            for cands in per_member:
                if rank < len(cands) and cands[rank] not in merged:
                    merged.append(cands[rank])
        out.append(merged[:TOP_K])
    return out


def _aligned(folders: list[str]) -> tuple[list[int], list[str | None], list[list[dict]]]:
    """Rows of several prediction folders joined on id (ids every member predicted)."""
    rows = [_by_id(f) for f in folders]
    ids = sorted(set.intersection(*(set(r) for r in rows)))
    refs = [rows[0][i]["word"] for i in ids]
    return ids, refs, [[r[i] for r in rows] for i in ids]


def fit_weights(cfg: EnsembleConfig) -> tuple[np.ndarray, float]:
    """Grid search over the weight simplex on the validation split: (weights, swipe_mrr)."""
    _, refs, rows = _aligned([m.val for m in cfg.members])
    lists = [[(r["candidates"], r["scores"]) for r in per] for per in rows]
    n = len(cfg.members)
    steps = int(round(1 / cfg.grid_step))
    best, best_w = -1.0, np.full(n, 1 / n)
    for combo in itertools.product(range(steps + 1), repeat=n - 1):
        if sum(combo) > steps:
            continue
        w = np.array(list(combo) + [steps - sum(combo)], dtype=np.float64) / steps
        mrr = summarize([[c for c, _ in m] for m in weighted_merge(lists, w)], refs)["swipe_mrr"]
        if mrr > best + 1e-12:
            best, best_w = mrr, w
    return best_w, best


def run_ensemble(cfg: EnsembleConfig) -> dict:
    """Fit on val, apply to test, write predictions, register the ensemble as a predictor."""
    if len(cfg.members) < 2:
        raise ValueError("an ensemble needs at least two members")
    val_scores = []
    for m in cfg.members:
        t = read_predictions(m.val)
        val_scores.append(summarize(t["candidates"].to_pylist(), t["word"].to_pylist())["swipe_mrr"])
    ids, refs, rows = _aligned([m.test for m in cfg.members])
    if cfg.method == "weighted":
        weights, val_mrr = fit_weights(cfg)
        scored = weighted_merge([[(r["candidates"], r["scores"]) for r in per] for per in rows], weights)
        merged, scores = [[c for c, _ in m] for m in scored], [[v for _, v in m] for m in scored]
        args = {"weights": [round(float(w), 4) for w in weights]}
    else:
        order = list(np.argsort(val_scores)[::-1])
        merged = append_by_rank([[per[i]["candidates"] for i in order] for per in rows])
        _, vrefs, vrows = _aligned([m.val for m in cfg.members])
        val_mrr = summarize(append_by_rank([[per[i]["candidates"] for i in order] for per in vrows]), vrefs)["swipe_mrr"]
        args = {"order": [int(i) for i in order]}
        scores = [[float(TOP_K - i) for i in range(len(c))] for c in merged]  # ranks: no common scale
    metrics = summarize(merged, refs)
    out = Path(cfg.out or Path(cfg.members[0].test).parent / f"ensemble-{cfg.method}")
    first = [per[0] for per in rows]
    table = pa.table({"id": pa.array(ids, pa.int64()), "word": pa.array(refs, pa.string()),
                      "grid_name": pa.array([r["grid_name"] for r in first], pa.string()),
                      "candidates": pa.array(merged, pa.list_(pa.string())),
                      "scores": pa.array(scores, pa.list_(pa.float32())),
                      "user": pa.array([r.get("user") for r in first], pa.string())}, schema=PREDICTION_SCHEMA)
    write_table(table, out / "part-00000.parquet")
    info = {"method": cfg.method, "members": [m.__dict__ for m in cfg.members], "member_val_swipe_mrr": val_scores,
            "val_swipe_mrr": val_mrr, **args, "test": metrics}
    (out / "ensemble.json").write_text(json.dumps(info, indent=1))
    if cfg.registry:
        from swipe.evaluate.table import predictor_row, register

        test_info = [read_info(m.test) for m in cfg.members]
        member_ids = [i.get("checkpoint") or i.get("decoder") or "template" for i in test_info]  # the matcher: no model
        register(cfg.registry, [predictor_row(
            "+".join(member_ids), {"ensemble_of": member_ids}, f"ensemble_{cfg.method}",
            {"members": [m.test for m in cfg.members], **args}, None, "all", test_info[0]["dataset"],
            test_info[0]["split"], str(out), metrics)])
    return info | {"out": str(out)}
