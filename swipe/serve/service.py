"""The online decoder: one swipe in, ranked words with their attention maps out. Plain Python.

A replica of the Ray Serve deployment (swipe.serve.app) holds one `OnlineDecoder`: every
configured model loaded once, the shared lexicon mapped from this node's cache (one copy
per node, in the page cache, whichever replica made it), and the users' own words
(swipe.serve.users). Decoding goes through swipe.decode.decoders.SwipeDecoder, the code
batch prediction runs, so a swipe gets the same words online and offline.

Requests are plain dicts (the HTTP JSON bodies); what cannot be decoded raises
RequestError with a 4xx status and a message that says why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from swipe import storage
from swipe.data.checks import ValidationConfig, validate
from swipe.data.swipes import SwipeBatch
from swipe.decode.decoders import DECODERS, Lexicon, SwipeDecoder
from swipe.decode.network import Encoded
from swipe.decode.template import TemplateIndex
from swipe.keyboard import Layout, LayoutError, parse_layout, parse_layouts
from swipe.lexicon import Alphabet, LexiconConfig, Trie, build_lexicon_trie
from swipe.serve.users import RequestError, UserWords, UserWordsConfig

INPUT_CHECKS = ValidationConfig(require_word=False)


@dataclass(frozen=True)
class ServeConfig:
    """What the service offers and how it runs (`swipe serve`; configs/serve_en.yaml)."""

    models: dict[str, str] = field(default_factory=lambda: {"en-small": "models/en-small"})  # name → checkpoint
    # or run (folder or URI); the first is the default
    decode: str = "configs/decode_en.yaml"  # a prediction config: its lexicon, beam, template and fused settings
    # layouts files: the keyboards requests may name (inline layouts are accepted too)
    layouts: tuple[str, ...] = ("data/layouts/qwerty_english.json", "data/layouts/howweswipe_devices.json")
    users: UserWordsConfig = field(default_factory=UserWordsConfig)
    replicas: int = 1  # Serve replicas of the decoder
    cpus_per_replica: float = 1.0  # CPUs each replica holds
    host: str = "127.0.0.1"  # 0.0.0.0 on a cluster's head, to be reached from outside
    port: int = 8000  # the HTTP port (host: the address)
    max_points: int = 4000  # per request (each model reads its own input spec's choice of them)
    max_top_k: int = 16  # the most candidates a request may ask for
    max_beam: int = 32  # the largest beam a request may ask for
    max_inline_layouts: int = 32  # inline layouts a replica keeps (the oldest is forgotten first)
    max_layout_keys: int = 200  # keys of an inline layout (a phone keyboard has about 30-100)
    max_body_bytes: int = 1_000_000  # a request body (4 000 points of x, y, t is about 150 kB of JSON)
    request_timeout_s: float = 30.0  # Serve's HTTP proxy answers 408 after this
    max_queued_requests: int = 64  # per deployment, beyond max_ongoing_requests: then 503, not an unbounded queue
    write_token: str = ""  # when set, adding or removing words needs the header "Authorization: Bearer TOKEN"
    backend: str = "onnxruntime"  # or torch: onnxruntime runs each model exported once per node (the same words)
    precision: str = "fp32"  # of the exported weights (onnxruntime): fp32 or int8
    num_cpus: int | None = None  # size of a local Ray (ignored on a cluster)


def shared_lexicon(cfg: LexiconConfig, alphabet: Alphabet) -> Lexicon:
    """The lexicon's trie and template index, built once per node into the cache as .npy files
    and memory-mapped read-only: the replicas of a node share one copy of its pages. Kept by
    what makes it: the config, the alphabet, and the word list's contents (a file's bytes; the
    wordfreq package's version)."""
    from swipe.config import config_to_dict
    from swipe.data.dataset import sha256_file

    made_from = (f"wordfreq {version('wordfreq')}" if cfg.source != "file"
                 else sha256_file(cfg.path) if cfg.path else "")  # (no path: the build says what is missing)
    key = hashlib.sha256(json.dumps([config_to_dict(cfg), alphabet.chars, made_from]).encode()).hexdigest()[:16]
    index_arrays = ("tokens", "lengths", "logfreq", "group_start", "group_words")

    def make(folder: Path) -> None:
        trie = build_lexicon_trie(cfg, alphabet)
        index = TemplateIndex.build(trie)
        for a in Trie.ARRAYS:
            np.save(folder / f"trie.{a}.npy", getattr(trie, a))
        for a in index_arrays:
            np.save(folder / f"index.{a}.npy", getattr(index, a))

    folder = storage.cached_folder(f"lexicon-{key}", make)
    load = lambda name: np.load(folder / f"{name}.npy", mmap_mode="r")  # noqa: E731
    trie = Trie(alphabet, **{a: load(f"trie.{a}") for a in Trie.ARRAYS})
    return Lexicon(trie, TemplateIndex(alphabet, **{a: load(f"index.{a}") for a in index_arrays}))


