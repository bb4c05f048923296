"""Swipe datasets on disk: Parquet shards per split, a quarantine, and a manifest.

```
DATASET/
  dataset.json                 manifest: layouts, alphabet, counts, provenance, hashes
  train/part-00000.parquet     rows in swipes.SCHEMA
  val/…  test/…  dev/…
  quarantine/part-00000.parquet  rejected rows with their reason (validate.QUARANTINE_SCHEMA)
  heldout_words.txt            words whose swipes were kept out of train (auto splits)
```

Splits are assigned by hashing, so shards written in parallel by independent Ray tasks
agree without coordination: a share of *words* is held out of training entirely (their
swipes go to val/test only, measuring unseen-word accuracy), and the remaining swipes are
split by id.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from swipe import storage
from swipe.data.swipes import OPTIONAL, SCHEMA, SwipeBatch, conform
from swipe.hashrand import uniform
from swipe.provenance import redact

MANIFEST = "dataset.json"
QUARANTINE = "quarantine"


@dataclass(frozen=True)
class SplitConfig:
    """How auto splits are drawn (imports may instead name a split per input file)."""

    heldout_word_share: float = 0.1  # share of distinct words never seen in train
    val_share: float = 0.05  # share of the other swipes that go to val
    test_share: float = 0.05  # … and to test
    seed: int = 0  # seed of the split draw (which users and words go where)
    # val and test by whole users (rows with a user: real people, the synthesizer's pseudo-users), so
    # validation holds people training never saw; rows of held-out words whose user is in train go to test
    by_user: bool = False


def _unit_hash(key: str) -> float:
    """A stable hash of `key` in [0, 1)."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little") / 2 ** 64


def is_heldout_word(word: str, cfg: SplitConfig) -> bool:
    return _unit_hash(f"{cfg.seed}:{word}") < cfg.heldout_word_share


def assign_splits(ids: np.ndarray, words: list[str | None], cfg: SplitConfig,
                  users: list[str | None] | None = None) -> np.ndarray:
    """'train' | 'val' | 'test' per row, a pure function of (id, word, user, cfg).  # (N,) object"""
    cache: dict[str, bool] = {}  # words repeat: hash each distinct word once
    for w in words:
        if w is not None and w not in cache:
            cache[w] = is_heldout_word(w, cfg)
    held = np.array([w is not None and cache[w] for w in words], dtype=bool)
    u = uniform(cfg.seed, np.asarray(ids, dtype=np.int64))
    seen_split = np.where(u < cfg.val_share, "val",
                          np.where(u < cfg.val_share + cfg.test_share, "test", "train"))
    val_of_held = cfg.val_share / max(cfg.val_share + cfg.test_share, 1e-12)
    held_split = np.where(u < val_of_held, "val", "test")
    if cfg.by_user and users is not None:
        u_user = np.array([_unit_hash(f"{cfg.seed}:user:{w}") if w is not None else x
                           for w, x in zip(users, u)])  # a row without a user: by its id, as before
        user_split = np.where(u_user < cfg.val_share, "val",
                              np.where(u_user < cfg.val_share + cfg.test_share, "test", "train"))
        # a held-out word never reaches train: with a training user it goes to test
        return np.where(user_split != "train", user_split, np.where(held, "test", "train")).astype(object)
    return np.where(held, held_split, seen_split).astype(object)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with storage.open_input(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_table(table: pa.Table, path: str | Path) -> dict[str, Any]:
    """Write one Parquet file, to a folder or a URI, whole (a re-run never sees half a file);
    it is hashed as written, not read back."""
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf, compression="zstd", row_group_size=8192)
    data = buf.getvalue()  # a pyarrow Buffer: hashed and written without a copy
    storage.write_bytes(path, data)
    return {"path": str(path), "rows": table.num_rows, "sha256": hashlib.sha256(data).hexdigest()}


def write_shard(batch: SwipeBatch, root: str | Path, split: str, shard: int) -> dict[str, Any]:
    """Write `batch` as `root/split/part-SHARD.parquet`; returns its file record."""
    info = write_table(batch.to_arrow(), storage.join(root, split, f"part-{shard:05d}.parquet"))
    by_layout: dict[str, int] = {}
    for g in batch.grid_names:
        by_layout[g] = by_layout.get(g, 0) + 1
    info["by_layout"] = by_layout
    return info


def save_manifest(root: str | Path, manifest: dict[str, Any]) -> str:
    """Written last by the dataset jobs: a folder without it is not (yet) a dataset."""
    path = storage.join(root, MANIFEST)
    storage.write_text(path, json.dumps(redact(manifest), indent=2, ensure_ascii=False, sort_keys=False))
    return path


def load_manifest(root: str | Path) -> dict[str, Any]:
    """A dataset's manifest; `root` is a folder or a URI (s3://, gs://, file://)."""
    path = storage.join(root, MANIFEST)
    if not storage.exists(path):
        raise FileNotFoundError(f"{root} is not a swipe dataset: no {MANIFEST}")
    return json.loads(storage.read_text(path))


