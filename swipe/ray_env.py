"""Starting or joining Ray: the one place jobs decide which Ray they run on."""

from __future__ import annotations

import logging
import os

import ray


def ensure_ray(num_cpus: int | None = None) -> bool:
    """Join the cluster under `ray job submit` (RAY_ADDRESS is set; `RAY_ADDRESS=auto` joins a
    `ray start` cluster on this machine), else start a private local Ray.

    `num_cpus` sizes a local instance only; a cluster has the resources it has (and an
    autoscaler may add more). Returns True when the Ray in use is a fixed-size local one.
    """
    if ray.is_initialized():
        return not os.environ.get("RAY_ADDRESS")
    if os.environ.get("RAY_ADDRESS"):
        ray.init(logging_level=logging.WARNING)
        return False
    # the dashboard process also serves the State API, which Train and Tune use to clean up
    ray.init(address="local", num_cpus=num_cpus, logging_level=logging.WARNING)
    return True
