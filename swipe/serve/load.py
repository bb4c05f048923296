"""A bounded load test of a running service: N decode requests from C concurrent clients.

Stdlib HTTP only (one connection per client thread, kept alive), so what is measured is the
service, not a client library. Reports requests/s, latency percentiles and every error.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np


@dataclass
class LoadResult:
    requests: int
    errors: int
    error_examples: list[str]
    wall_s: float
    latencies_ms: np.ndarray

    def figures(self) -> dict:
        lat = self.latencies_ms
        return {"requests": self.requests, "errors": self.errors,
                "requests_per_s": round(self.requests / self.wall_s, 1),
                "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
                "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None}


def load_test(url: str, bodies: list[dict], requests: int, concurrency: int) -> LoadResult:
    """POST `requests` bodies (cycling through `bodies`) to url/api/decode from `concurrency` threads."""
    target = urlparse(url)
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            payload = json.dumps(bodies[i % len(bodies)])
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/api/decode", payload, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status == 200
            except OSError as e:  # a dropped connection counts as an error, then reconnect
                ok, data = False, str(e).encode()
                conn.close()
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            ms = 1000 * (time.perf_counter() - t0)
            with lock:
                if ok:
                    lat.append(ms)
                else:
                    errors.append(data[:200].decode("utf-8", "replace"))
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult(requests, len(errors), errors[:5], time.perf_counter() - t0, np.array(lat))
