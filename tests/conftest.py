"""Shared fixtures: the shipped layouts, a small alphabet, one session-scoped local Ray, and a
real S3-protocol server on localhost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from swipe.keyboard import Layout, load_layouts
from swipe.testing.s3 import LocalS3, free_port, s3_env

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, short-lived local instance
# s3://… means the `s3` fixture's server: set before any Ray starts, so every Ray worker inherits it
S3_PORT = free_port()
os.environ.update(s3_env(S3_PORT))


@pytest.fixture(scope="session")
def s3():
    """moto's S3 server on localhost with a bucket `swipe`, reached through pyarrow's S3
    filesystem like a cloud bucket (no cloud account)."""
    with LocalS3(S3_PORT, ("swipe",)) as server:
        yield server


@pytest.fixture(scope="session")
def qwerty() -> Layout:
    return load_layouts(ROOT / "data/layouts/qwerty_english.json")["qwerty_english"]


@pytest.fixture(scope="session")
def yandex() -> dict[str, Layout]:
    return load_layouts(ROOT / "data/layouts/yandex_cup.json")


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole session (starting Ray costs seconds). With its dashboard,
    which serves the State API: without it, the workers of a Tune trial that ASHA stopped
    are never released and the next trial's data reads wait forever for a CPU."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=True, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture()
def in_root(monkeypatch):
    """Run with the repository root as working directory (configs use relative paths)."""
    monkeypatch.chdir(ROOT)
    return ROOT
