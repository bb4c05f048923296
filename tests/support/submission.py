"""`ray job submit`, end to end on this machine: the path a cluster user takes, checked row by row.

```
LocalCluster (ray start --head)
  ─► ray job submit --working-dir . -- python jobs/train.py …     wait: SUCCEEDED
  ─► ray job submit … jobs/predict.py … (--no-wait), ray job stop once a shard is written,
     ray job submit the same command again                        wait: SUCCEEDED
  ─► every input row exactly once in the predictions; the cluster's processes stopped
```

Used by `swipe dev submit-local`, its test and `bench.py reliability`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from swipe.cluster.local import LocalCluster


@dataclass
class SubmitResult:
    train_status: str
    predict_status: str
    predict_interrupted: bool  # the first prediction job was stopped mid-way, then resubmitted
    relative_refused: bool = False  # a job given a relative data path failed at once, saying what to use
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    duplicate_rows: int = 0
    missing_rows: int = 0
    leftover_processes: int = 0
    ray_temp_dir: str = ""  # the cluster's logs (kept)
    wall_s: float = 0.0
    logs: dict[str, str] = field(default_factory=dict)

    def ok(self) -> bool:
        return (self.train_status == self.predict_status == "SUCCEEDED" and self.relative_refused
                and self.duplicate_rows == 0
                and self.missing_rows == 0 and self.leftover_processes == 0
                and self.rows_in == self.rows_out + self.rows_rejected)


def submit_train_and_predict(dataset: str, out: str | Path, train_config: str = "configs/quickstart.yaml",
                             train_overrides: list[str] = (), predict_overrides: list[str] = (),
                             split: str = "test", num_cpus: int = 2, node_env: dict[str, str] | None = None,
                             checkpoint: str = "") -> SubmitResult:
    """Start a local cluster, submit training then prediction (stopped once and resubmitted),
    check the predictions row by row, stop the cluster. With `checkpoint` (an absolute path),
    no training job: prediction decodes with it (the suite's short version)."""
    from swipe.data.dataset import read_split
    from swipe.evaluate.predictions import read_predictions

    t0 = time.perf_counter()
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    dataset = str(Path(dataset).resolve())  # the job runs in a copy of the checkout: no relative data paths
    name = f"submitted-{int(time.time())}"
    pred_dir = out / "predictions"
    logs = {k: str(out / f"{k}.log") for k in ("head", "train", "relative", "predict_1", "predict_2")}
    with LocalCluster(num_cpus=num_cpus, log=Path(logs["head"]), env=node_env) as cluster:
        train_cmd = ["python", "jobs/train.py", "--config", train_config, f"data.dataset={dataset}",
                     f"run.storage_path={out / 'runs'}", f"run.name={name}", "eval=[]", *train_overrides]
        # beside the other jobs: a relative dataset names the uploaded copy of the checkout, which has
        # no data/, and is refused before any work
        cluster.submit(f"{name}-relative", ["python", "jobs/predict.py", "checkpoint=models/en-small",
                                            "dataset=data/datasets/not-uploaded", f"split={split}"],
                       wait=False, log=Path(logs["relative"]))
        train_status = (cluster.submit(f"{name}-train", train_cmd, log=Path(logs["train"])) if not checkpoint
                        else "NOT RUN")
        predict_status, interrupted = "NOT RUN", False
        if train_status == "SUCCEEDED" or checkpoint:
            predict_cmd = ["python", "jobs/predict.py", f"checkpoint={checkpoint or out / 'runs' / name}",
                           f"dataset={dataset}",
                           f"split={split}", f"out={pred_dir}", *predict_overrides]
            first = f"{name}-predict-1"
            # held after its first shard until stopped (the shard writer wrapped): the fault lands on a fast machine too
            held = ["python", "tests/support/held_predict.py", *predict_cmd[2:]]
            cluster.submit(first, held, wait=False, log=Path(logs["predict_1"]))
            deadline, next_check = time.monotonic() + 600, time.monotonic() + 10
            while not list(pred_dir.glob("part-*")) and time.monotonic() < deadline:
                time.sleep(0.1)  # watch the folder: a `ray job status` call costs a second
                if time.monotonic() > next_check:
                    if cluster.status(first) not in ("PENDING", "RUNNING"):
                        break
                    next_check = time.monotonic() + 10
            cluster.cli("job", "stop", first, check=False)  # a shard is written: kill the job now
            interrupted = cluster.status(first) == "STOPPED" and not (pred_dir / "prediction.json").exists()
            predict_status = cluster.submit(f"{name}-predict-2", predict_cmd, log=Path(logs["predict_2"]))
        deadline = time.monotonic() + 120  # (it has long ended beside the other jobs; alone, it may not have yet)
        while cluster.status(f"{name}-relative") in ("PENDING", "RUNNING", "UNKNOWN") and time.monotonic() < deadline:
            time.sleep(1)
        said = cluster.cli("job", "logs", f"{name}-relative", check=False, log=Path(logs["relative"])).stdout
        refused = cluster.status(f"{name}-relative") == "FAILED" and "Give a URI" in said
    result = SubmitResult(train_status, predict_status, interrupted, refused, leftover_processes=len(cluster.leftover_processes()),
                          ray_temp_dir=str(cluster.temp_dir), logs=logs)
    if predict_status == "SUCCEEDED":
        info = json.loads((pred_dir / "prediction.json").read_text())
        ids = read_predictions(pred_dir)["id"].to_pylist()
        want = read_split(dataset, split)["id"].to_pylist()
        result.rows_in, result.rows_out, result.rows_rejected = info["rows_in"], info["rows_out"], info["rows_rejected"]
        result.duplicate_rows = len(ids) - len(set(ids))
        result.missing_rows = len(set(want) - set(ids)) - info["rows_rejected"]
    result.wall_s = round(time.perf_counter() - t0, 1)
    return result
