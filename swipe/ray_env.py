"""Starting or joining Ray: the one place jobs decide which Ray they run on."""

from __future__ import annotations

import logging
import os

import ray


def ensure_ray(num_cpus: int | None = None) -> None:
    """Join the cluster under `ray job submit` (RAY_ADDRESS is set), else start a local Ray.

    `num_cpus` sizes a local instance only; a cluster has the resources it has.
    """
    if ray.is_initialized():
        return
    if os.environ.get("RAY_ADDRESS"):
        ray.init(logging_level=logging.WARNING)
    else:
        # the dashboard process also serves the State API, which Train and Tune use to clean up
        ray.init(address="local", num_cpus=num_cpus, logging_level=logging.WARNING)
