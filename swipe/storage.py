"""Paths that may be URIs: a dataset is read the same from a local folder, `s3://…`, `gs://…`
or `file:///…` (pyarrow's filesystems; on a cluster the nodes' credentials apply).

Datasets are written locally (the synthesis and import jobs) and copied to object storage
with the cloud's own tools (`aws s3 sync`); training and prediction read them in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import pyarrow.fs as pafs


def is_uri(path: str | Path) -> bool:
    return "://" in str(path)


def join(root: str | Path, *parts: str) -> str:
    """`root/part/…` for a folder or a URI."""
    if is_uri(root):
        return "/".join([str(root).rstrip("/"), *[p.strip("/") for p in parts]])
    return str(Path(root).joinpath(*parts))


def resolve(path: str | Path) -> tuple[pafs.FileSystem, str]:
    """The filesystem a path lives on, and the path within it."""
    if is_uri(path):
        return pafs.FileSystem.from_uri(str(path))
    return pafs.LocalFileSystem(), str(Path(path).resolve())


def exists(path: str | Path) -> bool:
    fs, p = resolve(path)
    return fs.get_file_info(p).type != pafs.FileType.NotFound


def open_input(path: str | Path) -> IO[bytes]:
    """A seekable binary file (what pyarrow.parquet.ParquetFile reads)."""
    fs, p = resolve(path)
    return fs.open_input_file(p)


def read_text(path: str | Path) -> str:
    with open_input(path) as f:
        return f.read().decode("utf-8")
