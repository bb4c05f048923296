"""Malformed input, made on purpose: the kinds of damage real swipe data arrives with.

The property tests (tests/test_bad_input.py) and `swipe bench reliability` feed these to
the importers, the dataset reader and the prediction job, and check that every row comes
out once: kept, or quarantined with the reason named here.

A record is a plain dict `{id, word, grid_name, x, y, t}` (lists of floats). A *row* kind
damages one record; a *line* kind damages one JSONL line; a *shard* kind damages a file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

Record = dict[str, Any]


def _set_point(field: str, value: float) -> Callable[[Record, np.random.Generator], Record]:
    def damage(r: Record, rng: np.random.Generator) -> Record:
        v = list(r[field])
        v[int(rng.integers(len(v)))] = value
        return {**r, field: v}
    return damage


def _time_backwards(r: Record, rng: np.random.Generator) -> Record:
    t = list(r["t"])
    k = int(rng.integers(1, len(t)))
    t[k] = t[k - 1] - 1.0 - float(rng.integers(100))
    return {**r, "t": t}


def _duplicate_time(r: Record, rng: np.random.Generator) -> Record:
    t = list(r["t"])
    k = int(rng.integers(1, len(t)))
    t[k] = t[k - 1]  # two touch events in one millisecond: repaired by dropping the second
    return {**r, "t": t}


def _keep_points(n: int) -> Callable[[Record, np.random.Generator], Record]:
    return lambda r, rng: {**r, "x": r["x"][:n], "y": r["y"][:n], "t": r["t"][:n]}


def _huge(r: Record, rng: np.random.Generator) -> Record:
    return _set_point(str(rng.choice(["x", "y"])), float(rng.choice([1e9, -1e12, 3e38])))(r, rng)


# kind → (damage, the quarantine reason; None = the row is kept)
ROW_KINDS: dict[str, tuple[Callable[[Record, np.random.Generator], Record], str | None]] = {
    "nan": (lambda r, rng: _set_point(str(rng.choice(["x", "y", "t"])), math.nan)(r, rng), "non_finite"),
    "inf": (lambda r, rng: _set_point(str(rng.choice(["x", "y", "t"])), float(rng.choice([1, -1])) * math.inf)(r, rng),
            "non_finite"),
    "empty_curve": (_keep_points(0), "too_few_points"),
    "one_point": (_keep_points(1), "too_few_points"),
    "time_backwards": (_time_backwards, "time_not_increasing"),
    "duplicate_time": (_duplicate_time, None),
    "huge_coordinates": (_huge, "off_keyboard"),
    "unknown_grid": (lambda r, rng: {**r, "grid_name": "dvorak_martian"}, "unknown_grid"),
}
# only where words are checked (imports); prediction keeps the row, the word is just a label
FOREIGN = ("foreign_chars", (lambda r, rng: {**r, "word": r["word"] + str(rng.choice(["ж", "é", "🙂", "ß"]))},
                             "char_not_in_alphabet"))


def as_line(r: Record) -> str:
    return json.dumps({"word": r["word"], "curve": {"x": r["x"], "y": r["y"], "t": r["t"],
                                                     "grid_name": r["grid_name"]}})


def _truncated(r: Record, rng: np.random.Generator) -> str:
    line = as_line(r)
    return line[:int(rng.integers(0, len(line) - 1))]  # a strict prefix of an object is never JSON


def _wrong_type(r: Record, rng: np.random.Generator) -> str:
    rec = json.loads(as_line(r))
    which = str(rng.choice(["x_strings", "t_null", "word_number", "curve_list", "x_nested"]))
    if which == "x_strings":
        rec["curve"]["x"] = [str(v) for v in rec["curve"]["x"]]
    elif which == "t_null":
        rec["curve"]["t"] = None
    elif which == "word_number":
        rec["word"] = 42
    elif which == "curve_list":
        rec["curve"] = [1, 2, 3]
    else:
        rec["curve"]["x"] = [[v] for v in rec["curve"]["x"]]
    return json.dumps(rec)


def _length_mismatch_line(r: Record, rng: np.random.Generator) -> str:
    return as_line({**r, "y": r["y"][:-1]})


def _with_nan_tokens(r: Record, rng: np.random.Generator) -> str:
    return as_line(ROW_KINDS["nan"][0](r, rng))  # json.dumps writes NaN/Infinity tokens


# JSONL kinds: the row kinds written as lines, plus damage only text can carry
LINE_KINDS: dict[str, tuple[Callable[[Record, np.random.Generator], str], str | None]] = {
    **{k: ((lambda f: lambda r, rng: as_line(f(r, rng)))(f), why) for k, (f, why) in ROW_KINDS.items()
       if k != "nan"},
    "nan": (_with_nan_tokens, "non_finite"),
    FOREIGN[0]: ((lambda r, rng: as_line(FOREIGN[1][0](r, rng))), FOREIGN[1][1]),
    "truncated_line": (_truncated, "bad_json"),
    "wrong_type": (_wrong_type, None),  # bad_type or missing_field, by what was damaged: see line_reason
    "length_mismatch": (_length_mismatch_line, "length_mismatch"),
    "empty_line": (lambda r, rng: "", "bad_json"),
    "not_an_object": (lambda r, rng: json.dumps([r["word"]]), "missing_field"),
}
WRONG_TYPE_REASONS = {"bad_type", "missing_field"}

# Arrow rows that are not swipes (a Parquet file can hold them, typed columns or not)
ARROW_KINDS: dict[str, tuple[Callable[[Record, np.random.Generator], Record], str]] = {
    "null_curve": (lambda r, rng: {**r, str(rng.choice(["x", "y", "t"])): None}, "missing_field"),
    "null_grid": (lambda r, rng: {**r, "grid_name": None}, "missing_field"),
    "null_id": (lambda r, rng: {**r, "id": None}, "missing_field"),
    "length_mismatch": (lambda r, rng: {**r, "t": r["t"][:-1]}, "length_mismatch"),
}

ARROW_ROW_SCHEMA = pa.schema([  # swipes.SCHEMA, nullable: what a careless writer produces
    pa.field("id", pa.int64()), pa.field("word", pa.string()), pa.field("x", pa.list_(pa.float32())),
    pa.field("y", pa.list_(pa.float32())), pa.field("t", pa.list_(pa.float32())),
    pa.field("grid_name", pa.string()), pa.field("source", pa.string()),
])


def records_to_arrow(records: list[Record]) -> pa.Table:
    return pa.Table.from_pylist([{**r, "source": "bad-input"} for r in records], schema=ARROW_ROW_SCHEMA)


def damaged_rows(kinds: dict[str, tuple[Callable, str | None]], plan: list[tuple[str, int]], good: list[Record]
           ) -> tuple[list[Any], list[str | None]]:
    """Row i of `plan` = (kind, seed): a good record (kind "good") or one damaged by `kind`,
    with id i; returned with the reason each must be quarantined for (None: kept)."""
    rows, expect = [], []
    for i, (kind, seed) in enumerate(plan):
        rec = {**good[seed % len(good)], "id": i}
        fn, why = (lambda r, rng: r, None) if kind == "good" else kinds[kind]
        rows.append(fn(rec, np.random.default_rng(seed)))
        expect.append(why)
    return rows, expect


def good_records(layout: Any, alphabet_chars: str, words: list[str], seed: int = 0) -> list[Record]:
    """Synthetic swipes of `words` that pass validation, with ≥ 3 points (damage needs room)."""
    from swipe.data.checks import ValidationConfig, validate
    from swipe.data.synth import SynthConfig, synthesize

    b = synthesize(words, layout, SynthConfig(), np.random.default_rng(seed))
    kept = validate(b, {layout.name: layout}, alphabet_chars, ValidationConfig()).kept
    return [r for r in batch_records(kept) if len(r["x"]) >= 3]


def batch_records(batch: Any) -> list[Record]:
    """A SwipeBatch as records (the undamaged material)."""
    out = []
    for i in range(len(batch)):
        s, e = batch.offsets[i], batch.offsets[i + 1]
        out.append({"id": int(batch.ids[i]), "word": batch.words[i], "grid_name": batch.grid_names[i],
                    "x": batch.x[s:e].astype(float).tolist(), "y": batch.y[s:e].astype(float).tolist(),
                    "t": batch.t[s:e].astype(float).tolist()})
    return out


# ----------------------------------------------------------------------------- shards
def _truncate(path: Path, rng: np.random.Generator) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(rng.integers(0, len(data)))])


def _flip_bytes(path: Path, rng: np.random.Generator) -> None:
    data = bytearray(path.read_bytes())
    at = int(rng.integers(0, len(data)))
    for k in range(at, min(len(data), at + int(rng.integers(1, 64)))):
        data[k] ^= int(rng.integers(1, 256))  # never 0: every touched byte changes
    path.write_bytes(bytes(data))


def _wrong_column_type(path: Path, rng: np.random.Generator) -> None:
    t = pq.read_table(path)
    x = pa.array([[str(v) for v in row] for row in t["x"].to_pylist()], pa.list_(pa.string()))
    pq.write_table(t.set_column(t.schema.get_field_index("x"), "x", x), path)


# kind → (damage the file in place, the reason's prefix)
SHARD_KINDS: dict[str, tuple[Callable[[Path, np.random.Generator], None], str]] = {
    "truncated": (_truncate, "corrupt_shard"),
    "flipped_bytes": (_flip_bytes, "corrupt_shard"),
    "empty_file": (lambda p, rng: p.write_bytes(b""), "corrupt_shard"),
    "not_parquet": (lambda p, rng: p.write_text("id,word\n1,hello\n"), "corrupt_shard"),
    "wrong_column_type": (_wrong_column_type, "bad_schema"),
    "deleted": (lambda p, rng: p.unlink(), "missing_shard"),
}


# ----------------------------------------------------------------------------- outcomes
def import_lines(lines: list[str], layouts: dict[str, Any], alphabet_chars: str) -> dict[int, str | None]:
    """What the importer makes of JSONL `lines`: line number → quarantine reason (None: kept).
    A line missing from the result was lost."""
    from swipe.data.checks import ValidationConfig, validate
    from swipe.data.importers.yandex import parse_yandex_lines

    batch, parse_rejects, _ = parse_yandex_lines([ln.encode() for ln in lines], 0, layouts, "bad.jsonl")
    checked = validate(batch, layouts, alphabet_chars, ValidationConfig())
    out: dict[int, str | None] = {int(i): None for i in checked.kept.ids}
    for rej in (parse_rejects, checked.rejects):
        out.update({int(i): why for i, why in zip(rej.ids, rej.reasons)})
    return out


def mishandled(plan: list[tuple[str, int]], expect: list[str | None], got: dict[int, str | None]
               ) -> tuple[list[int], list[int]]:
    """(rows handled wrongly — kept when bad, rejected when good, or for another reason; rows lost)."""
    wrong, lost = [], []
    for i, ((kind, _), want) in enumerate(zip(plan, expect)):
        if i not in got:
            lost.append(i)
        elif kind == "wrong_type" and got[i] in WRONG_TYPE_REASONS:
            continue
        elif got[i] != want:
            wrong.append(i)
    return wrong, lost


# ----------------------------------------------------------------------------- a damaged dataset
WORDS = ["the", "cat", "hello", "world", "swipe", "keyboard", "quick", "brown", "fox", "jumps", "over", "lazy",
         "dog", "gesture", "decoder", "typing", "phone", "screen", "letter", "model"]  # what good records spell
DAMAGED_ID = 1 << 40  # ids of damaged rows start here: never an id of the good rows they were made from


@dataclass
class DamagedDataset:
    """A dataset of good rows, damaged rows and a corrupt shard, with what a job must make of it."""

    root: Path
    split: str
    rejected: dict[str, int]  # reason → rows a prediction job must reject
    kept_ids: list[int]  # the ids it must decode, each once


def write_split_like(source: str | Path, root: str | Path, split: str, tables: list[pa.Table]) -> list[Path]:
    """A dataset at `root` with `source`'s manifest but one split: `tables`, a hashed shard
    each, in order. Returns the shard paths (to damage them after hashing, say)."""
    from swipe.data.dataset import MANIFEST, load_manifest, write_table

    root = Path(root)
    paths = [root / split / f"part-{i:05d}.parquet" for i in range(len(tables))]
    files = [write_table(t, p) for t, p in zip(tables, paths)]
    manifest = load_manifest(source) | {"splits": {split: {
        "rows": sum(f["rows"] for f in files),
        "files": [{"file": p.relative_to(root).as_posix(), "rows": f["rows"], "sha256": f["sha256"]}
                  for p, f in zip(paths, files)]}}}
    (root / MANIFEST).write_text(json.dumps(manifest))
    return paths


def write_damaged_dataset(source: str | Path, root: str | Path, kinds: dict[str, tuple[Callable, str | None]],
                          plan: list[tuple[str, int]], rows: int = 0, split: str = "test") -> DamagedDataset:
    """A dataset at `root` with one split of three shards, and `source`'s layouts and alphabet:
    the first `rows` (0: all) of source's val split; those rows damaged as `plan` says (kind,
    seed) by `kinds`; and the first shard again with its bytes flipped after hashing."""
    from swipe.data.dataset import read_split
    from swipe.data.swipes import SwipeBatch

    good = read_split(source, "val")
    good = good.slice(0, rows) if rows else good
    damaged, expect = damaged_rows(kinds, plan, batch_records(SwipeBatch.from_arrow(good)))
    damaged = [{**r, "id": None if r["id"] is None else DAMAGED_ID + r["id"]} for r in damaged]  # null_id stays null
    paths = write_split_like(source, root, split, [good, records_to_arrow(damaged), good])
    SHARD_KINDS["flipped_bytes"][0](paths[2], np.random.default_rng(0))
    rejected = {why: expect.count(why) for why in set(expect) if why} | {"corrupt_shard": good.num_rows}
    kept = good["id"].to_pylist() + [r["id"] for r, why in zip(damaged, expect) if why is None]
    return DamagedDataset(Path(root), split, rejected, kept)
