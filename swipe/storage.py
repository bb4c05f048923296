"""Paths that may be URIs: the one storage layer of datasets, runs, checkpoints, sweeps,
predictions and the prediction table. Each is read and written the same in a local folder,
`s3://…`, `gs://…` or `file:///…` (pyarrow's filesystems; on a cluster the nodes'
credentials apply; an S3-protocol server other than AWS is named by `AWS_ENDPOINT_URL`).

The dataset jobs write to any of them too: each shard is written whole by the task that
made it (an object store's PUT, or a local rename, is atomic), so tasks on any node of a
cluster can write one dataset to `s3://…` without a shared filesystem.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

import pyarrow as pa
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


def size(path: str | Path) -> int:
    fs, p = resolve(path)
    info = fs.get_file_info(p)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(path)
    return info.size


def open_input(path: str | Path) -> IO[bytes]:
    """A seekable binary file (what pyarrow.parquet.ParquetFile reads)."""
    fs, p = resolve(path)
    return fs.open_input_file(p)


def read_bytes(path: str | Path) -> bytes:
    with open_input(path) as f:
        return f.read()


def read_text(path: str | Path) -> str:
    return read_bytes(path).decode("utf-8")


def write_bytes(path: str | Path, data: bytes | memoryview | pa.Buffer) -> None:
    """Write a whole file at once: a reader never sees half of it."""
    if is_uri(path):
        fs, p = resolve(path)
        fs.create_dir(p.rsplit("/", 1)[0], recursive=True)  # a no-op on object stores
        with fs.open_output_stream(p) as f:
            f.write(data)
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a temp file of its own (two writers of one path shared "NAME.tmp" and renamed each
    # other's away), on disk before the rename, so a crash leaves the old file or the new one
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def is_nonempty_dir(path: str | Path) -> bool:
    fs, p = resolve(path)
    if fs.get_file_info(p).type != pafs.FileType.Directory:
        return False
    return bool(fs.get_file_info(pafs.FileSelector(p, recursive=False)))


def list_files(folder: str | Path, suffix: str = "") -> list[str]:
    """The files directly in `folder` whose names end with `suffix`, sorted, as paths or URIs
    like the folder's (none when the folder does not exist)."""
    fs, p = resolve(folder)
    infos = fs.get_file_info(pafs.FileSelector(p, recursive=False, allow_not_found=True))
    names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File and i.base_name.endswith(suffix))
    return [join(folder, n) for n in names]


def download_tree(src: str | Path, dst: str | Path) -> Path:
    """Copy the folder `src` (a path or a URI) into the local folder `dst`, whole."""
    fs, p = resolve(src)
    Path(dst).mkdir(parents=True, exist_ok=True)
    pafs.copy_files(p, str(Path(dst).resolve()), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
    return Path(dst)


def upload_tree(src: str | Path, dst: str | Path) -> None:
    """Copy the local folder `src` into `dst` (a path or a URI), file by file; files already
    there of the same name are replaced."""
    fs, p = resolve(dst)
    if not is_uri(dst):
        fs.create_dir(p, recursive=True)
    pafs.copy_files(str(Path(src).resolve()), p, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)


def local_copy(path: str | Path) -> Path:
    """A local folder holding `path`'s files: the folder itself, or, for a URI, a copy in this
    machine's cache (`cached_folder`), made once per URI and version (`listing_version`): a
    model written again at the same URI is fetched again."""
    if not is_uri(path):
        return Path(path)
    key = hashlib.sha256(f"{str(path).rstrip('/')}\n{listing_version(path)}".encode()).hexdigest()[:16]
    return cached_folder(f"{basename(path)}-{key}", lambda tmp: download_tree(path, tmp))


def listing_version(folder: str | Path) -> str:
    """What tells a folder's files from an older version at the same place: every file's path,
    size and modification time (object stores: the object's; pyarrow shows no ETag)."""
    fs, p = resolve(folder)
    infos = fs.get_file_info(pafs.FileSelector(p, recursive=True, allow_not_found=True))
    rows = sorted(f"{i.path}\t{i.size}\t{i.mtime_ns}" for i in infos if i.type == pafs.FileType.File)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()



def cached_folder(name: str, make: Callable[[Path], Any]) -> Path:
    """The folder `name` in this machine's cache (`SWIPE_CACHE`, default the temp dir), made by
    `make(folder)` the first time. It is made beside its place and renamed into it, so
    processes that ask at once (the actors or replicas of one node) never read half of it."""
    cache = Path(os.environ.get("SWIPE_CACHE") or Path(tempfile.gettempdir()) / "swipe-cache")
    final = cache / name
    if not final.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=cache))
        make(tmp)
        try:
            tmp.rename(final)
        except OSError:  # another process got there first: theirs is as good
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def list_dirs(folder: str | Path) -> list[str]:
    """The folders directly in `folder`, sorted, as paths or URIs like the folder's."""
    fs, p = resolve(folder)
    infos = fs.get_file_info(pafs.FileSelector(p, recursive=False, allow_not_found=True))
    return [join(folder, n) for n in sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)]


