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


def test_ray_data_logging_config_has_the_console_handler_we_quiet():
    from swipe.cluster.ray_compat import ray_data_logging_config, reconfigure_ray_data_logging

    config = ray_data_logging_config()
    assert config["handlers"]["console"]["level"] == "INFO" and "console" in config["loggers"]["ray.data"]["handlers"]
    reconfigure_ray_data_logging()