def exported_model(checkpoint: Path) -> Path:
    """The checkpoint's ONNX export (swipe.export.onnx: fp32 and int8 graphs), made once per node
    into the cache and kept by what makes it: the checkpoint's content and the code that exports
    it (`export_code_version`). Replicas of a node share it, whatever their precision; a new
    model, or new export or network code, is exported anew."""
    from swipe.export.onnx import export_code_version, export_onnx
    from swipe.export.runtime import EXPORT_FORMAT
    from swipe.model.checkpoint import META_FILE, MODEL_FILE

    digest = hashlib.sha256(export_code_version().encode())
    for name in (MODEL_FILE, META_FILE):
        digest.update((checkpoint / name).read_bytes())
    name = f"export-{digest.hexdigest()[:16]}-v{EXPORT_FORMAT}-fp32-int8"  # an older format: anew
    return storage.cached_folder(name, lambda folder: export_onnx(checkpoint, folder, int8=True))


class OnlineDecoder:
    """Every model, the shared lexicon, the users' words; `decode` serves one swipe."""

    def __init__(self, cfg: ServeConfig, decode: Any, layouts_json: dict[str, Any]):
        """`decode`: the loaded PredictConfig; `layouts_json`: the layouts on offer (name → grid);
        model paths already resolved by the caller (absolute, or URIs)."""
        import torch

        from swipe.model.checkpoint import lexicon_alphabet, load_meta, load_model, resolve_checkpoint

        if cfg.backend not in ("onnxruntime", "torch") or cfg.precision not in ("fp32", "int8"):
            raise ValueError(f"backend {cfg.backend!r} / precision {cfg.precision!r}: choose onnxruntime or torch, "
                             "fp32 or int8")
        torch.set_num_threads(1)
        self.cfg, self.settings = cfg, decode
        self.layouts = parse_layouts(layouts_json)
        self.layout_json = layouts_json
        self.inline: dict[str, Layout] = {}
        self.decoders: dict[str, SwipeDecoder] = {}
        self.info: dict[str, dict] = {}
        from swipe.evaluate.predict import resolve_spec

        alphabets, lexicons = set(), {}
        for name, path in cfg.models.items():
            local = resolve_checkpoint(path)
            meta = load_meta(local)
            alphabet = Alphabet(meta["alphabet"])
            # the lexicon's: a key-head model also spells its layouts' letters that its alphabet lacks
            alphabets.add(lexicon_alphabet(meta, "".join(lay.letters for lay in self.layouts.values())).chars)
            spec, overrides = resolve_spec(meta, decode, name)  # the model's own inputs, or the decode config's override
            lexicons[name] = spec.lexicon
            model, _ = load_model(local, "cpu", self.layouts)
            parameters = sum(p.numel() for p in model.parameters())
            if cfg.backend == "onnxruntime":
                from swipe.export.runtime import OnnxModel

                model = OnnxModel(exported_model(Path(local)), cfg.precision)
                model.spec = spec  # (the override, where the decode config makes one)
            self.decoders[name] = SwipeDecoder(model, alphabet, self.layouts, decode.template, decode.fused,
                                               spec, decode.decode_batch, decode.ctc)
            self.info[name] = {"name": name, "checkpoint": path, "step": meta.get("step"),
                               "head": meta["model"].get("head", "ar"),
                               "parameters": parameters, "backend": cfg.backend,
                               "trained_on": (meta.get("train") or {}).get("dataset"),
                               "input_spec": spec.tag(), "spec_overrides": overrides,
                               "sample_hz": spec.points.rate_hz}  # the rate a client sends this model points at
        if len(alphabets) != 1:
            raise ValueError(f"the models' alphabets differ ({sorted(alphabets)}): one lexicon cannot serve them all")
        if len(set(lexicons.values())) != 1:
            raise ValueError(f"the models' lexicons differ ({lexicons}): one lexicon cannot serve them all "
                             "(set one with the decode config's lexicon:, an override)")
        self.alphabet = Alphabet(alphabets.pop())
        self.lexicon = shared_lexicon(next(iter(lexicons.values())), self.alphabet)
        max_len = min(d.net.max_word_len for d in self.decoders.values())
        self.users = UserWords(cfg.users, self.alphabet, max_len, self.lexicon.trie)
        self.default_model = next(iter(cfg.models))
        # a beam holds at most one hypothesis per token at its first step (beyond the alphabet it crashed)
        self.max_beam = min(cfg.max_beam, self.alphabet.size)
        self._lock = threading.Lock()  # one decode at a time per replica: models' key tables are shared state

    # ---- what is on offer
    def options(self) -> dict:
        return {"models": list(self.info.values()), "default_model": self.default_model,
                # the default model's: ctc only with a key head
                "decoders": [d for d in DECODERS if d != "ctc" or self.decoders[self.default_model].net.head != "ar"],
                "default_decoder": self.settings.decoder,
                "layouts": sorted(self.layouts), "default_layout": next(iter(self.layouts)),
                "beam_size": self.settings.beam.beam_size,
                "top_k": self.decoders[self.default_model].top_k(self.settings.decoder, self.settings.beam),
                "lexicon_words": self.lexicon.trie.n_words,
                "limits": {"max_points": self.cfg.max_points, "max_top_k": self.cfg.max_top_k,
                           "max_beam": self.max_beam, "max_user_words": self.cfg.users.max_words}}

    def may_touch_words(self, authorization: str | None) -> None:
        """With `write_token` set, the word endpoints need "Authorization: Bearer TOKEN"; without
        it they are open to anyone who reaches the service (the README says so)."""
        token = self.cfg.write_token
        if token and not hmac.compare_digest(authorization or "", f"Bearer {token}"):
            raise RequestError(401, "the word endpoints need the header 'Authorization: Bearer <write_token>'")

    def layout(self, name: str) -> dict:
        if name not in self.layouts:
            raise RequestError(404, f"no layout {name!r}; GET /api/options lists them")
        return self.layout_json[name]

    # ---- decoding
    def _layout_of(self, req: dict) -> tuple[str, Layout]:
        spec = req.get("layout", next(iter(self.layouts)))
        if isinstance(spec, str):
            if spec not in self.layouts:
                raise RequestError(404, f"no layout {spec!r}; send a layout name from GET /api/options or an inline "
                                        f"grid object")
            return spec, self.layouts[spec]
        if not isinstance(spec, dict):
            raise RequestError(400, "'layout' must be a layout name or a grid object {width, height, keys}")
        keys = spec.get("keys")
        if isinstance(keys, list) and len(keys) > self.cfg.max_layout_keys:
            raise RequestError(413, f"inline layout has {len(keys)} keys; at most {self.cfg.max_layout_keys}")
        name = "inline-" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        if name in self.inline:
            return name, self.inline[name]
        try:
            layout = parse_layout(name, spec)
        except LayoutError as e:
            raise RequestError(422, f"inline layout refused: {e}") from None
        missing = sorted(set(layout.letters) - set(self.alphabet.chars))
        if missing:
            raise RequestError(422, f"inline layout has letter keys {missing} that the models cannot read")
        return name, replace(layout, grid={})  # the parsed arrays only: not the request's whole JSON

    def _keep_layout(self, name: str, layout: Layout) -> None:
        """Remember an inline layout (under the lock: the models' key tables are shared)."""
        if name in self.inline or name in self.layouts:
            return
        if len(self.inline) >= self.cfg.max_inline_layouts:  # the oldest goes, from every model's keys too
            oldest = next(iter(self.inline))
            del self.inline[oldest]
            for decoder in self.decoders.values():
                decoder.drop_layouts([oldest])
        self.inline[name] = layout

    def _swipe(self, req: dict, name: str, layout: Layout) -> SwipeBatch:
        pts = []
        for axis in ("x", "y", "t"):
            v = req.get(axis)
            if not isinstance(v, list) or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in v):
                raise RequestError(400, f"'{axis}' must be a list of numbers")
            pts.append(v)
        n = len(pts[0])
        if len(pts[1]) != n or len(pts[2]) != n:
            raise RequestError(422, f"x, y and t must have one value per point: got {len(pts[0])}, {len(pts[1])}, "
                                    f"{len(pts[2])}")
        if n > self.cfg.max_points:
            raise RequestError(413, f"{n} points; a swipe may have at most {self.cfg.max_points}")
        if not all(math.isfinite(a) for p in pts for a in p):
            raise RequestError(422, "x, y and t must be finite numbers")
        batch = SwipeBatch.from_lists([0], [None], [name], [pts[0]], [pts[1]], [pts[2]])
        checked = validate(batch, {name: layout}, None, INPUT_CHECKS)
        if len(checked.rejects):
            raise RequestError(422, f"swipe refused: {checked.rejects.reasons[0]} ({checked.rejects.details[0]})")
        return checked.kept

    def _int(self, req: dict, key: str, default: int, low: int, high: int) -> int:
        v = req.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high:
            raise RequestError(400, f"'{key}' must be an integer from {low} to {high}, got {v!r}")
        return v

    def decode(self, req: dict) -> dict:
        """A swipe request → its candidates (word, score, personal, attention per letter)."""
        t0 = time.perf_counter()
        if not isinstance(req, dict):
            raise RequestError(400, "the body must be a JSON object")
        for key in ("model", "decoder", "user"):  # types before lookups: a list here was a 500
            if req.get(key) is not None and not isinstance(req[key], str):
                raise RequestError(400, f"'{key}' must be a string, got {type(req[key]).__name__}")
        model = req.get("model", self.default_model)
        if model not in self.decoders:
            raise RequestError(404, f"no model {model!r}; choose from {sorted(self.decoders)}")
        kind = req.get("decoder", self.settings.decoder)
        if kind not in DECODERS:
            raise RequestError(400, f"no decoder {kind!r}; choose from {list(DECODERS)}")
        beam = replace(self.settings.beam, beam_size=self._int(req, "beam_size", min(self.settings.beam.beam_size,
                                                                                     self.max_beam), 1, self.max_beam))
        decoder = self.decoders[model]
        if kind == "ctc" and decoder.net.head == "ar":
            raise RequestError(400, f"decoder 'ctc' needs a model with a key head; {model!r} has none: "
                                    "use beam, fused or template")
        # each decoder's own top_k (its config's) unless the request names one
        top_k = self._int(req, "top_k", min(decoder.top_k(kind, beam), self.cfg.max_top_k), 1, self.cfg.max_top_k)
        user = req.get("user") or None
        personal = self.users.lexicon(user) if user else None  # validates the name
        name, layout = self._layout_of(req)  # parsed and checked outside the lock
        swipe = self._swipe(req, name, layout)
        with self._lock:  # requests of one replica run in threads; layouts and key tables are shared
            self._keep_layout(name, layout)
            decoder.add_layouts({name: layout})
            enc = decoder.encode(swipe)  # once: the beam, the rescoring and the attention all read it
            found = {w: (s, False) for w, s in decoder.decode_encoded(enc, kind, self.lexicon, beam, top_k)[0]}
            if personal is not None:  # the user's words, decoded by the same decoder over their own small lexicon
                for w, s in decoder.decode_encoded(enc, kind, personal, beam, top_k)[0]:
                    if w not in found or s > found[w][0]:
                        found[w] = (s, True)
            ranked = sorted(found.items(), key=lambda kv: -kv[1][0])[:top_k]
            out = self._with_attention(decoder, enc, [w for w, _ in ranked], req.get("attention", True))
        cands = [{"word": w, "score": round(float(s), 4), "personal": p, **({"attention": a} if a is not None else {})}
                 for (w, (s, p)), a in zip(ranked, out["maps"])]
        return {"model": model, "decoder": kind, "layout": name, "beam_size": beam.beam_size, "user": user,
                "candidates": cands, "points": out["points"], "ms": round(1000 * (time.perf_counter() - t0), 2)}

    def _with_attention(self, decoder: SwipeDecoder, enc: Encoded, words: list[str], wanted: bool) -> dict:
        """Each word's attention (letters × points, 3 decimals) over the points the model read,
        from the swipe's one encoding."""
        n = int(enc.points["mask"][0].sum())
        points = {"x": enc.points["x"][0, :n].tolist(), "y": enc.points["y"][0, :n].tolist()}
        if not wanted or not words or decoder.net.head == "ctc":  # a network without a decoder attends to nothing
            return {"points": points, "maps": [None] * len(words)}
        maps = decoder.attention(enc, 0, words)
        return {"points": points, "maps": [np.round(m, 3).tolist() for m in maps]}


def resolve_paths(cfg: ServeConfig, root: Path | None = None) -> ServeConfig:
    """Local paths made absolute (replicas may run in another working directory); URIs as given."""
    root = root or Path.cwd()
    absolute = lambda p: p if storage.is_uri(p) else str((root / p).resolve())  # noqa: E731
    return replace(cfg, models={k: absolute(v) for k, v in cfg.models.items()}, decode=absolute(cfg.decode),
                   layouts=tuple(absolute(p) for p in cfg.layouts),
                   users=replace(cfg.users, store=absolute(cfg.users.store)))


def load_offer(cfg: ServeConfig) -> tuple[Any, dict[str, Any]]:
    """The decode settings (a PredictConfig) and the layouts on offer (name → grid), read once by the driver."""
    from swipe.config import load_config
    from swipe.evaluate.predict import PredictConfig

    settings = load_config(PredictConfig, cfg.decode)
    layouts: dict[str, Any] = {}
    for path in cfg.layouts:
        layouts.update(json.loads(storage.read_text(path)))
    parse_layouts(layouts)  # a bad file fails here, not in every replica
    return settings, layouts

