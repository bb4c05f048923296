"""What a job prints: progress lines, and nothing a user cannot act on.

Warnings raised inside Ray, Lightning or W&B about their own internals (deprecations of
APIs we do not call, notices about settings we did not make) are filtered at the edges,
where a job or a Ray worker starts (`quiet`), from the list below. Ray's own INFO logs
stay in its log files (/tmp/ray/session_latest/logs), not on the console. `--verbose`
on any job (or SWIPE_VERBOSE=1 in a worker's environment) filters nothing.
"""

from __future__ import annotations

import logging
import os
import re
import time
import warnings

# (message start, why it is not the user's to fix) — each filtered as a warning of any category
NOT_YOURS: tuple[tuple[str, str], ...] = (
    ("`ExecutionOptions.exclude_resources` is deprecated", "Ray Data sets it itself (Ray 2.60)"),
    ("`use_push_based_shuffle` is deprecated", "Ray Data reads its own deprecated context fields"),
    ("`use_polars` is deprecated", "Ray Data reads its own deprecated context fields"),
    ("`use_arrow_tensor_v2` is deprecated", "Ray Data reads its own deprecated context fields"),
    ("`isinstance(treespec, LeafSpec)` is deprecated", "Lightning 2.6 on torch 2.13's pytree"),
    ("The given NumPy array is not writable", "the object store's read-only arrays; torch only reads them"),
    ("Detected KeyboardInterrupt", "Ray Train's own note when a run is stopped"),
)
# Ray's and Lightning's loggers whose INFO lines (resources requested, execution plans,
# "progress bars disabled", GPU available: False) go to Ray's log files only
QUIET_LOGGERS = ("ray", "ray.train", "ray.data", "ray.tune", "pytorch_lightning", "lightning.pytorch",
                 "lightning_fabric")


def verbose() -> bool:
    return os.environ.get("SWIPE_VERBOSE", "") not in ("", "0")


def quiet(verbose_: bool | None = None) -> None:
    """Filter NOT_YOURS and raise QUIET_LOGGERS to WARNING in this process (unless verbose).
    Sets SWIPE_VERBOSE so that the Ray workers of a local Ray started after it do the same."""
    if verbose_ is not None:
        os.environ["SWIPE_VERBOSE"] = "1" if verbose_ else "0"
    if verbose():
        return
    for message, _ in NOT_YOURS:
        warnings.filterwarnings("ignore", message=re.escape(message))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # "token authentication is enabled": a private local Ray keeps its token, nothing to do
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    os.environ.setdefault("WANDB_SILENT", "true")  # W&B's notices about its own settings; errors still show
    # Ray Train prints a worker's print() twice (once itself, once through its logger) unless this is off
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    _quiet_ray_data()
    logging.getLogger("ray").addFilter(_NotYours())
    for h in logging.getLogger("ray").handlers:
        h.addFilter(_NotYours())


RAY_NOTICES = ("Progress bars disabled", "Progress bars for operators disabled")  # we print our own progress


def _quiet_ray_data() -> None:
    """Ray Data's console handler at WARNING, without RAY_NOTICES, in every process that
    configures Ray Data's logging after this one (its env var reaches a local Ray's workers,
    and Ray Data's own actors, which no code of ours runs in)."""
    import json
    import tempfile

    from swipe.cluster.ray_compat import ray_data_logging_config, reconfigure_ray_data_logging

    config = ray_data_logging_config()
    config["filters"]["swipe_notices"] = {"()": f"{__name__}._NotYours"}
    config["handlers"]["console"]["level"] = "WARNING"
    config["handlers"]["console"]["filters"].append("swipe_notices")
    path = os.path.join(tempfile.gettempdir(), "swipe-ray-data-logging.json")  # JSON is YAML
    # Every process on a node writes the same file, often at once (the workers of one training
    # run start together): each writes its own temporary file and renames it over the path, so
    # a reader never sees a half-written file and no writer renames another's temporary away.
    fd, tmp = tempfile.mkstemp(prefix="swipe-ray-data-logging.", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; another user's Ray on this node reads it too
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    os.environ["RAY_DATA_LOGGING_CONFIG"] = path
    reconfigure_ray_data_logging()


class _NotYours(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(RAY_NOTICES)


def ray_logging_config():
    """Ray's LoggingConfig for ray.init: its workers' Python logs at WARNING (INFO in --verbose)."""
    import ray

    return ray.LoggingConfig(log_level="INFO" if verbose() else "WARNING")


class Progress:
    """One line every `every_s` seconds (and on `done`): count/total, rate, ETA."""

    def __init__(self, what: str, total: int, unit: str, every_s: float = 10.0, prefix: str = ""):
        self.what, self.total, self.unit, self.every_s, self.prefix = what, total, unit, every_s, prefix
        self.t0 = self.last = time.monotonic()
        self.start_count = 0

    def update(self, count: int, extra: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        rate = (count - self.start_count) / max(now - self.t0, 1e-9)
        eta = (self.total - count) / rate if rate > 0 else float("inf")
        pct = f" ({count / self.total:.0%})" if self.total else ""
        line = f"{self.prefix}[{self.what}] {count:,}/{self.total:,} {self.unit}{pct}  {rate:,.1f} {self.unit}/s"
        if count < self.total and eta != float("inf"):
            line += f"  ETA {format_s(eta)}"
        print(line + (f"  {extra}" if extra else ""), flush=True)


def format_s(s: float) -> str:
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def table(rows: list[tuple[str, str]], title: str = "") -> str:
    """Two aligned columns, under a title: the block a job ends with."""
    width = max((len(k) for k, _ in rows), default=0)
    lines = ([title, "-" * max(len(title), 1)] if title else []) + [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)
