"""Import Yandex Cup 2023 JSONL: `{"word", "curve": {"x", "y", "t", "grid_name" | "grid"}}` (+ `uid`).

A curve names its grid (`grid_name`, looked up in a separate layouts file) or carries it
inline (`grid`: a grid object with its own `grid_name`). Unlabeled test files have no
`word`; their words come from a `.ref` file, one per line, aligned by line number.

Large files are read in byte ranges aligned to line starts, so Ray tasks can parse one
file in parallel; each range knows the number of its first line, which is the row id.
Every line ends up either in the returned batch or in the rejects, with a reason.
"""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import numpy as np

from swipe import storage
from swipe.data.checks import Rejects
from swipe.data.swipes import SwipeBatch
from swipe.keyboard import Layout, LayoutError, parse_layout


def line_chunks(path: str | Path, target_bytes: int) -> list[tuple[int, int, int]]:
    """Split a file into (start_byte, end_byte, first_line) ranges of about `target_bytes`,
    each starting at the beginning of a line."""
    size = storage.size(path)
    bounds = [0]
    with io.BufferedReader(storage.open_input(path)) as f:  # a folder's file or a URI
        while bounds[-1] + target_bytes < size:
            f.seek(bounds[-1] + target_bytes)
            f.readline()  # move to the next line start
            if f.tell() >= size:
                break
            bounds.append(f.tell())
        bounds.append(size)
        chunks, line = [], 0
        for s, e in zip(bounds[:-1], bounds[1:]):
            chunks.append((s, e, line))
            f.seek(s)
            line += f.read(e - s).count(b"\n")
    return chunks


def read_ref_words(path: str | Path, first_line: int, count: int) -> list[str | None]:
    """Words for lines `first_line … first_line+count-1` of a `.ref` file (None past its end)."""
    with io.TextIOWrapper(io.BufferedReader(storage.open_input(path)), encoding="utf-8") as f:
        words = [w.rstrip("\n\r") for w in itertools.islice(f, first_line, first_line + count)]
    return words + [None] * (count - len(words))


def _numbers(v: object) -> np.ndarray | None:
    """A JSON list of numbers as float64, or None if it is not one (strings, nulls, bools)."""
    if not isinstance(v, list):
        return None
    try:
        a = np.asarray(v) if v else np.zeros(0)
    except (ValueError, TypeError, OverflowError):  # ragged nested lists and the like
        return None
    if a.ndim != 1 or a.dtype.kind not in "iuf":
        return None
    return a.astype(np.float64)


def parse_yandex_lines(lines: list[bytes], first_line: int, layouts: dict[str, Layout],
                       source: str, ref_words: list[str | None] | None = None
                       ) -> tuple[SwipeBatch, Rejects, dict[str, Layout]]:
    """Parse raw JSONL lines into a batch (not yet validated) and parse-level rejects.

    Inline grids are registered under their `grid_name`; the returned dict holds the layouts
    seen inline (an inline grid that contradicts a known one of the same name is rejected).
    """
    ids, words, grids, xs, ys, ts, users = [], [], [], [], [], [], []
    rejects = Rejects()
    inline: dict[str, Layout] = {}
    for k, raw_bytes in enumerate(lines):
        row_id = first_line + k
        raw = raw_bytes.decode("utf-8", errors="replace").rstrip("\n\r")
        try:
            if not raw.strip():
                rejects.add(row_id, source, "bad_json", "empty line", raw)
                continue
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as e:
                rejects.add(row_id, source, "bad_json", str(e), raw)
                continue
            curve = rec.get("curve") if isinstance(rec, dict) else None
            if not isinstance(curve, dict) or not all(c in curve for c in ("x", "y", "t")):
                rejects.add(row_id, source, "missing_field", "needs curve.x, curve.y, curve.t", raw)
                continue
            word = ref_words[k] if ref_words is not None and "word" not in rec else rec.get("word")
            if word is not None and not isinstance(word, str):
                rejects.add(row_id, source, "bad_type", f"word is {type(word).__name__}", raw)
                continue
            if "grid" in curve:
                grid = curve["grid"]
                name = grid.get("grid_name") if isinstance(grid, dict) else None
                if not isinstance(name, str):
                    rejects.add(row_id, source, "bad_grid", "inline grid without grid_name", raw)
                    continue
                if name not in inline:
                    try:
                        lay = parse_layout(name, grid)
                    except LayoutError as e:
                        rejects.add(row_id, source, "bad_grid", str(e), raw)
                        continue
                    known = layouts.get(name)
                    if known is not None and not np.array_equal(known.boxes, lay.boxes):
                        rejects.add(row_id, source, "bad_grid",
                                    f"inline grid {name!r} differs from the known layout", raw)
                        continue
                    inline[name] = lay
            elif isinstance(curve.get("grid_name"), str):
                name = curve["grid_name"]
            else:
                rejects.add(row_id, source, "missing_field", "curve needs grid_name or grid", raw)
                continue
            x, y, t = (_numbers(curve[c]) for c in ("x", "y", "t"))
            if x is None or y is None or t is None:
                rejects.add(row_id, source, "bad_type", "x, y, t must be lists of numbers", raw)
                continue
            if not len(x) == len(y) == len(t):
                rejects.add(row_id, source, "length_mismatch",
                            f"len x, y, t = {len(x)}, {len(y)}, {len(t)}", raw)
                continue
            user = str(rec["uid"]) if rec.get("uid") is not None else None  # How We Swipe's files carry it
            ids.append(row_id)
            words.append(word)
            grids.append(name)
            xs.append(x)
            ys.append(y)
            ts.append(t)
            users.append(user)
        except Exception as e:  # noqa: BLE001 — whatever else one line raises costs that line only
            rejects.add(row_id, source, "bad_record", f"{type(e).__name__}: {e}", raw)
    batch = SwipeBatch.from_lists(ids, words, grids, xs, ys, ts, source=source,
                                  users=users if any(u is not None for u in users) else None)
    return batch, rejects, inline


def read_yandex_range(path: str | Path, start: int, end: int, first_line: int,
                      layouts: dict[str, Layout], ref_path: str | Path | None = None
                      ) -> tuple[SwipeBatch, Rejects, dict[str, Layout]]:
    """Parse the lines in bytes [start, end) of a Yandex Cup JSONL file."""
    with storage.open_input(path) as f:
        f.seek(start)
        data = f.read(end - start)
    lines = data.split(b"\n")  # the same rule line_chunks counts lines by
    if lines and lines[-1] == b"":
        lines.pop()  # the range ends with a newline: no line after it
    ref = read_ref_words(ref_path, first_line, len(lines)) if ref_path else None
    return parse_yandex_lines(lines, first_line, layouts, source=storage.basename(path), ref_words=ref)
