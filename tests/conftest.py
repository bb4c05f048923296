"""Shared fixtures: the shipped layouts, a small alphabet, and one session-scoped local Ray."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from swipe.keyboard import Layout, load_layouts

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, short-lived local instance


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
