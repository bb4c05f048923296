"""Experiment tracking: a local `metrics.jsonl` always, W&B as an optional sink on rank 0.

W&B runs offline unless `WANDB_API_KEY` is set (or `tracking.wandb=online`); offline runs
are files under RUN_DIR/wandb/ that `wandb sync` can upload later. The key itself is never
logged or written into a config.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import Logger
from pytorch_lightning.utilities import rank_zero_only

from swipe.provenance import redact
from swipe.train.config import TrackingConfig

METRICS_FILE = "metrics.jsonl"  # in a run's folder: one JSON object per logging call

def wandb_mode(cfg: TrackingConfig) -> str:
    if cfg.wandb != "auto":
        return cfg.wandb
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


class JsonlLogger(Logger):
    """Appends one JSON object per logging call to RUN_DIR/metrics.jsonl (rank 0 only)."""

    def __init__(self, run_dir: str | Path):
        super().__init__()
        self.path = Path(run_dir) / METRICS_FILE

    @property
    def name(self) -> str:
        return "jsonl"

    @property
    def version(self) -> str:
        return "0"

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass  # the resolved config is written beside it as config.yaml

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        _append_row(self.path, step, {k: float(v) for k, v in metrics.items()})


def _append_row(path: Path, step: int | None, values: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps({"step": step, "time": round(time.time(), 3), **values}) + "\n")


def build_loggers(run_dir: str | Path, run_name: str, cfg: TrackingConfig, config: dict[str, Any],
                  rank: int, run_home: str = "") -> list[Logger]:
    """metrics.jsonl + (maybe) W&B, on rank 0 only; other ranks log nothing. `run_home`: the
    run's URI on object storage, which names its W&B run (its local folder is scratch)."""
    if rank != 0:
        return []
    loggers: list[Logger] = [JsonlLogger(run_dir)]
    mode = wandb_mode(cfg)
    if mode != "disabled":
        import wandb
        from pytorch_lightning.loggers import WandbLogger

        # one W&B run per training run: a restarted worker group or a resumed run continues it.
        # The mode goes to wandb.init, not the environment (Ray does not forward WANDB_MODE to
        # workers, and Lightning's offline=True would set it process-wide).
        run_id = hashlib.sha1(f"{run_name}:{run_home or Path(run_dir).resolve()}".encode()).hexdigest()[:16]
        wb = WandbLogger(project=cfg.project, name=run_name, group=cfg.group, id=run_id, resume="allow",
                         tags=list(cfg.tags), save_dir=str(run_dir), mode=mode,
                         settings=wandb.Settings(silent=True), config=redact(config))
        # Lightning 2.6 always passes anonymous=None, which wandb 0.31 warns has no effect
        wb._wandb_init.pop("anonymous", None)
        loggers.append(wb)
    return loggers


RESUMED = "resumed_at_step"  # a marker row: the run (re)started from its checkpoint at this step


def mark_restart(run_dir: str | Path, step: int) -> None:
    """Note in metrics.jsonl that training (re)starts at optimizer step `step` (0: from
    scratch), so `final_history` can drop what the lost attempt logged after its checkpoint."""
    path = Path(run_dir) / METRICS_FILE
    if path.exists():  # a first start has nothing to supersede
        _append_row(path, step, {RESUMED: step})


def read_metrics(run_dir: str | Path) -> list[dict[str, float]]:
    """The rows of a run's metrics.jsonl, as logged (with restart markers and what they supersede)."""
    path = Path(run_dir) / METRICS_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def final_history(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """The history the run ended with: at each restart marker, the rows logged at or after
    its step (by an attempt that died before checkpointing them) are dropped. Lightning logs
    optimizer step s+1 as step s, so the rows of a checkpoint at step N are all below N."""
    kept: list[dict[str, float]] = []
    for row in rows:
        if RESUMED in row:
            kept = [r for r in kept if r["step"] < row[RESUMED]]
        else:
            kept.append(row)
    return kept
