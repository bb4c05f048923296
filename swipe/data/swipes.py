"""SwipeBatch: many ragged swipes as flat numpy arrays plus offsets, and its Arrow form.

Every path in (synthesizer, importers) produces a SwipeBatch; validation and the dataset
writer consume one. Flat arrays keep all per-point work vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    pa.field("word", pa.string()),  # null when unlabeled
    pa.field("x", pa.list_(pa.float32()), nullable=False),  # layout pixels
    pa.field("y", pa.list_(pa.float32()), nullable=False),
    pa.field("t", pa.list_(pa.float32()), nullable=False),  # ms from the first point
    pa.field("grid_name", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("user", pa.string()),  # who swiped it, where known (How We Swipe); null otherwise
])
OPTIONAL = ("user",)  # columns older shards may lack: read as nulls


def conform(table: pa.Table) -> pa.Table:
    """A table read from a shard, in SCHEMA: columns in order, cast to their types (the shard
    check has vouched that they cast), optional columns it lacks filled with nulls."""
    cols = [table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
            for f in SCHEMA]
    return pa.Table.from_arrays(cols, schema=SCHEMA)


@dataclass
class SwipeBatch:
    """N swipes. Point arrays are flat; swipe i owns `offsets[i]:offsets[i+1]`."""

    ids: np.ndarray  # (N,) int64
    words: list[str | None]  # (N,)
    grid_names: list[str]  # (N,)
    x: np.ndarray  # (P,) float32
    y: np.ndarray  # (P,) float32
    t: np.ndarray  # (P,) float32
    offsets: np.ndarray  # (N + 1,) int64
    source: str | list[str] = ""
    users: list[str | None] | None = None  # (N,) None: not known for any swipe

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """Points per swipe.  # (N,)"""
        return np.diff(self.offsets)

    @property
    def row_of_point(self) -> np.ndarray:
        """Swipe index of every point.  # (P,)"""
        return np.repeat(np.arange(len(self)), self.lengths)

    def sources(self) -> list[str]:
        return [self.source] * len(self) if isinstance(self.source, str) else list(self.source)

    def user_list(self) -> list[str | None]:
        return [None] * len(self) if self.users is None else list(self.users)

    def with_points(self, x: np.ndarray, y: np.ndarray, t: np.ndarray, offsets: np.ndarray) -> "SwipeBatch":
        """The same swipes (ids, words, grids, sources, users) with other points."""
        return replace(self, x=x, y=y, t=t, offsets=offsets)

    def take(self, rows: np.ndarray) -> "SwipeBatch":
        """The swipes at `rows` (bool mask or indices), in that order."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, np.int64)
        lens = self.lengths[rows]
        starts = self.offsets[:-1][rows]
        idx = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(lens.sum())
        src = self.source if isinstance(self.source, str) else [self.source[i] for i in rows]
        return SwipeBatch(ids=self.ids[rows], words=[self.words[i] for i in rows],
                          grid_names=[self.grid_names[i] for i in rows],
                          x=self.x[idx], y=self.y[idx], t=self.t[idx],
                          offsets=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
                          source=src, users=None if self.users is None else [self.users[i] for i in rows])

    def to_arrow(self) -> pa.Table:
        off = pa.array(self.offsets.astype(np.int32))

        def col(v: np.ndarray) -> pa.Array:
            return pa.ListArray.from_arrays(off, pa.array(v.astype(np.float32, copy=False)))

        return pa.Table.from_arrays(
            [pa.array(self.ids, pa.int64()), pa.array(self.words, pa.string()),
             col(self.x), col(self.y), col(self.t),
             pa.array(self.grid_names, pa.string()), pa.array(self.sources(), pa.string()),
             pa.array(self.user_list(), pa.string())],
            schema=SCHEMA)

    @classmethod
    def from_arrow(cls, table: pa.Table) -> "SwipeBatch":
        """Read a table in SCHEMA (offsets honoured even for sliced columns)."""
        table = table.combine_chunks()
        lens = pc.list_value_length(table["x"]).to_numpy(zero_copy_only=False).astype(np.int64)
        for c in ("y", "t"):
            if not np.array_equal(pc.list_value_length(table[c]).to_numpy(zero_copy_only=False), lens):
                raise ValueError(f"column {c!r} has rows of another length than 'x'")

        def flat(c: str) -> np.ndarray:
            return pc.list_flatten(table[c]).to_numpy().astype(np.float32)

        return cls(ids=table["id"].to_numpy().astype(np.int64), words=table["word"].to_pylist(),
                   grid_names=table["grid_name"].to_pylist(), x=flat("x"), y=flat("y"), t=flat("t"),
                   offsets=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
                   source=table["source"].to_pylist(),
                   users=table["user"].to_pylist() if "user" in table.column_names else None)

    @classmethod
    def from_lists(cls, ids: list[int], words: list[str | None], grid_names: list[str],
                   xs: list, ys: list, ts: list, source: str | list[str] = "",
                   users: list[str | None] | None = None) -> "SwipeBatch":
        """Build from per-swipe sequences (importers); lengths of x, y, t must agree per swipe."""
        lens = np.array([len(v) for v in xs], dtype=np.int64)

        def cat(vs: list) -> np.ndarray:
            return np.concatenate([np.asarray(v, dtype=np.float64) for v in vs]) if vs else np.zeros(0)

        return cls(ids=np.asarray(ids, dtype=np.int64), words=list(words), grid_names=list(grid_names),
                   x=cat(xs), y=cat(ys), t=cat(ts),
                   offsets=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64), source=source, users=users)

    @classmethod
    def concat(cls, batches: list["SwipeBatch"]) -> "SwipeBatch":
        lens = np.concatenate([b.lengths for b in batches]) if batches else np.zeros(0, np.int64)
        return cls(ids=np.concatenate([b.ids for b in batches]),
                   words=[w for b in batches for w in b.words],
                   grid_names=[g for b in batches for g in b.grid_names],
                   x=np.concatenate([b.x for b in batches]), y=np.concatenate([b.y for b in batches]),
                   t=np.concatenate([b.t for b in batches]),
                   offsets=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
                   source=[s for b in batches for s in b.sources()],
                   users=None if all(b.users is None for b in batches) else [u for b in batches for u in b.user_list()])
