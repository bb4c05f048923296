"""The private-API shim still matches the Ray it runs on: fails loudly after an upgrade that moves it."""

import inspect
import logging


def test_the_train_report_logger_is_the_one_train_reports_with():
    from ray.train.v2._internal.execution import context

    from swipe.cluster.ray_compat import train_report_logger

    name = train_report_logger()
    assert logging.getLogger(name) is context.logger, "Ray Train no longer logs reports under this name"
    assert "Reporting training result" in inspect.getsource(context), "Ray Train's report log line moved"
    assert not name.startswith("ray."), "it is named by module now: quieting 'ray.train' covers it, drop the shim"


def test_ray_data_logging_config_has_the_console_handler_we_quiet(monkeypatch, capfd):
    """Ray Data's default config has the console handler `quiet` turns down; after it, Ray Data
    prints its warnings but neither its INFO lines nor the notices we replace (RAY_NOTICES)."""
    from swipe.cluster.ray_compat import ray_data_logging_config
    from swipe.console import RAY_NOTICES, quiet

    config = ray_data_logging_config()
    assert config["handlers"]["console"]["level"] == "INFO" and "console" in config["loggers"]["ray.data"]["handlers"]
    monkeypatch.setenv("SWIPE_VERBOSE", "0")
    monkeypatch.delenv("RAY_DATA_LOGGING_CONFIG", raising=False)
    quiet()
    log = logging.getLogger("ray.data")
    log.info("an info line of ray data")
    log.warning(RAY_NOTICES[0] + ": a notice")
    log.warning("a real warning of ray data")
    printed = capfd.readouterr()
    printed = printed.out + printed.err
    assert "a real warning of ray data" in printed
    assert "an info line of ray data" not in printed and RAY_NOTICES[0] not in printed, printed


def test_the_preemption_watcher_switch_is_the_one_train_reads():
    from ray.train.v2._internal import constants

    from swipe.cluster.ray_compat import PREEMPTION_WATCHER_ENV

    assert constants.ENABLE_PREEMPTION_WATCHER_ENV_VAR == PREEMPTION_WATCHER_ENV, "Ray renamed it: follow"
    # (that a local Ray's fits start none: tests/train/test_fit.py)
