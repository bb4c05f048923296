"""Starting or joining Ray (the one place jobs decide which Ray they run on), and process-wide
settings the library needs changed only for the length of a block: environment variables, log levels."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any, Iterator

import ray

from swipe.cluster.local import free_port
from swipe.cluster.ray_compat import PREEMPTION_WATCHER_ENV


def ensure_ray(num_cpus: int | None = None) -> bool:
    """Join the cluster under `ray job submit` (RAY_ADDRESS is set; `RAY_ADDRESS=auto` joins a
    `ray start` cluster on this machine), else start a private local Ray.

    `num_cpus` sizes a local instance only; a cluster has the resources it has (and an
    autoscaler may add more). Returns True when the Ray in use is a fixed-size local one.
    """
    if ray.is_initialized():
        return not os.environ.get("RAY_ADDRESS")
    from swipe.console import quiet, ray_logging_config

    quiet()
    if os.environ.get("RAY_ADDRESS"):
        ray.init(logging_level=logging.WARNING, logging_config=ray_logging_config())
        return False
    # the dashboard process also serves the State API, which Train and Tune use to clean up
    start_local_ray(num_cpus=num_cpus, logging_level=logging.WARNING, logging_config=ray_logging_config())
    return True


def start_local_ray(**init_args: Any) -> None:
    """`ray.init(address="local", **init_args)`, its processes told their own cluster's address.

    Ray's own State API calls made without an address (Train's placement group cleaner, its
    controller) look for "the" Ray on the machine; with another one running (a user's job beside
    ours) they failed with "Found multiple active Ray instances", a stopped trial's CPUs stayed
    reserved, and the next trial waited for them forever. The GCS port is chosen here, so
    RAY_ADDRESS can name it in the environment every worker inherits; this process's own
    environment is left as it was (a job it starts still gets a Ray of its own)."""
    port = free_port()
    address = f"{ray.util.get_node_ip_address()}:{port}"
    # Train's preemption watcher (an actor per fit, polling for nodes a cloud will take back): a
    # local Ray's one node is this machine, so it only costs each fit a process start
    watcher = os.environ.get(PREEMPTION_WATCHER_ENV, "0")
    with scoped_env(RAY_GCS_SERVER_PORT=str(port), RAY_ADDRESS=address, **{PREEMPTION_WATCHER_ENV: watcher}):
        ray.init(address="local", **init_args)



@contextmanager
def scoped_env(**values: str) -> Iterator[None]:
    """Set these environment variables inside the block; afterwards each is back as it was
    (a variable that was not set is removed again)."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def quiet_loggers(names: list[str], level: int = logging.WARNING) -> Iterator[None]:
    """Raise these loggers to `level` inside the block, then restore their levels."""
    loggers = [logging.getLogger(n) for n in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, before):
            lg.setLevel(lv)
