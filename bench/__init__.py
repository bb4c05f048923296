"""Benchmarks and the reliability scenarios: outside the library, run by `jobs/bench.py NAME`."""

from typing import Callable

from bench.benchmarks import BENCHMARKS as _SPEED


def _reliability() -> dict:
    from bench.reliability import run_reliability

    return run_reliability()


def _reliability_nodes() -> dict:
    from bench.reliability import run_node_losses

    return run_node_losses()


BENCHMARKS: dict[str, Callable[[], dict]] = {**_SPEED, "reliability": _reliability,
                                             "reliability_nodes": _reliability_nodes}
