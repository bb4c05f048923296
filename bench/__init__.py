"""Benchmarks and the reliability scenarios: outside the library, run by `swipe bench NAME`."""

from typing import Callable

from bench.benchmarks import BENCHMARKS as _SPEED


def _reliability() -> dict:
    from bench.reliability import run_reliability

    return run_reliability()


def _reliability_nodes() -> dict:
    from bench.reliability import run_node_losses

    return run_node_losses()


def _export() -> dict:
    from bench.online import bench_export

    return bench_export()


def _fuzz() -> dict:
    from bench.online import bench_fuzz

    return bench_fuzz()


def _serve() -> dict:
    from bench.online import bench_serve

    return bench_serve()


BENCHMARKS: dict[str, Callable[[], dict]] = {**_SPEED, "reliability": _reliability,
                                             "reliability_nodes": _reliability_nodes, "export": _export,
                                             "serve": _serve, "fuzz": _fuzz}
