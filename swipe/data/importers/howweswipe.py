"""Import How We Swipe swipelogs (Leiva et al., MobileHCI 2021): a file per participant, a touch event per line.

```
sentence timestamp keyb_width keyb_height event x_pos y_pos x_radius y_radius angle word is_err
we_are_waiting_on_the_cold_front 1582607060551 360 197 touchstart 55 14 0.18 0.24 0 we 0
```

A swipe is the run of events from a `touchstart` (or the first event after a `touchend`) up
to the next `touchend`, which is not a point, within one (sentence, word, try) on one
keyboard size. A swipe is kept when it is the one error-free try of its (sentence, word):

| reason           | the swipe                                                              |
| ---------------- | ---------------------------------------------------------------------- |
| `failed_try`     | is logged with is_err = 1                                              |
| `duplicate`      | repeats an earlier swipe of the file event for event (the log has copies) |
| `repeated_try`   | is one of several error-free tries of its (sentence, word): which one the participant meant is unknown |
| `not_a_word`     | spells something other than 2+ letters a–z                             |
| `too_few_points` | has fewer than 3 points                                                |
| `bad_grid`       | was logged on a keyboard of no size (a width or height of 0 or less)   |
| `bad_line`       | (a line, not a swipe) has too few fields, numbers that do not parse, or an unknown event |

Every line is part of one swipe (kept or rejected) or is itself a `bad_line`, so rows in =
kept + rejected. Each participant's keyboard is the study's keyboard at the logged size
(`study_layout`), named `hws_<W>x<H>`; no layouts file is needed. The user is the file name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from swipe import storage
from swipe.data.checks import Rejects
from swipe.data.swipes import SwipeBatch
from swipe.keyboard import Layout, LayoutError, parse_layout

HEADER = ("sentence", "timestamp", "keyb_width", "keyb_height", "event", "x_pos", "y_pos", "x_radius",
          "y_radius", "angle", "word", "is_err")
EVENTS = ("touchstart", "touchmove", "touchend")
WORD = re.compile(r"[a-z]{2,}")
MIN_POINTS = 3
FILE_STRIDE = 1 << 20  # row id = file number · 2^20 + swipe number in the file

# the study's keyboard: three letter rows, offset by 0, ½ and 1½ keys, then a row of action keys
ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
ROW_OFFSET = (0.0, 0.5, 1.5)  # in key widths
BOTTOM = (("dummy", 2), ("dummy", 1), ("space", 4), ("dummy", 1), ("dummy", 1))  # action, keys wide; from ½ key
COLUMNS, ROW_SHARE, BOTTOM_ROW, MARGIN = 10, 3.7, 0.7, 1.0  # key = W/10; row = H/3.7; bottom 0.7 row; 1 px


def layout_name(width: int, height: int) -> str:
    return f"hws_{width}x{height}"


def study_layout(width: int, height: int) -> dict:
    """The study's keyboard drawn `width` × `height` px, as a grid (the Yandex Cup layout format)."""
    kw, rh = width / COLUMNS, height / ROW_SHARE

    def box(x: float, y: float, w: float, h: float) -> dict:
        return {"x": round(x + MARGIN, 2), "y": round(y + MARGIN, 2), "w": round(w - MARGIN, 2), "h": round(h - MARGIN, 2)}

    keys = [{"label": c, "hitbox": box((off + i) * kw, r * rh, kw, rh)}
            for r, (letters, off) in enumerate(zip(ROWS, ROW_OFFSET)) for i, c in enumerate(letters)]
    at = 0.5
    for action, span in BOTTOM:
        keys.append({"action": action, "hitbox": box(at * kw, len(ROWS) * rh, span * kw, BOTTOM_ROW * rh)})
        at += span
    return {"width": width, "height": height, "keys": keys}


@dataclass
class _Swipe:
    key: tuple[str, str, str, int, int]  # sentence, word, is_err, width, height
    first_line: int
    lines: int = 0  # lines it spans, its touchend included
    points: list[tuple[float, float, float]] = field(default_factory=list)  # x, y, timestamp


