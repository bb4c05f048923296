"""Fault injection for tests and `swipe bench reliability`: kill a Ray actor's process, or
remove a whole node of a multi-node cluster, mid-job.

A SIGKILL is what a preempted node or an out-of-memory kill does to a worker: no cleanup,
no exception inside the process. Removing a node (`ray.cluster_utils.Cluster.remove_node`)
ends its raylet, object store and every worker on it at once, as a lost spot instance
does. Actors are found by class name through the State API (which needs the dashboard
process: `ray[default]`).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from swipe import storage

# class names as Ray 2.60 reports them
TRAIN_WORKER = "RayTrainWorker"  # one per Ray Train worker (rank)
PREDICT_ACTOR = "MapWorker(MapBatches(Predictor))"  # a Ray Data actor-pool worker
TUNE_TRIAL = "ImplicitFunc"  # the actor running one Tune trial's function


def alive_actor_pids(class_name: str) -> list[int]:
    """PIDs of the live actors whose class name contains `class_name`, on this machine's Ray."""
    import ray
    from ray.util.state import list_actors

    # the Ray this process runs on, not whatever /tmp/ray/ray_current_cluster names
    address = ray.get_runtime_context().gcs_address if ray.is_initialized() else None
    actors = list_actors(address=address, filters=[("state", "=", "ALIVE")], detail=True, limit=1000)
    return sorted(a.pid for a in actors if class_name in a.class_name and a.pid)


def _actors_ever(class_name: str) -> list:
    """The State API's record of every actor (alive or ended) whose class name contains `class_name`."""
    import ray
    from ray.util.state import list_actors

    address = ray.get_runtime_context().gcs_address
    return [a for a in list_actors(address=address, detail=True, limit=10_000) if class_name in a.class_name]


def actor_nodes(class_name: str) -> dict[str, str]:
    """Node id of every actor (alive or ended) whose class name contains `class_name`, by actor id."""
    return {a.actor_id: a.node_id for a in _actors_ever(class_name)}


def actor_group_nodes(class_name: str) -> dict[str, list[str]]:
    """The nodes of the actors (alive or ended) whose class name contains `class_name`, by
    placement group: the workers of one Ray Train attempt share one group, a restart gets a new one."""
    groups: dict[str, list[str]] = {}
    for a in _actors_ever(class_name):
        if a.placement_group_id:
            groups.setdefault(a.placement_group_id, []).append(a.node_id)
    return groups


def train_checkpoint_registered(run_dir: str | Path) -> bool:
    """Whether Ray Train's controller has registered a checkpoint of the run in `run_dir`
    (a folder or a URI).

    A checkpoint folder appears while rank 0 uploads it; the controller takes the report in
    only at its next poll of the workers. A worker group that dies in between restarts from
    the checkpoint before (measured: a kill right after the folder appeared restarted at 0)."""
    snap = storage.join(run_dir, "checkpoint_manager_snapshot.json")
    try:
        return json.loads(storage.read_text(snap)).get("latest_checkpoint_result") is not None
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@dataclass
class Killer:
    """Kills one actor of `class_name` once `ready()` holds, from a background thread."""

    class_name: str
    ready: Callable[[], bool] = lambda: True
    timeout_s: float = 300.0
    killed: list[int] = field(default_factory=list)  # pids
    error: str | None = None
    _thread: threading.Thread | None = None

    def start(self) -> "Killer":
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"kill-{self.class_name}")
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        pids: list[int] = []  # found while waiting: the State API takes a second or more, the kill must not
        while time.monotonic() < deadline:
            try:
                if not pids or not _alive(pids[-1]):
                    pids = alive_actor_pids(self.class_name)
                if pids and self.ready():
                    os.kill(pids[-1], signal.SIGKILL)  # the newest-numbered: not always rank 0
                    self.killed.append(pids[-1])
                    return
            except ProcessLookupError:  # it ended between the look and the kill: look again
                pids = []
            except Exception as e:  # noqa: BLE001 — the State API can time out under load; try again
                self.error = f"{type(e).__name__}: {e}"
            time.sleep(0.1)
        self.error = f"no live {self.class_name} actor to kill within {self.timeout_s:g} s ({self.error})"

    def join(self, timeout_s: float = 10.0) -> list[int]:
        """The PIDs killed (empty if the moment never came)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.killed


@dataclass
class NodeRemover:
    """Removes `node` from a `ray.cluster_utils.Cluster` once `ready()` holds, from a
    background thread. (A replacement must be added from the main thread: starting a node
    installs signal handlers.)"""

    cluster: Any
    node: Any
    ready: Callable[[], bool] = lambda: True
    timeout_s: float = 300.0
    removed: list[str] = field(default_factory=list)  # node ids
    error: str | None = None
    _thread: threading.Thread | None = None

    def start(self) -> "NodeRemover":
        self._thread = threading.Thread(target=self._run, daemon=True, name="remove-node")
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not self._ready_now():
            if time.monotonic() > deadline:
                self.error = f"the moment to remove the node never came within {self.timeout_s:g} s ({self.error})"
                return
            time.sleep(0.1)
        try:
            self.cluster.remove_node(self.node, allow_graceful=False)
            self.removed.append(self.node.node_id)
        except Exception as e:  # noqa: BLE001 — reported by the caller
            self.error = f"{type(e).__name__}: {e}"

    def _ready_now(self) -> bool:
        try:
            return self.ready()
        except Exception as e:  # noqa: BLE001 — ready() may read storage that is not there yet
            self.error = f"{type(e).__name__}: {e}"
            return False

    def join(self, timeout_s: float = 120.0) -> list[str]:
        """The node ids removed (empty if the moment never came)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.removed
