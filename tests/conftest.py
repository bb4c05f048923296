"""Shared fixtures: the shipped layouts, a small alphabet, one session-scoped local Ray, and a
real S3-protocol server on localhost."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from swipe.keyboard import Layout, load_layouts
from tests.support.s3 import LocalS3, free_port, s3_env

ROOT = Path(__file__).resolve().parents[1]
# tests/support/ (what only tests and benchmarks use, outside the package) importable in Ray's
# workers too: they inherit this process's environment, not its sys.path
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                        if p and p != str(ROOT)])
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, short-lived local instance
# Ray Train's controller polls its workers every 2 s by default: a tiny fit's start, reports and end
# wait on it. Polled 4 times as often, the suite's dozen fits end sooner (set before Ray starts).
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5")
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


def start_local_ray() -> None:
    """The session's Ray: local, 2 CPUs, with its dashboard, which serves the State API:
    without it (or, with another Ray on the machine, without its address: start_local_ray),
    the workers of a Tune trial that ASHA stopped are never released and the next trial's
    data reads wait forever for a CPU."""
    from swipe.cluster.session import start_local_ray

    start_local_ray(num_cpus=2, include_dashboard=True, log_to_driver=False)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole session (starting Ray costs seconds). The multi-node tests
    stop it for their own cluster and start it again after them."""
    import ray

    if not ray.is_initialized():
        start_local_ray()
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_dataset(ray_session, tmp_path_factory) -> str:
    """One small synthetic English dataset for the session's training, sweep and job tests:
    1,600 swipes of the 200 most frequent words in 8 shards (read-only: tests write elsewhere)."""
    from swipe.data.make import MakeDatasetConfig, make_dataset
    from swipe.lexicon import LexiconConfig

    out = tmp_path_factory.mktemp("ds") / "tiny_en"
    make_dataset(MakeDatasetConfig(out=str(out), n_swipes=1600, shard_rows=200, lexicon=LexiconConfig(top_n=200)))
    return str(out)


@pytest.fixture(scope="session")
def online(tmp_path_factory):
    """One online decoder for the session (the shipped model on onnxruntime, configs/decode_en.yaml,
    the English and How We Swipe layouts), its users' words in a session folder. Tests that add
    words use users of their own."""
    from swipe.serve.service import OnlineDecoder, ServeConfig, load_offer, resolve_paths
    from swipe.serve.users import UserWordsConfig

    cfg = resolve_paths(ServeConfig(users=UserWordsConfig(store=str(tmp_path_factory.mktemp("users")))), ROOT)
    return OnlineDecoder(cfg, *load_offer(cfg))


@pytest.fixture(scope="module")
def multinode(s3):
    """A Ray cluster of three nodes on this machine (tests.support.multinode): a head with no
    CPUs, where this process is the driver, and two worker nodes. Nothing runs on the
    driver's node, and no node relies on another's disk: data, runs and checkpoints are on
    the `s3` server. The session's local Ray is stopped for it, and started again after it."""
    import ray

    from tests.support.multinode import start_cluster

    had_local = ray.is_initialized()
    ray.shutdown()
    cluster = start_cluster(2)
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    if had_local:
        start_local_ray()


@pytest.fixture()
def in_root(monkeypatch):
    """Run with the repository root as working directory (configs use relative paths)."""
    monkeypatch.chdir(ROOT)
    return ROOT


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`-n 2`, as `make test` runs), every Ray-backed test goes to one worker, in
    the order written: they share that worker's session-scoped local Ray, and the other worker runs
    the rest beside them."""
    for item in items:
        if item.get_closest_marker("ray") or {"ray_session", "tiny_dataset", "multinode"} & set(item.fixturenames):
            item.add_marker(pytest.mark.xdist_group("ray"))