def _segment(lines: list[str], source: str, rejects: Rejects) -> list[_Swipe]:
    """Swipes in log order; lines that are not events go to `rejects` as bad_line (no id:
    they are no swipe; the detail names the line)."""
    swipes: list[_Swipe] = []
    cur: _Swipe | None = None
    for n, line in enumerate(lines, 1):  # line 0 is the header
        f = line.split()
        try:
            if len(f) < len(HEADER) or f[4] not in EVENTS:
                raise ValueError(f"{len(f)} fields" if len(f) < len(HEADER) else f"event {f[4]!r}")
            key = (f[0], f[10], f[11], int(f[2]), int(f[3]))
            point = (float(f[5]), float(f[6]), float(f[1]))
        except ValueError as e:  # int()/float() of text, or the checks above
            rejects.add(None, source, "bad_line", f"line {n}: {e}", line)
            continue
        if f[4] == "touchstart" or cur is None or cur.key != key:
            cur = _Swipe(key, n)
            swipes.append(cur)
        cur.lines += 1
        if f[4] == "touchend":
            cur = None  # its point is where the finger left: not part of the trace
        else:
            cur.points.append(point)
    return swipes


def parse_swipelog(text: str, user: str, file_index: int = 0) -> tuple[SwipeBatch, Rejects, dict[str, Layout]]:
    """One participant's swipelog → the kept swipes (not yet validated), the rejects with
    their reasons, and the keyboards they were swiped on."""
    lines = text.splitlines()
    first_id = file_index * FILE_STRIDE
    rejects = Rejects()
    if not lines or tuple(lines[0].split()[: len(HEADER)]) != HEADER:
        raise ValueError(f"{user}: not a How We Swipe swipelog (its header is not {' '.join(HEADER)!r})")
    swipes = _segment(lines[1:], user, rejects)
    seen: set[tuple] = set()
    tries: dict[tuple[str, str], int] = {}  # (sentence, word) → error-free tries, duplicates aside
    unique: list[bool] = []
    for s in swipes:
        sig = (s.key, tuple(s.points))
        unique.append(sig not in seen)
        seen.add(sig)
        if unique[-1] and s.key[2] == "0":
            tries[s.key[:2]] = tries.get(s.key[:2], 0) + 1
    ids, words, grids, xs, ys, ts = [], [], [], [], [], []
    layouts: dict[str, Layout] = {}
    for i, (s, first) in enumerate(zip(swipes, unique)):
        sentence, word, err, w, h = s.key
        reason = ("duplicate" if not first else "failed_try" if err != "0"
                  else "repeated_try" if tries[(sentence, word)] > 1
                  else "not_a_word" if not WORD.fullmatch(word)
                  else "too_few_points" if len(s.points) < MIN_POINTS else None)
        if reason is not None:
            raw = json.dumps({"sentence": sentence, "word": word, "is_err": err, "keyboard": [w, h],
                              "lines": [s.first_line, s.first_line + s.lines - 1]})
            rejects.add(first_id + i, user, reason, f"{word!r} in {sentence!r}", raw)
            continue
        name = layout_name(w, h)
        if name not in layouts:
            try:
                layouts[name] = parse_layout(name, study_layout(w, h))
            except LayoutError as e:  # a keyboard of no size (0 or negative width or height)
                rejects.add(first_id + i, user, "bad_grid", f"keyboard {w}x{h}: {e}",
                            json.dumps({"sentence": sentence, "word": word, "keyboard": [w, h]}))
                continue
        t0 = s.points[0][2]
        ids.append(first_id + i)
        words.append(word)
        grids.append(name)
        xs.append([p[0] for p in s.points])
        ys.append([p[1] for p in s.points])
        ts.append([p[2] - t0 for p in s.points])
    batch = SwipeBatch.from_lists(ids, words, grids, xs, ys, ts, source=user, users=[user] * len(ids))
    return batch, rejects, layouts


def read_swipelogs(paths: list[str], first_file: int) -> tuple[SwipeBatch, Rejects, dict[str, Layout]]:
    """Several participants' logs (files `first_file`, `first_file` + 1, … of an input)."""
    batches, rejects, layouts = [], Rejects(), {}
    for k, path in enumerate(paths):
        user = Path(storage.basename(path)).stem
        b, r, lay = parse_swipelog(storage.read_text(path), user, first_file + k)
        batches.append(b)
        rejects.extend(r)
        layouts.update(lay)
    return SwipeBatch.concat(batches), rejects, layouts


def log_groups(folder: str, target_bytes: int) -> list[list[str]]:
    """The folder's `*.log` files, sorted, in consecutive groups of about `target_bytes`
    (a group per Ray task)."""
    files = storage.list_files(folder, ".log")
    groups: list[list[str]] = [[]]
    size = 0
    for path in files:
        if groups[-1] and size + storage.size(path) > target_bytes:
            groups.append([])
            size = 0
        groups[-1].append(path)
        size += storage.size(path)
    return [g for g in groups if g]
