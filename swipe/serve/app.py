"""The Ray Serve deployment: the HTTP JSON API and the browser demo, over OnlineDecoder.

```
GET    /                          the demo page (static/index.html, plain HTML + JS)
GET    /api/options               models, decoders, layouts, defaults and limits
GET    /api/layouts/{name}        one layout's grid (what the demo draws)
POST   /api/decode                {x, y, t, layout: name | grid, model?, decoder?, beam_size?,
                                   top_k?, user?, attention?} → candidates with scores and
                                   each letter's attention over the points
GET    /api/users/{user}/words    that user's words
POST   /api/users/{user}/words    {words: [...]}: added (all or none), decoded at once
DELETE /api/users/{user}/words    {words: [...]}: removed
```

Refused requests get a 4xx status and {"detail": "why"}. Each replica loads its models once;
replicas share the node's lexicon (swipe.serve.service.shared_lexicon) and the users' store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, Header, Request
from fastapi.responses import FileResponse, JSONResponse
from ray import serve

from swipe.serve.service import OnlineDecoder, ServeConfig
from swipe.serve.users import RequestError

STATIC = Path(__file__).parent / "static"
api = FastAPI(title="swipe", description="gesture-keyboard decoding")


@api.exception_handler(RequestError)
def _refused(_request: Any, e: RequestError) -> JSONResponse:
    return JSONResponse({"detail": str(e)}, status_code=e.status)


LIMITS: dict[str, Any] = {"max_body_bytes": 1_000_000}  # the replica's ServeConfig's, set as it starts


@api.middleware("http")
async def _bounded_body(request: Request, call_next: Any) -> Any:
    """A body over max_body_bytes is refused before it is read (413); one of unknown length
    (chunked) too (411): the size is known before any parsing."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        length = request.headers.get("content-length")
        if length is None and request.headers.get("transfer-encoding"):
            return JSONResponse({"detail": "send a Content-Length (chunked bodies are refused)"}, status_code=411)
        if length is not None and (not length.isdigit() or int(length) > LIMITS["max_body_bytes"]):
            return JSONResponse({"detail": f"the body is {length} bytes; at most {LIMITS['max_body_bytes']}"},
                                status_code=413)
    return await call_next(request)


def _words(body: Any) -> list:
    """The word list of a users/words body. (Defined before the class: Serve's ingress copies the
    class with the module globals it sees at decoration.)"""
    if not isinstance(body, dict) or "words" not in body:
        raise RequestError(400, "the body must be a JSON object {\"words\": [...]}")
    return body["words"]


@serve.deployment(name="SwipeDecoder", max_ongoing_requests=8, max_queued_requests=64, health_check_period_s=5)
@serve.ingress(api)
class SwipeService:
    """One replica: an OnlineDecoder behind the routes above."""

    def __init__(self, cfg: ServeConfig, settings: Any, layouts_json: dict[str, Any]):
        from swipe.console import quiet

        quiet()  # the replica's edge (swipe.console)
        LIMITS["max_body_bytes"] = cfg.max_body_bytes
        self.decoder = OnlineDecoder(cfg, settings, layouts_json)

    @api.get("/")
    def page(self) -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @api.get("/demo.js")
    def script(self) -> FileResponse:
        return FileResponse(STATIC / "demo.js", media_type="text/javascript")

    @api.get("/api/options")
    def options(self) -> dict:
        return self.decoder.options()

    @api.get("/api/layouts/{name}")
    def layout(self, name: str) -> dict:
        return self.decoder.layout(name)

    @api.post("/api/decode")
    def decode(self, body: Any = Body(...)) -> dict:
        return self.decoder.decode(body)

    @api.get("/api/users/{user}/words")
    def user_words(self, user: str, authorization: str | None = Header(None)) -> dict:
        self.decoder.may_touch_words(authorization)
        return {"user": user, "words": self.decoder.users.words(user)}

    @api.post("/api/users/{user}/words")
    def add_words(self, user: str, body: Any = Body(...), authorization: str | None = Header(None)) -> dict:
        self.decoder.may_touch_words(authorization)
        return self.decoder.users.add(user, _words(body))

    @api.delete("/api/users/{user}/words")
    def remove_words(self, user: str, body: Any = Body(...), authorization: str | None = Header(None)) -> dict:
        self.decoder.may_touch_words(authorization)
        return self.decoder.users.remove(user, _words(body))


def build_app(cfg: ServeConfig, settings: Any, layouts_json: dict[str, Any]) -> serve.Application:
    """The application: `cfg.replicas` replicas of `cfg.cpus_per_replica` CPUs each."""
    return SwipeService.options(num_replicas=cfg.replicas, max_queued_requests=cfg.max_queued_requests,
                                ray_actor_options={"num_cpus": cfg.cpus_per_replica}).bind(cfg, settings, layouts_json)


def start(cfg: ServeConfig, name: str = "swipe", blocking: bool = False) -> str:
    """Run the application on this Ray (started locally if none), serving HTTP on cfg.host:cfg.port;
    returns its base URL. Paths in cfg are resolved against the working directory first."""
    from swipe.cluster.session import ensure_ray
    from swipe.serve.service import load_offer, resolve_paths

    ensure_ray(cfg.num_cpus)
    cfg = resolve_paths(cfg)
    settings, layouts = load_offer(cfg)
    serve.start(http_options={"host": cfg.host, "port": cfg.port, "request_timeout_s": cfg.request_timeout_s})
    serve.run(build_app(cfg, settings, layouts), name=name, route_prefix="/", blocking=blocking)
    return f"http://{'127.0.0.1' if cfg.host == '0.0.0.0' else cfg.host}:{cfg.port}"
