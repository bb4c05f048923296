"""Keyboard layouts in the Yandex Cup grid format, with vectorised key geometry.

A layout file maps grid names to `{"width", "height", "keys": [{"label" | "action",
"hitbox": {"x", "y", "w", "h"}}]}`. A key with a one-character alphabetic label (or `-`,
`'`) is a *letter* key: it types that character. Other labelled keys (`,` `.` `?`) are
symbol keys, keys with `action` (shift, space, …) are action keys; neither is swiped
through to spell a word. Geometry queries take arbitrary float points (no per-pixel
lookup tables: layouts differ in size) and are vectorised over points.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

KeyKind = Literal["letter", "symbol", "action"]
LETTER_PUNCTUATION = "-'"  # characters that a layout may offer as swipeable letter keys

_CHUNK = 1 << 18  # points per chunk in (N, K) distance computations: bounds memory at ~60 MB


class LayoutError(ValueError):
    """A malformed layout; the message names the grid and the key."""


@dataclass(frozen=True, eq=False)
class Layout:
    """One keyboard grid. Arrays are read-only; coordinates are layout pixels."""

    name: str
    width: float
    height: float
    labels: tuple[str, ...]  # per key: the label, or the action name
    kinds: tuple[KeyKind, ...]
    boxes: np.ndarray  # (K, 4) x, y, w, h of every key
    grid: dict[str, Any] = field(repr=False)  # the source JSON object, for manifests/checkpoints

    @property
    def language(self) -> str | None:
        """The language the layout is for (`"language"` in its JSON, e.g. "de"), where it says."""
        return self.grid.get("language")

    # ---- derived views of the letter keys (computed once: layouts are immutable) ----
    @cached_property
    def letter_ids(self) -> np.ndarray:
        """Indices (into all keys) of the letter keys, in layout order.  # (L,)"""
        return np.array([i for i, k in enumerate(self.kinds) if k == "letter"], dtype=np.int64)

    @cached_property
    def letters(self) -> str:
        """The characters of the letter keys, in layout order."""
        return "".join(self.labels[i] for i in self.letter_ids)

    @cached_property
    def centres(self) -> np.ndarray:
        """Centres of all keys.  # (K, 2)"""
        return self.boxes[:, :2] + self.boxes[:, 2:] / 2

    @cached_property
    def letter_centres(self) -> np.ndarray:
        """Centres of the letter keys.  # (L, 2)"""
        return self.centres[self.letter_ids]

    @cached_property
    def letter_sizes(self) -> np.ndarray:
        """Width and height of the letter keys.  # (L, 2)"""
        return self.boxes[self.letter_ids, 2:]

    @cached_property
    def key_width(self) -> float:
        """Mean width of the letter keys (px): the unit of noise, speed and distance."""
        return float(self.letter_sizes[:, 0].mean())

    @cached_property
    def letter_bbox(self) -> tuple[float, float, float, float]:
        """Bounding box (x0, y0, x1, y1) of all letter keys: the box features normalise to."""
        b = self.boxes[self.letter_ids]
        return (float(b[:, 0].min()), float(b[:, 1].min()),
                float((b[:, 0] + b[:, 2]).max()), float((b[:, 1] + b[:, 3]).max()))

    @cached_property
    def mean_half_diagonal(self) -> float:
        """Mean half-diagonal of the letter keys: the layout's natural length unit."""
        s = self.letter_sizes
        return float(np.mean(np.hypot(s[:, 0], s[:, 1]) / 2))

    def letter_index(self, char: str) -> int:
        """Position of `char` among the letter keys; KeyError if the layout has no such key."""
        try:
            return self.letters.index(char)
        except ValueError:
            raise KeyError(f"layout {self.name!r} has no key for {char!r}") from None

    # ---- vectorised geometry ----
    def letter_distances(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Euclidean distance from each point to each letter-key centre.  # (N, L)"""
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        c = self.letter_centres
        return np.hypot(x[:, None] - c[None, :, 0], y[:, None] - c[None, :, 1])

    def nearest_letter(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index (among letter keys) of the nearest letter-key centre for every point.  # (N,)"""
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        out = np.empty(len(x), dtype=np.int64)
        for s in range(0, len(x), _CHUNK):  # chunked: (N, L) for millions of points is large
            out[s:s + _CHUNK] = self.letter_distances(x[s:s + _CHUNK], y[s:s + _CHUNK]).argmin(1)
        return out

    def distance_to_letter_keys(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance from each point to the nearest letter-key *hitbox* (0 inside one).  # (N,)"""
        x = np.clip(np.asarray(x, dtype=np.float64).ravel(), -_FAR, _FAR).astype(np.float32)
        y = np.clip(np.asarray(y, dtype=np.float64).ravel(), -_FAR, _FAR).astype(np.float32)
        b = self.boxes[self.letter_ids].astype(np.float32)
        x0, x1 = b[:, 0], b[:, 0] + b[:, 2]
        y0, y1 = b[:, 1], b[:, 1] + b[:, 3]
        out = np.empty(len(x), dtype=np.float32)
        step = 8192  # small chunks keep the (chunk, L) temporaries in cache
        for s in range(0, len(x), step):
            xs, ys = x[s:s + step, None], y[s:s + step, None]
            # per axis: how far outside the box (0 inside), as max(x0 - x, x - x1, 0)
            dx = np.maximum(x0 - xs, xs - x1)
            np.maximum(dx, 0, out=dx)
            dy = np.maximum(y0 - ys, ys - y1)
            np.maximum(dy, 0, out=dy)
            dx *= dx
            dy *= dy
            dx += dy
            out[s:s + step] = dx.min(1)
        return np.sqrt(out, out=out).astype(np.float64)


_FAR = 1e18  # px: farther is as far as it matters, and squares of it stay finite in float32


def char_positions(chars: str, text: str) -> np.ndarray:
    """Position in `chars` of every character of `text`, -1 where absent; vectorised over the
    text's code points (no Python loop per character).  # (len(text),) int64"""
    cps = np.array([ord(c) for c in chars], dtype=np.uint32)
    order = np.argsort(cps)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    pos = np.clip(np.searchsorted(cps[order], codes), 0, max(len(cps) - 1, 0))
    return np.where(cps[order][pos] == codes, order[pos], -1).astype(np.int64)


def _number(grid: str, where: str, obj: dict[str, Any], name: str) -> float:
    if name not in obj:
        raise LayoutError(f"grid {grid!r}, {where}: missing field {name!r}")
    v = obj[name]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise LayoutError(f"grid {grid!r}, {where}: field {name!r} must be a finite number, got {v!r}")
    return float(v)


def parse_layout(name: str, grid: dict[str, Any]) -> Layout:
    """Validate one grid object and build its Layout; malformed input raises LayoutError."""
    if not isinstance(grid, dict):
        raise LayoutError(f"grid {name!r}: expected an object, got {type(grid).__name__}")
    width = _number(name, "grid", grid, "width")
    height = _number(name, "grid", grid, "height")
    if width <= 0 or height <= 0:
        raise LayoutError(f"grid {name!r}: width and height must be positive, got {width}×{height}")
    if not isinstance(grid.get("language", ""), str):
        raise LayoutError(f"grid {name!r}: 'language' must be a language code such as \"de\"")
    keys = grid.get("keys")
    if not isinstance(keys, list) or not keys:
        raise LayoutError(f"grid {name!r}: missing or empty 'keys' list")
    labels: list[str] = []
    kinds: list[KeyKind] = []
    boxes = []
    seen: dict[str, int] = {}
    for i, key in enumerate(keys):
        if not isinstance(key, dict):
            raise LayoutError(f"grid {name!r}, key #{i}: expected an object, got {key!r}")
        label, action = key.get("label"), key.get("action")
        ident = f"key #{i} ({label or action!r})"
        if (label is None) == (action is None):
            raise LayoutError(f"grid {name!r}, key #{i}: needs exactly one of 'label' or 'action'")
        text = label if label is not None else action
        if not isinstance(text, str) or not text:
            raise LayoutError(f"grid {name!r}, {ident}: label/action must be a non-empty string")
        hitbox = key.get("hitbox")
        if not isinstance(hitbox, dict):
            raise LayoutError(f"grid {name!r}, {ident}: missing 'hitbox'")
        box = [_number(name, ident, hitbox, f) for f in ("x", "y", "w", "h")]
        if box[2] <= 0 or box[3] <= 0:
            raise LayoutError(f"grid {name!r}, {ident}: zero or negative size {box[2]}×{box[3]}")
        if action is not None:
            kind: KeyKind = "action"
        elif len(label) == 1 and (label.isalpha() or label in LETTER_PUNCTUATION):
            kind = "letter"
            if label in seen:
                raise LayoutError(
                    f"grid {name!r}, {ident}: duplicate letter {label!r} (also key #{seen[label]})")
            seen[label] = i
        else:
            kind = "symbol"
        labels.append(text)
        kinds.append(kind)
        boxes.append(box)
    if not seen:
        raise LayoutError(f"grid {name!r}: no letter keys")
    arr = np.array(boxes, dtype=np.float64)
    arr.setflags(write=False)
    return Layout(name=name, width=width, height=height, labels=tuple(labels),
                  kinds=tuple(kinds), boxes=arr, grid=grid)


def parse_layouts(obj: dict[str, Any]) -> dict[str, Layout]:
    """A `{grid_name: grid}` object → layouts by name."""
    if not isinstance(obj, dict) or not obj:
        raise LayoutError("a layouts file must be a non-empty object {grid_name: grid}")
    return {name: parse_layout(name, grid) for name, grid in obj.items()}


def load_layouts(path: str | Path) -> dict[str, Layout]:
    """Read a layouts JSON file of named grids."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise LayoutError(f"{path}: not valid JSON ({e})") from None
    return parse_layouts(obj)


def layouts_to_json(layouts: dict[str, Layout]) -> dict[str, Any]:
    """The inverse of parse_layouts: the grid objects, for manifests and checkpoints."""
    return {name: lay.grid for name, lay in layouts.items()}
