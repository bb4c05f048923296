"""A fuzzer for the ways in: damaged JSONL lines, How We Swipe log lines, requests and inline
layouts, drawn by Hypothesis. Whatever it draws, an import accounts for every line (kept, or
quarantined with a reason) without raising, and the online decoder answers every request
with a result or a 4xx (`RequestError`), never anything else.

`swipe bench fuzz` runs it at scale; `tests/test_fuzz.py` runs a short version.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from swipe.data.checks import ValidationConfig, validate
from swipe.data.importers.howweswipe import HEADER, parse_swipelog
from swipe.data.importers.yandex import parse_yandex_lines
from swipe.serve.users import RequestError

MAX_REQUEST_MS = 2000.0  # the documented bound on one request's time (2 CPU cores, fused decoding)

# any JSON value, numbers at their extremes included (json.dumps writes NaN and Infinity too)
SCALARS = (st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.text(max_size=12)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from([1e300, -1e300, 3.5e38, 1e-320, 0.0, -1, 31, 32, 2**31, "", "en-small", "a\n"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=5), max_leaves=20)


def _paths(obj: Any, at: tuple = ()) -> list[tuple]:
    """Every place in a JSON object that a damage can hit."""
    out = [at]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, at + (k,))
    elif isinstance(obj, list) and obj:
        out += _paths(obj[0], at + (0,))
    return out


def _set(obj: Any, path: tuple, value: Any, delete: bool) -> Any:
    if not path:
        return value
    obj = json.loads(json.dumps(obj))
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    if delete and isinstance(parent, dict):
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    return obj


@st.composite
def damaged(draw: Any, good: dict) -> Any:
    """`good` with one to three places replaced by any JSON value, or deleted."""
    obj = good
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(obj)
        obj = _set(obj, draw(st.sampled_from(paths)), draw(JSON), draw(st.booleans()))
    return obj


@st.composite
def jsonl_line(draw: Any, good: list[dict]) -> str:
    """A Yandex Cup / How We Swipe JSONL line: good, damaged, or not JSON at all."""
    kind = draw(st.sampled_from(["good", "damaged", "damaged", "text", "cut"]))
    rec = draw(st.sampled_from(good))
    if kind == "good":
        return json.dumps(rec)
    if kind == "text":
        return draw(st.text(max_size=60)).replace("\n", " ")
    line = json.dumps(draw(damaged(rec)), allow_nan=True)
    return line[: draw(st.integers(0, len(line)))] if kind == "cut" else line


@st.composite
def swipelog(draw: Any) -> str:
    """A How We Swipe swipelog: a header, then event lines, some of them damaged."""
    lines = [" ".join(HEADER)]
    t = 1582607060551
    for _ in range(draw(st.integers(0, 4))):  # swipes
        word = draw(st.sampled_from(["we", "are", "the", "cold", "front"]))
        w, h = draw(st.sampled_from([(360, 197), (411, 250), (0, 197), (-5, 3), (360, 0)]))
        events = ["touchstart"] + ["touchmove"] * draw(st.integers(0, 5)) + ["touchend"]
        for ev in events:
            t += draw(st.integers(-20, 40))
            fields = ["we_are_the_cold_front", str(t), str(w), str(h), ev, str(draw(st.integers(-50, 500))),
                      str(draw(st.integers(-50, 300))), "0.1", "0.1", "0", word, draw(st.sampled_from(["0", "1"]))]
            if draw(st.integers(0, 9)) == 0:  # a damaged field
                fields[draw(st.integers(0, len(fields) - 1))] = draw(st.text(max_size=6)).replace("\n", " ") or "x"
            if draw(st.integers(0, 19)) == 0:
                fields = fields[: draw(st.integers(0, len(fields)))]
            lines.append(" ".join(fields))
    return "\n".join(lines)


@dataclass
class FuzzResult:
    lines_tried: int = 0
    jobs_aborted: int = 0  # an import that raised
    rows_lost: int = 0  # lines in − (kept + rejected)
    requests_tried: int = 0
    server_errors: int = 0  # anything but a result or a RequestError (a 5xx over HTTP)
    max_request_ms: float = 0.0
    http_requests: int = 0  # of requests_tried, sent over HTTP to the Serve app
    http_status: Counter = field(default_factory=Counter)  # their status codes
    kinds: Counter = field(default_factory=Counter)  # requests by what they exercise (decoder, personal, …)
    examples: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {"lines_tried": self.lines_tried, "jobs_aborted": self.jobs_aborted, "rows_lost": self.rows_lost,
                "requests_tried": self.requests_tried, "server_errors": self.server_errors,
                "http_requests": self.http_requests, "http_status": dict(sorted(self.http_status.items())),
                "kinds": dict(sorted(self.kinds.items())),
                "max_request_ms": round(self.max_request_ms, 1), "max_request_ms_bound": MAX_REQUEST_MS}

    def note(self, what: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(what[:300])


def fuzz_imports(result: FuzzResult, good: list[dict], layouts: dict, alphabet: str, examples: int,
                 rng_seed: int = 0) -> None:
    """`examples` batches of 1-8 JSONL lines, and as many swipelogs, through parse + validate."""

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(jsonl_line(good), min_size=1, max_size=8), swipelog())
    def one(lines: list[str], log: str) -> None:
        result.lines_tried += len(lines) + max(0, len(log.splitlines()) - 1)
        try:
            batch, rejects, inline = parse_yandex_lines([ln.encode() for ln in lines], 0, layouts, "fuzz")
            checked = validate(batch, {**layouts, **inline}, alphabet, ValidationConfig())
            kept = len(checked.kept)
            if kept + len(rejects) + len(checked.rejects) != len(lines):
                result.rows_lost += abs(len(lines) - kept - len(rejects) - len(checked.rejects))
                result.note(f"lost rows of {lines!r}")
            batch, rejects, hws_layouts = parse_swipelog(log, "fuzz-user")
            validate(batch, hws_layouts, alphabet, ValidationConfig())
        except Exception as e:  # noqa: BLE001 — what the fuzzer counts
            result.jobs_aborted += 1
            result.note(f"{type(e).__name__}: {e} for {lines!r} / {log!r}")

    seed(rng_seed)(one)()  # reproducible runs


def fuzz_requests(result: FuzzResult, service: Any, good: list[dict], examples: int, rng_seed: int = 0,
                  url: str | None = None, http_share: float = 0.0) -> None:
    """`examples` requests through the online decoder: good swipes for every decoder, damaged;
    inline layouts, some without keys for letters of the alphabet; a user's words drawn from
    the whole alphabet (apostrophes included), added and then swiped over the keys they have.
    With `url` (the same models' Serve app), a share `http_share` goes over HTTP, its status
    codes counted (a 5xx is a server error)."""
    from swipe.decode.decoders import DECODERS
    from swipe.keyboard import parse_layout
    from tests.support.swipes import ideal_swipe

    name = next(iter(service.layout_json))
    grid = service.layout_json[name]
    gone = set("qzx'")  # a keyboard of the same size without these letters
    sparse = {**grid, "keys": [k for k in grid["keys"] if k.get("label") not in gone]}
    boards = {name: parse_layout(name, grid), "sparse": parse_layout("sparse", sparse)}
    tiny = {"width": 100, "height": 40, "keys": [{"label": c, "hitbox": {"x": 10 * i, "y": 0, "w": 10, "h": 40}}
                                                 for i, c in enumerate("qwertyuiop")]}
    full = {"model": next(iter(service.decoders)), "beam_size": 6, "top_k": 4, "user": "fuzz",
            "attention": True}  # every field a request may carry, so that each can be damaged
    bases = [*({**g, **full, "decoder": d} for g in good for d in DECODERS),
             *({**good[0], **full, "layout": lay, "decoder": d} for lay in (tiny, sparse) for d in ("fused", "beam")),
             {"words": ["hello"]}]
    word = st.text(alphabet=service.alphabet.chars, min_size=1, max_size=10)

    @st.composite
    def personal(draw: Any) -> tuple[list[str], dict]:
        """Words of the whole alphabet for user "fuzz", and a swipe over one of them."""
        words = draw(st.lists(word, min_size=1, max_size=3))
        board = draw(st.sampled_from(sorted(boards)))
        keyed = [c for c in words[0] if c in boards[board].letters] or ["a"]
        req = ideal_swipe(boards[board], "".join(keyed)) | full | {
            "decoder": draw(st.sampled_from(["fused", "template", "beam"])),
            "layout": sparse if board == "sparse" else board}
        return words, req

    request = st.sampled_from(bases).flatmap(lambda b: st.one_of(st.just(b), damaged(b)))
    action = st.one_of(st.tuples(st.just("request"), request), st.tuples(st.just("personal"), personal()),
                       st.tuples(st.just("words"), request))

    def send(path: str, body: Any) -> tuple[int, Any]:
        """POST over HTTP: the status and the reply."""
        import urllib.error
        import urllib.request

        data = json.dumps(body, allow_nan=True).encode()
        req = urllib.request.Request(url + path, data, {"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, e.read()[:200]

    def decode(req: Any, http: bool) -> None:
        if http:
            status, out = send("/api/decode", req)
            result.http_status[status] += 1
            if status >= 500:
                raise RuntimeError(f"HTTP {status}: {out!r}")
            return
        json.dumps(service.decode(req), allow_nan=False)  # what goes back is JSON

    def add(words: Any, http: bool) -> None:
        if http:
            status, out = send("/api/users/fuzz/words", {"words": words})
            result.http_status[status] += 1
            if status >= 500:
                raise RuntimeError(f"HTTP {status}: {out!r}")
            return
        service.users.add("fuzz", words)

    every = max(1, round(1 / http_share)) if url is not None and http_share > 0 else 0

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(action)
    def one(act: tuple[str, Any]) -> None:
        what, req = act
        http = every > 0 and result.requests_tried % every == 0  # every k-th request, k = 1 / http_share
        result.requests_tried += 1
        result.http_requests += http
        body = req[1] if what == "personal" else req
        kind = body.get("decoder") if isinstance(body, dict) and isinstance(body.get("decoder"), str) else "damaged"
        result.kinds[f"{what}:{kind}" if what != "words" else what] += 1
        t0 = time.perf_counter()
        try:
            if what == "words":
                add(req.get("words", req.get("x")) if isinstance(req, dict) else req, http)
            elif what == "personal":
                words, swipe = req
                result.kinds["apostrophe"] += any("'" in w for w in words)
                try:
                    add(words, http)
                except RequestError:  # refused (the user's limit): the swipe is decoded all the same
                    pass
                decode(swipe, http)
            else:
                decode(req, http)
        except RequestError as e:
            if not 400 <= e.status < 500:
                result.server_errors += 1
                result.note(f"status {e.status}: {e}")
        except Exception as e:  # noqa: BLE001 — a 5xx over HTTP
            result.server_errors += 1
            result.note(f"{type(e).__name__}: {e} for {json.dumps(req, allow_nan=True, default=str)[:200]}")
        ms = 1000 * (time.perf_counter() - t0)
        if math.isfinite(ms):
            result.max_request_ms = max(result.max_request_ms, ms)

    seed(rng_seed)(one)()
