"""swipe.console: the quieting every Ray worker does at its start."""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile

from swipe import console


def _quiet_many(tmp: str, times: int) -> None:
    tempfile.tempdir = tmp
    for _ in range(times):
        console._quiet_ray_data()


def test_processes_quieting_ray_data_at_once_all_succeed(tmp_path, monkeypatch):
    """The workers of one training run start together, and each writes Ray Data's logging
    config to one path on the node and reads it back: none may fail or read a half-written
    file (a training run whose first attempt dies of it has used up its retries before any fault)."""
    monkeypatch.delenv("RAY_DATA_LOGGING_CONFIG", raising=False)
    # spawned, not forked: this process may hold the session's Ray connection
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_quiet_many, args=(str(tmp_path), 150)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    path = tmp_path / "swipe-ray-data-logging.json"
    assert json.loads(path.read_text())["handlers"]["console"]["level"] == "WARNING"
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temporary file left behind
