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
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                 logging_level=logging.WARNING)
