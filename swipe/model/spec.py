"""What a model reads, owned by the model: the input specification.

Training builds an `InputSpec` from its config and saves it in every checkpoint's model.json
(and every export's JSON). Every other path (validation, batch prediction, the fused decoder,
calibration and tuning, reports, serving, ONNX and ExecuTorch) reads it back from the model,
so no caller's config can feed the network swipes it was not trained on. An override is
explicit (`PredictConfig.points` / `.lexicon`) and recorded where its results are.

- points: how a swipe's points are chosen (the count and the rule);
- repairs: what is done to raw points first (repeated timestamps dropped, t from 0);
- lexicon: the words a decoder may return (and their frequencies, the beam's prior).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

import numpy as np

from swipe.config import build_config, config_to_dict
from swipe.lexicon import LexiconConfig

PointRule = Literal["index", "time", "arclength"]
SPEC_KEY = "input_spec"  # its key in model.json and in an export's JSON


@dataclass(frozen=True)
class PointSpec:
    """Which points of a swipe the model reads."""

    max_points: int = 128  # at most this many points reach the model (real median: ~51 points)
    # index: a longer swipe is subsampled by index (first and last point kept) — depends on the
    #   device's sampling rate; time: resampled at rate_hz by linear interpolation (then by index
    #   if still longer); arclength: exactly max_points points evenly spaced along the path
    rule: PointRule = "index"
    # time: the fixed rate; every rule: the rate clients are asked to send points at (the demo
    # thins pointer events to it), that of the training swipes (How We Swipe's phones log ~60 Hz)
    rate_hz: float = 60.0

    def __post_init__(self) -> None:
        if self.rule not in get_args(PointRule):
            raise ValueError(f"points.rule {self.rule!r} is not one of {get_args(PointRule)}")
        if self.max_points < 2 or not self.rate_hz > 0:
            raise ValueError(f"points: max_points must be ≥ 2 and rate_hz > 0, not {self.max_points}, {self.rate_hz}")

    def tag(self) -> str:
        """Short and unique: `index64`, `time60hz64`, `arclength64`."""
        rate = f"{self.rate_hz:g}hz" if self.rule == "time" else ""
        return f"{self.rule}{rate}{self.max_points}"


@dataclass(frozen=True)
class RepairSpec:
    """What is done to raw points before they are chosen (imports do the same)."""

    drop_duplicate_times: bool = True  # a point with its predecessor's timestamp is dropped
    t_from_zero: bool = True  # t is shifted to start at 0, in float64 where the caller's t is (raw epoch ms
    # from requests and the exported runtimes' callers survive; stored shards already start at 0 in float32)


@dataclass(frozen=True)
class InputSpec:
    """Everything that decides what the network sees and which words a decoder may return."""

    points: PointSpec = field(default_factory=PointSpec)
    repairs: RepairSpec = field(default_factory=RepairSpec)
    lexicon: LexiconConfig = field(default_factory=LexiconConfig)

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    def digest(self) -> str:
        """8 hex digits that change with any setting (prediction folders and table keys)."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]

    def tag(self) -> str:
        return f"{self.points.tag()}-{self.digest()}"

    def differences(self, other: "InputSpec") -> list[str]:
        """`key: mine → other's` for every setting that differs."""
        a, b = _flat(self.to_dict()), _flat(other.to_dict())
        return [f"{k}: {a.get(k)!r} → {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]

    def with_overrides(self, points: dict[str, Any], lexicon: dict[str, Any]) -> "InputSpec":
        """This spec with some settings overridden, the others kept (keys checked)."""
        return replace(self, points=build_config(PointSpec, config_to_dict(self.points) | points, "points."),
                       lexicon=build_config(LexiconConfig, config_to_dict(self.lexicon) | lexicon, "lexicon."))


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[prefix + k] = v
    return out


def spec_from_dict(values: dict[str, Any]) -> InputSpec:
    return build_config(InputSpec, values, "input_spec.")


def load_spec(meta: dict[str, Any], where: str = "the checkpoint") -> InputSpec:
    """The spec saved in a model.json (or an export's JSON); a model without one is refused."""
    if SPEC_KEY not in meta:
        raise ValueError(f"{where} has no {SPEC_KEY}: it was saved before models carried what they read. "
                         f"Add it from its training config: swipe dev ship add_spec=true run=CHECKPOINT out=NEW_FOLDER")
    return spec_from_dict(meta[SPEC_KEY])


def spec_from_training(record: dict[str, Any]) -> InputSpec:
    """The spec a checkpoint's recorded training config implies (checkpoints saved before the
    spec: their data.max_points and index subsampling, the lexicon they decoded within
    widened to the prediction lexicon of its language, imports' repairs)."""
    cfg = record["config"]
    data, lex = cfg.get("data", {}), cfg.get("lexicon") or {}
    return InputSpec(PointSpec(max_points=int(data.get("max_points", PointSpec.max_points)), rule=data.get("point_rule", "index"),
                               rate_hz=float(data.get("rate_hz", 60.0))),
                     RepairSpec(), build_config(LexiconConfig, lex | {"top_n": None}, "lexicon."))


# ----------------------------------------------------------------------------- applying it
def repair_points(x: np.ndarray, y: np.ndarray, t: np.ndarray, offsets: np.ndarray, spec: RepairSpec
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flat ragged points → the same, repaired: repeated timestamps dropped, t from 0 (float64)."""
    t = np.asarray(t, np.float64)
    lens = np.diff(offsets)
    rows = np.repeat(np.arange(len(lens)), lens)
    if spec.drop_duplicate_times and len(t) > 1:
        keep = np.ones(len(t), bool)
        keep[1:] = ~((rows[1:] == rows[:-1]) & (np.diff(t) == 0))
        if not keep.all():
            x, y, t, rows = x[keep], y[keep], t[keep], rows[keep]
            lens = np.bincount(rows, minlength=len(lens))
            offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    if spec.t_from_zero and len(t):
        t = t - t[offsets[:-1][lens > 0]][np.repeat(np.arange((lens > 0).sum()), lens[lens > 0])]
    return x, y, t, offsets


def select_points(x: np.ndarray, y: np.ndarray, t: np.ndarray, offsets: np.ndarray, spec: PointSpec
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flat ragged points → at most spec.max_points per swipe, by the spec's rule (time: the
    swipe's first and last point kept, the rate kept unless the swipe is longer than
    max_points at it, when the step grows to fit)."""
    if spec.rule != "index":
        xs, ys, ts = [], [], []
        for s, e in zip(offsets[:-1], offsets[1:]):
            px, py, pt = _resample(np.asarray(x[s:e], np.float64), np.asarray(y[s:e], np.float64),
                                   np.asarray(t[s:e], np.float64), spec)
            xs.append(px), ys.append(py), ts.append(pt)
        lens = np.array([len(v) for v in xs], np.int64)
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        cat = lambda vs: np.concatenate(vs) if vs else np.zeros(0)  # noqa: E731
        x, y, t = cat(xs), cat(ys), cat(ts)
    return _index_subsample(x, y, t, offsets, spec.max_points)


def _resample(x: np.ndarray, y: np.ndarray, t: np.ndarray, spec: PointSpec) -> tuple[np.ndarray, ...]:
    """One swipe resampled at a fixed time step or evenly along its path (linear interpolation)."""
    if len(x) < 2:
        return x, y, t
    if spec.rule == "time":
        if not (np.all(np.isfinite(t)) and np.all(np.diff(t) > 0)):
            raise ValueError("the time rule needs finite, increasing timestamps (repairs drop repeated ones)")
        # a fixed step; a swipe too long for max_points at that rate gets the finer step that fits
        step = max(1000.0 / spec.rate_hz, (t[-1] - t[0]) / (spec.max_points - 1))
        at = np.arange(t[0], t[-1], step)
        if len(at) > 1 and t[-1] - at[-1] < step / 2:  # the last point replaces a grid point just before it
            # (never the first: a swipe shorter than half a step keeps its first and last point)
            at[-1] = t[-1]
        else:
            at = np.append(at, t[-1])
        return np.interp(at, t, x), np.interp(at, t, y), at
    d = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])  # arc length at each point
    if d[-1] <= 0:  # a tap: the path has no length
        d = np.linspace(0.0, 1.0, len(x))
    at = np.linspace(0.0, d[-1], spec.max_points)
    keep = np.concatenate([[True], np.diff(d) > 0])  # np.interp needs increasing abscissae
    return np.interp(at, d[keep], x[keep]), np.interp(at, d[keep], y[keep]), np.interp(at, d[keep], t[keep])


def _index_subsample(x: np.ndarray, y: np.ndarray, t: np.ndarray, offsets: np.ndarray, max_points: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Swipes longer than max_points subsampled uniformly by index (first and last kept)."""
    lens = np.diff(offsets)
    keep_n = np.minimum(lens, max_points)
    rows = np.repeat(np.arange(len(lens)), keep_n)
    col = np.arange(keep_n.sum()) - np.repeat(np.cumsum(keep_n) - keep_n, keep_n)
    src = offsets[:-1][rows] + np.round(col * (lens[rows] - 1) / np.maximum(keep_n[rows] - 1, 1)).astype(np.int64)
    return x[src], y[src], t[src], np.concatenate([[0], np.cumsum(keep_n)]).astype(np.int64)
