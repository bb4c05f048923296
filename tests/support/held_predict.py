"""`swipe predict …` held once its first shard is written, until `ray job stop` ends it: the
job-stop fault's moment reached deterministically (it raced a fast machine), injected from
outside the production code by wrapping the shard writer. A job's entrypoint:
`python tests/support/held_predict.py key=value …` (the submission check)."""

import sys
import time

from swipe.commands import main
from swipe.evaluate import predict

_write_shard = predict._write_shard


def _held(*args, **kwargs) -> None:
    _write_shard(*args, **kwargs)
    print("[held_predict] the first shard is written: holding until stopped", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    predict._write_shard = _held
    main(["predict"] + sys.argv[1:])
