"""Where results came from: git revision and timestamps recorded in manifests and runs."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path


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