def refuse_existing(path: str | Path, overwrite: bool) -> None:
    """Nothing a user made is overwritten by default: a job refuses, before any work, to write
    where something is, unless told `overwrite=true`."""
    if path and not overwrite and exists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=true to replace it, or out= another path")


def remove_file(path: str | Path) -> None:
    """Delete one file (nothing happens when it is not there)."""
    fs, p = resolve(path)
    try:
        if fs.get_file_info(p).type == pafs.FileType.File:
            fs.delete_file(p)
    except FileNotFoundError:  # gone in between: deleted by another writer
        pass


def remove_tree(path: str | Path) -> None:
    fs, p = resolve(path)
    fs.delete_dir(p)


def relative(path: str | Path, root: str | Path) -> str:
    """`path` below `root`, with forward slashes (as a manifest lists files)."""
    if is_uri(root):
        base = str(root).rstrip("/") + "/"
        if not str(path).startswith(base):
            raise ValueError(f"{path} is not below {root}")
        return str(path)[len(base):]
    return Path(path).relative_to(Path(root)).as_posix()


def basename(path: str | Path) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1]


UPLOADED_MARK = "working_dir_files"  # Ray unpacks a job's --working-dir under runtime_resources/working_dir_files/


def in_uploaded_working_dir(cwd: str | None = None) -> bool:
    """Whether this process runs in the uploaded copy of a folder (a job submitted with --working-dir)."""
    parts = Path(cwd or os.getcwd()).parts
    return "runtime_resources" in parts and UPLOADED_MARK in parts


def refuse_relative_in_job(inputs: dict[str, str], outputs: dict[str, str], cwd: str | None = None) -> None:
    """In a submitted job, a relative path names the uploaded copy of the checkout, which has no data/ or
    runs/ (git-ignored): refuse an input there that is missing, and every relative output (it would vanish
    with the copy), saying what to give instead. Elsewhere, nothing to check."""
    if not in_uploaded_working_dir(cwd):
        return
    here = Path(cwd or os.getcwd())
    bad = [(k, p, "is not in the uploaded working directory") for k, p in inputs.items()
           if p and not is_uri(p) and not Path(p).is_absolute() and not (here / p).exists()]
    bad += [(k, p, "would be written into the uploaded working directory, which is deleted with the job")
            for k, p in outputs.items() if p and not is_uri(p) and not Path(p).is_absolute()]
    if bad:
        raise ValueError("in a job submitted with --working-dir, relative paths name the uploaded copy of the "
                         "checkout (it has no data/ or runs/): "
                         + "; ".join(f"{k}={p!r} {why}" for k, p, why in bad)
                         + ". Give a URI (s3://BUCKET/swipe/…, gs://…) or an absolute path on storage every node sees.")
