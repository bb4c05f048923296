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
