"""Object storage end to end against a real S3-protocol server on localhost (moto): the
commands of docs/cluster.md, run line by line in this process on the session's Ray, then the storage
layer's own calls on the same server."""

from __future__ import annotations

import csv
import io
import json
import re

import pyarrow.parquet as pq
import pytest
import yaml

from swipe import storage
from swipe.commands import main
from swipe.config import build_config
from swipe.evaluate.predictions import read_info, read_predictions
from swipe.model.checkpoint import BEST_FILE, load_meta, resolve_checkpoint
from swipe.train.config import TrainConfig
from tests.support.docs import commands_in, swipe_argv

MARKER = "<!-- object storage commands: tests/storage/test_object_storage.py runs these -->"


def run_job(argv: list[str], capsys) -> str:
    """Run `swipe ARGV` in this process (it joins the session's Ray as a job joins a cluster's);
    returns what it printed."""
    main(argv)
    out = capsys.readouterr().out
    print(out)  # shown when the test fails
    return out


@pytest.mark.ray
@pytest.mark.slow
def test_the_cluster_page_commands_run_on_s3(s3, ray_session, in_root, capsys):
    cmds = [swipe_argv(c) for c in commands_in(in_root / "docs/cluster.md", MARKER)]
    assert cmds[0][:2] == ["dev", "s3-local"], cmds  # the server: the test runs its own
    cmds = cmds[1:]
    assert [c[0] for c in cmds] == ["data", "train", "train", "predict", "predict", "evaluate", "sweep", "sweep"], cmds
    data, first, resume, predict, again, evaluate, sweep, sweep_resume = cmds

    run_job(data, capsys)
    assert storage.exists("s3://swipe/datasets/tiny/dataset.json")

    out = run_job(first, capsys)
    run = "s3://swipe/runs/tiny1"
    assert re.search(rf"^run +{run}$", out, re.M)
    assert {"config.yaml", "metrics.jsonl", BEST_FILE} <= {storage.basename(f) for f in storage.list_files(run)}
    best = storage.read_text(storage.join(run, BEST_FILE)).strip()
    assert best.startswith(run + "/checkpoint_") and storage.exists(storage.join(best, "model.json"))
    with pytest.raises(FileExistsError, match="--resume"):  # a used name on S3 is refused
        run_job(first, capsys)

    run_job(resume, capsys)
    history = storage.read_text(storage.join(run, "metrics.jsonl"))
    rows = [json.loads(ln) for ln in history.splitlines() if ln.strip()]
    assert [r["resumed_at_step"] for r in rows if "resumed_at_step" in r] == [10], rows
    assert {r["step"] for r in rows if "val/loss" in r} == {9, 19}
    best = storage.read_text(storage.join(run, BEST_FILE)).strip()
    assert load_meta(resolve_checkpoint(run))["step"] == load_meta(resolve_checkpoint(best))["step"] in (10, 20)

    out = run_job(predict, capsys)
    pred = "s3://swipe/predictions/tiny1"
    info = read_info(pred)
    assert info["checkpoint"] == run and info["rows_in"] == info["rows_out"] + info["rows_rejected"] > 0
    n = read_predictions(pred).num_rows
    shards = len(storage.list_files("s3://swipe/datasets/tiny/test", ".parquet"))
    assert n == info["rows_out"] and f"{shards} written, 0 already done" in out
    out = run_job(again, capsys)
    assert f"0 written, {shards} already done" in out and read_predictions(pred).num_rows == n

    out = run_job(evaluate, capsys)
    assert f"report: {pred}/report.md" in out and storage.exists(f"{pred}/report_by_length.png")
    table = pq.read_table(storage.open_input("s3://swipe/predictions.parquet")).to_pylist()
    assert [r["predictions"] for r in table] == [pred]

    out = run_job(sweep, capsys)
    home = "s3://swipe/sweeps/sw1"
    assert f"sweep: {home}" in out
    assert {"results.md", "results.csv", "best_config.yaml", "sweep.yaml", "curves.png"} <= \
        {storage.basename(f) for f in storage.list_files(home)}
    # ASHA (configs/tune/s3_tiny.yaml): lr = 0 is stopped at its only rung, the 3rd of 4 validations
    trials = {r["optim.lr"]: r for r in csv.DictReader(io.StringIO(storage.read_text(f"{home}/results.csv")))}
    assert (trials["0.01"]["status"], trials["0.01"]["last_step"]) == ("completed", "40"), trials
    assert (trials["0.0"]["status"], trials["0.0"]["last_step"]) == ("stopped early", "30"), trials
    assert float(trials["0.01"]["best_val_swipe_mrr"]) > float(trials["0.0"]["best_val_swipe_mrr"])
    # the best configuration is a training config that `swipe train` accepts as it is
    best_text = storage.read_text(f"{home}/best_config.yaml")
    best = build_config(TrainConfig, yaml.safe_load(best_text))
    assert best.optim.lr == 0.01 and best.run.name is None and best.data.dataset == "s3://swipe/datasets/tiny"
    assert "swipe train --config" in best_text
    assert [storage.basename(d) for d in storage.list_dirs(home)] == ["part-1", "runs"]
    trial_runs = storage.list_dirs(storage.join(home, "runs"))
    assert len(trial_runs) == 2 and all(storage.exists(storage.join(r, "metrics.jsonl")) for r in trial_runs)
    # the winner's best checkpoint, as the table names it (ASHA ends even the last rung's trial at
    # its report, before a run of its own would write best_checkpoint.txt)
    assert storage.exists(storage.join(trials["0.01"]["checkpoint"], "model.json")), trials["0.01"]
    results = storage.read_text(storage.join(home, "results.md"))
    out = run_job(sweep_resume, capsys)  # every trial finished: nothing runs, the results are re-read from S3
    assert [storage.basename(d) for d in storage.list_dirs(home)] == ["part-1", "runs"]
    assert storage.read_text(storage.join(home, "results.md")) == results
