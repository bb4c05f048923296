"""A local S3-protocol server (moto) with a bucket `swipe`, to try object storage with no cloud
account: every job reads and writes `s3://swipe/…` once the printed variables are exported.

    python jobs/s3_local.py --port 9000 &
    export AWS_ENDPOINT_URL=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
"""

import argparse
import threading

from swipe.testing.s3 import LocalS3, s3_env

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--bucket", action="append", default=None, help="buckets to make (default: swipe)")
    args = p.parse_args()
    with LocalS3(args.port, tuple(args.bucket or ["swipe"])):
        print("export " + " ".join(f"{k}={v}" for k, v in s3_env(args.port).items()), flush=True)
        threading.Event().wait()  # until interrupted
