"""Where results came from: git revision and timestamps recorded in manifests and runs."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from pathlib import Path
from typing import Any

# environment variables whose values are credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
# AWS_SESSION_TOKEN, WANDB_API_KEY, and any *_API_KEY, *_SECRET, *_TOKEN, *_PASSWORD
SECRET_NAME = re.compile(r"^(AWS|WANDB)_\w*(KEY|SECRET|TOKEN|PASSWORD)|_(API_KEY|SECRET|TOKEN|PASSWORD)$")
MIN_SECRET_LEN = 8  # shorter values ("offline", a test server's "testing") would blank ordinary words
URI_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")  # s3://KEY:SECRET@bucket


def redact(obj: Any) -> Any:
    """A copy of a record with credentials replaced by ***: the user part of every URI
    (`s3://KEY:SECRET@bucket/…`) and the value of every credential variable of this process's
    environment, wherever it appears in a string. The last step before a record is written
    (config.yaml, model.json, a manifest, prediction.json, a sweep's files, an export's JSON, W&B)."""
    secrets = sorted((v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= MIN_SECRET_LEN),
                     key=len, reverse=True)
    return _redact(obj, secrets)


def _redact(obj: Any, secrets: list[str]) -> Any:
    if isinstance(obj, dict):
        return {k: _redact(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_redact(v, secrets) for v in obj)
    if isinstance(obj, str):
        for s in secrets:  # first: a secret may hold a "/" that hides the URI's user part
            obj = obj.replace(s, "***")
        obj = URI_USERINFO.sub(r"\g<scheme>***@", obj)
    return obj


def git_revision(cwd: str | Path | None = None) -> str | None:
    """The checkout's commit (with `-dirty` when there are uncommitted changes), or None."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_stamp() -> str:
    """The UTC time as it goes into default run and sweep names: `2026-12-02T024000`."""
    return now_iso().replace(":", "")[:17]
