"""The one place that reaches into Ray's private modules, for what Ray has no public API for.

`tests/cluster/test_ray_compat.py` fails loudly when Ray changes underneath anything here;
after a Ray upgrade, fix this module (or delete what Ray has made public), nothing else.
"""

from __future__ import annotations


# The environment variable Ray Train's controller reads to start (or not) a preemption watcher, an
# actor per fit that polls for nodes a cloud will take back. A name only: importing where Ray defines
# it would load Ray Train into every job that starts a local Ray. (Ray 2.60.)
PREEMPTION_WATCHER_ENV = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"


def train_report_logger() -> str:
    """The name of the logger with which every Ray Train worker logs each report at INFO
    ("Reporting training result …"): it is named by its module's file path, not by module
    name, so quieting `ray.train` does not reach it. (Ray 2.60.)"""
    from ray.train.v2._internal.execution import context

    return context.__file__


def ray_data_logging_config() -> dict:
    """A copy of Ray Data's default logging config (dictConfig form), which any process reads
    from the file named by RAY_DATA_LOGGING_CONFIG instead, when set. (Ray 2.60.)"""
    import copy

    from ray.data._internal import logging as data_logging

    return copy.deepcopy(data_logging.DEFAULT_CONFIG)


def reconfigure_ray_data_logging() -> None:
    """Apply RAY_DATA_LOGGING_CONFIG in this process now (Ray Data reads it on import)."""
    from ray.data._internal import logging as data_logging

    data_logging.configure_logging()
