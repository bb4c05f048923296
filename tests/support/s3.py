"""A real S3-protocol server on localhost (moto's ThreadedMotoServer), for the tests and for
trying object storage without a cloud account.

pyarrow's S3 filesystem, and so Ray Train, Tune and Ray Data, reach it through the
standard AWS variables (`env`): set them before Ray starts, and every Ray worker inherits
them, as the nodes of a real cluster inherit their credentials.
"""

from __future__ import annotations

import logging
from typing import Any

from swipe.cluster.local import free_port  # noqa: F401  (the tests' and benchmarks' free port)

REGION = "us-east-1"


def s3_env(port: int) -> dict[str, str]:
    """The variables that point pyarrow's S3 filesystem (and boto) at the server on `port`."""
    return {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}


class LocalS3:
    """`with LocalS3(port, buckets=["swipe"]):` — the server, with these buckets made."""

    def __init__(self, port: int, buckets: tuple[str, ...] = ("swipe",)):
        self.port, self.buckets = port, buckets
        self.server: Any = None

    def __enter__(self) -> "LocalS3":
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        for b in self.buckets:
            self.make_bucket(b)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.stop()

    def make_bucket(self, name: str) -> None:
        import pyarrow.fs as pafs

        e = s3_env(self.port)
        fs = pafs.S3FileSystem(access_key=e["AWS_ACCESS_KEY_ID"], secret_key=e["AWS_SECRET_ACCESS_KEY"],
                               region=REGION, endpoint_override=e["AWS_ENDPOINT_URL"], allow_bucket_creation=True)
        fs.create_dir(name)
