"""Serve the decoders online (Ray Serve): the HTTP JSON API and the browser demo at its root.

    python jobs/serve.py --config configs/serve_en.yaml                 # http://127.0.0.1:8000
    python jobs/serve.py --config configs/serve_en.yaml replicas=2 port=8080

It runs until interrupted (Ctrl-C), like `serve run`. On a cluster, submit it as a job with
host=0.0.0.0 (README, "Decode online").
"""

import time

from swipe.cli import parse_job_args
from swipe.serve.app import start
from swipe.serve.service import ServeConfig

if __name__ == "__main__":
    cfg = parse_job_args(ServeConfig, __doc__)
    url = start(cfg)
    print(f"serving {', '.join(cfg.models)} at {url}/  (API: {url}/api/options; Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        from ray import serve

        serve.shutdown()