def _split_entries(root: str | Path, split: str) -> list[dict[str, Any]]:
    manifest = load_manifest(root)
    if split not in manifest["splits"]:
        raise KeyError(f"dataset {root} has no split {split!r}; it has {sorted(manifest['splits'])}")
    return manifest["splits"][split]["files"]


def split_files(root: str | Path, split: str) -> list[str]:
    """The shard paths of one split, as listed (and hashed) in the manifest."""
    return [storage.join(root, f["file"]) for f in _split_entries(root, split)]


def _castable(have: pa.DataType, want: pa.DataType) -> bool:
    """Whether a column of type `have` reads as `want` without guessing (no strings as numbers)."""
    if pa.types.is_list(want):
        return (pa.types.is_list(have) or pa.types.is_large_list(have)) and _castable(have.value_type, want.value_type)
    if pa.types.is_floating(want):
        return pa.types.is_floating(have) or pa.types.is_integer(have)
    if pa.types.is_integer(want):
        return pa.types.is_integer(have)
    if pa.types.is_string(want):
        return pa.types.is_string(have) or pa.types.is_large_string(have) or pa.types.is_null(have)
    return have == want


def check_shard(path: str | Path, rows: int | None = None, sha256: str | None = None) -> str | None:
    """Why the shard at `path` cannot be read as swipes (None: it can).

    With the manifest's `sha256` any damaged byte is caught by hashing; without it, the
    whole file is decoded. Either way the columns must read as `swipes.SCHEMA` and the
    row count must be the manifest's."""
    if not storage.exists(path):
        return "missing_shard"
    try:
        f = pq.ParquetFile(storage.open_input(path))
        have = f.schema_arrow
    except Exception as e:  # noqa: BLE001 — pyarrow raises several types for damaged files
        return f"corrupt_shard: {type(e).__name__}: {e}"
    problems = [f"{fld.name} missing" if fld.name not in have.names else
                f"{fld.name} is {have.field(fld.name).type}, not {fld.type}"
                for fld in SCHEMA if (fld.name not in have.names and fld.name not in OPTIONAL)
                or (fld.name in have.names and not _castable(have.field(fld.name).type, fld.type))]
    if problems:
        return "bad_schema: " + "; ".join(problems)
    if rows is not None and f.metadata.num_rows != rows:
        return f"corrupt_shard: {f.metadata.num_rows} rows, the manifest says {rows}"
    if sha256 is not None:
        return None if sha256_file(path) == sha256 else "corrupt_shard: sha256 does not match the manifest"
    try:
        f.read(columns=[n for n in SCHEMA.names if n in have.names])
    except Exception as e:  # noqa: BLE001
        return f"corrupt_shard: {type(e).__name__}: {e}"
    return None


def check_shards(shards: list[tuple[str, int | None, str | None]], threads: int = 16) -> list[str | None]:
    """`check_shard(path, rows, sha256)` for each shard, several at a time: reading and
    hashing wait on the disk or the object store, and hashlib releases the GIL."""
    if len(shards) <= 1:
        return [check_shard(*s) for s in shards]
    with ThreadPoolExecutor(min(threads, len(shards))) as pool:
        return list(pool.map(lambda s: check_shard(*s), shards))


def checked_split_files(root: str | Path, split: str) -> tuple[list[str], list[tuple[str, int, str]]]:
    """The split's readable shards, and (path, rows, reason) for each one that is not."""
    entries = [(storage.join(root, f["file"]), f.get("rows"), f.get("sha256")) for f in _split_entries(root, split)]
    good, bad = [], []
    for (path, rows, _), why in zip(entries, check_shards(entries)):
        if why is None:
            good.append(path)
        else:
            bad.append((path, rows or 0, why))
    return good, bad


def head_table(files: list[str], n: int = 0) -> pa.Table:
    """The first `n` rows (0: all) of these shards in their order, read with plain pyarrow:
    the same rows every time, unlike a Ray Data `limit`, which keeps whichever blocks come first."""
    tables, got = [], 0
    for f in files:
        t = conform(pq.read_table(storage.open_input(f)))
        tables.append(t.slice(0, n - got) if n else t)
        got += tables[-1].num_rows
        if n and got >= n:
            break
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def head_batch(files: list[str], n: int = 0) -> SwipeBatch:
    """`head_table` as a SwipeBatch."""
    return SwipeBatch.from_arrow(head_table(files, n))


def read_split(root: str | Path, split: str) -> pa.Table:
    """A whole split as one Arrow table (for small splits and tests; Ray Data streams big ones)."""
    files = split_files(root, split)
    if not files:
        return SCHEMA.empty_table()
    return pa.concat_tables([conform(pq.read_table(storage.open_input(f))) for f in files])


def verify_dataset(root: str | Path) -> list[str]:
    """Problems found by checking every shard against the manifest (empty: all good)."""
    listed = [(split, f) for split, info in load_manifest(root)["splits"].items() for f in info["files"]]
    verdicts = check_shards([(storage.join(root, f["file"]), f["rows"], f["sha256"]) for _, f in listed])
    return [f"{split}: {f['file']}: {why}" for (split, f), why in zip(listed, verdicts) if why is not None]
