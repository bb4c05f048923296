"""Build a dataset: synthesize swipes from a word list, or import JSONL, with Ray tasks.

One Ray task per shard (synthesis) or per byte range of an input file (import): each
generates or parses its rows, validates them, assigns splits by hash and writes its own
Parquet files. The driver only collects counts and writes the manifest, so millions of
swipes scale with the cluster's cores. Every row in is either kept or quarantined.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import ray

from swipe import storage
from swipe.cluster.session import ensure_ray
from swipe.console import Progress
from swipe.config import config_to_dict
from swipe.data.checks import Rejects, ValidationConfig, format_counts, validate
from swipe.data.dataset import (
    MANIFEST,
    QUARANTINE,
    SplitConfig,
    assign_splits,
    is_heldout_word,
    save_manifest,
    sha256_file,
    write_shard,
    write_table,
)
from swipe.data.importers.howweswipe import log_groups, read_swipelogs, study_layout
from swipe.data.importers.yandex import line_chunks, read_yandex_range
from swipe.data.swipes import SwipeBatch
from swipe.data.generators import GeneratorConfig, generate
from swipe.data.synth import SynthConfig
from swipe.keyboard import Layout, layouts_to_json, load_layouts, parse_layout, parse_layouts
from swipe.lexicon import LexiconConfig, WordList, build_alphabet, check_language, load_word_list
from swipe.provenance import git_revision, now_iso

ID_STRIDE = 1 << 40  # imported row id = input index · 2^40 + line number (unique across files)


@dataclass(frozen=True)
class ImportSource:
    """One input to import: a Yandex Cup JSONL file, or a folder of How We Swipe swipelogs."""

    path: str  # a local file or folder, or a URI (s3://…, read in place by every task)
    format: Literal["yandex", "howweswipe"] = "yandex"  # JSONL (importers/yandex.py) | swipelogs (importers/howweswipe.py)
    split: str = "auto"  # a split name ("train", "dev", …), or "auto": drawn by SplitConfig
    ref: str | None = None  # yandex: `.ref` file with the words of an unlabeled file, one per line


@dataclass(frozen=True)
class MakeDatasetConfig:
    """A dataset job: where it goes, what goes in, how it is split and validated."""

    out: str = "data/datasets/synth_en"  # dataset folder or URI (s3://…; created; see `overwrite`)
    mode: Literal["synth", "import"] = "synth"  # synth: draw swipes of lexicon words on `layouts` | import: read `inputs`
    layouts: str = "data/layouts/qwerty_english.json"  # layouts file (import: grids by name; "": none, the inputs bring their own)
    grids: tuple[str, ...] = ()  # synth: grids to draw on, uniformly (empty: all in the file)
    lexicon: LexiconConfig = field(default_factory=LexiconConfig)  # synth: the words to swipe
    n_swipes: int = 100_000  # synth: how many swipes
    uniform_share: float = 0.3  # synth: share of swipes whose word is drawn uniformly (rare-word floor)
    shard_rows: int = 25_000  # synth: swipes per Ray task (one Parquet file per split each)
    chunk_mb: float = 32.0  # import: bytes of JSONL (or of swipelogs) per Ray task
    inputs: tuple[ImportSource, ...] = ()  # import: the files
    synth: SynthConfig = field(default_factory=SynthConfig)  # synth: the parametric generator; every kind's touch events
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)  # synth: parametric, transplant, learned or a mix
    split: SplitConfig = field(default_factory=SplitConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    seed: int = 0  # the seed every shard's generator derives its own from
    num_cpus: int | None = None  # size of a local Ray (ignored on a cluster)
    overwrite: bool = False  # replace an existing dataset at `out`


@dataclass
class ShardResult:
    """What one task wrote and counted."""

    rows_in: int
    files: dict[str, dict[str, Any]]  # split → file record
    quarantine: dict[str, Any] | None
    rejected: Counter
    repaired: int
    heldout_words: set[str]
    layouts: dict[str, dict[str, Any]]  # inline grids met while importing


def _finish_shard(batch: SwipeBatch, rows_in: int, parse_rejects: Any, layouts: dict[str, Layout],
                  alphabet: str, root: str, shard: int, split: str, cfg: MakeDatasetConfig,
                  inline: dict[str, Layout] | None = None) -> ShardResult:
    """Validate, split and write one shard's rows (shared by synthesis and import)."""
    checked = validate(batch, {**layouts, **(inline or {})}, alphabet, cfg.validation)
    rejects = parse_rejects
    rejects.extend(checked.rejects)
    kept = checked.kept
    splits = (assign_splits(kept.ids, kept.words, cfg.split, kept.users) if split == "auto"
              else np.full(len(kept), split, dtype=object))
    files = {}
    for name in sorted(set(splits)):
        files[name] = write_shard(kept.take(splits == name), root, name, shard)
    quarantine = (write_table(rejects.to_arrow(), storage.join(root, QUARANTINE, f"part-{shard:05d}.parquet"))
                  if len(rejects) else None)
    held = ({w for w in set(kept.words) if w is not None and is_heldout_word(w, cfg.split)}
            if split == "auto" else set())
    return ShardResult(rows_in=rows_in, files=files, quarantine=quarantine, rejected=rejects.counts(),
                       repaired=checked.repaired_rows, heldout_words=held,
                       layouts=layouts_to_json(inline or {}))


@ray.remote(num_cpus=1)
def _synth_task(shard: int, n: int, word_list: WordList, grids_json: dict, alphabet: str,
                root: str, cfg: MakeDatasetConfig) -> ShardResult:
    layouts = parse_layouts(grids_json)
    rng = np.random.default_rng([cfg.seed, shard])
    picked = word_list.sample(n, cfg.uniform_share, rng)
    words = word_list.words
    user = np.arange(n) // max(cfg.synth.swipes_per_user, 1)  # pseudo-users: each on one keyboard
    grid_of = rng.integers(0, len(layouts), size=int(user.max(initial=0)) + 1)[user]
    parts = []
    for g, lay in enumerate(layouts.values()):
        rows = np.flatnonzero(grid_of == g)
        if len(rows) == 0:
            continue
        part = generate([words[i] for i in picked[rows]], lay, cfg.synth, cfg.generator, rng, users=user[rows])
        part.ids = shard * cfg.shard_rows + rows  # ids follow the draw order, not the grid
        if cfg.synth.swipes_per_user > 1:
            part.users = [f"synth-{shard}-{u}" for u in user[rows]]
        parts.append(part)
    batch = SwipeBatch.concat(parts)
    return _finish_shard(batch, n, Rejects(), layouts, alphabet, root, shard, "auto", cfg)


@ray.remote(num_cpus=1)
def _import_task(src_index: int, src: ImportSource, part: Any, grids_json: dict, alphabet: str, root: str,
                 shard: int, cfg: MakeDatasetConfig) -> ShardResult:
    """`part`: (start byte, end byte, first line) of a JSONL file, or (first file number, paths)
    of a folder of swipelogs."""
    layouts = parse_layouts(grids_json) if grids_json else {}  # swipelogs bring their own keyboards
    if src.format == "howweswipe":
        batch, rejects, inline = read_swipelogs(part[1], part[0])
    else:
        batch, rejects, inline = read_yandex_range(src.path, *part, layouts, src.ref)
    rows_in = len(batch) + len(rejects)
    batch.ids = batch.ids + src_index * ID_STRIDE
    rejects.ids = [None if i is None else i + src_index * ID_STRIDE for i in rejects.ids]
    return _finish_shard(batch, rows_in, rejects, layouts, alphabet, root, shard, src.split,
                         cfg, inline)


def _import_parts(src: ImportSource, target_bytes: int) -> list[Any]:
    """The pieces of one input that Ray tasks read in parallel (see `_import_task`)."""
    if src.format == "howweswipe":
        parts, first = [], 0
        for group in log_groups(src.path, target_bytes):
            parts.append((first, group))
            first += len(group)
        return parts
    return line_chunks(src.path, target_bytes)


def _input_hash(src: ImportSource) -> str:
    """sha256 of an input file; of a swipelog folder, of its files' names and hashes."""
    if src.format != "howweswipe":
        return sha256_file(src.path)
    listing = "".join(f"{storage.basename(p)} {sha256_file(p)}\n" for p in storage.list_files(src.path, ".log"))
    return hashlib.sha256(listing.encode()).hexdigest()


def _gather(refs: list, label: str) -> list[ShardResult]:
    """Wait for tasks in completion order, printing progress (shards done, rows/s) every few
    seconds and at the end."""
    results, pending = [], list(refs)
    progress = Progress("dataset", len(refs), label, every_s=5.0)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        results.extend(ray.get(done))
        rows = sum(r.rows_in for r in results)
        rate = rows / max(time.monotonic() - progress.t0, 1e-9)
        progress.update(len(results), f"{rows:,} rows, {rate:,.0f} rows/s", force=not pending)
    return results


def generator_record(gen: GeneratorConfig) -> dict[str, Any]:
    """The generator as configured, with the sha256 of each fitted artifact it reads."""
    shares = gen.shares()
    files = {name: path for name, path in (("transplant", gen.bank), ("learned", gen.flow)) if name in shares}
    for name, path in files.items():
        if not storage.exists(path):
            raise FileNotFoundError(f"generator {name!r} needs {path}; make it with `swipe dev fit-generator`")
    return config_to_dict(gen) | {"shares": shares, "sha256": {p: sha256_file(p) for p in files.values()}}


def make_dataset(cfg: MakeDatasetConfig) -> dict[str, Any]:
    """Run the dataset job described by `cfg`; returns the manifest it wrote."""
    root = cfg.out  # a folder or a URI (s3://…): every task writes its own shards there
    compressed = [s.path for s in cfg.inputs if cfg.mode == "import" and s.path.endswith((".gz", ".bz2", ".xz", ".zst"))]
    if compressed:  # each task reads a byte range of its input: that needs the file uncompressed
        raise ValueError(f"{compressed[0]} is compressed; imports read byte ranges of plain JSONL: decompress it first "
                         f"(gunzip -k {compressed[0]})")
    if storage.is_nonempty_dir(root):
        if not cfg.overwrite:
            raise FileExistsError(f"{root} exists; pass overwrite=true to replace it")
        if not storage.exists(storage.join(root, MANIFEST)) and not storage.exists(storage.join(root, QUARANTINE)):
            raise FileExistsError(f"{root} exists and is not a swipe dataset; refusing to delete it")
        storage.remove_tree(root)
    layouts = load_layouts(cfg.layouts) if cfg.layouts else {}
    if cfg.mode == "synth" and cfg.grids:
        missing = set(cfg.grids) - set(layouts)
        if missing:
            raise KeyError(f"grids {sorted(missing)} not in {cfg.layouts}; it has {sorted(layouts)}")
        layouts = {g: layouts[g] for g in cfg.grids}
    # the alphabet comes from the layouts; swipelogs bring the study's keyboard (all its sizes share letters)
    known = list(layouts.values()) + ([parse_layout("howweswipe", study_layout(360, 200))]
                                      if any(s.format == "howweswipe" for s in cfg.inputs) else [])
    if not known:
        raise ValueError(f"no layouts: name a layouts file (layouts=…) for {cfg.mode} of {[s.path for s in cfg.inputs]}")
    alphabet = build_alphabet(known, cfg.lexicon.extra_chars)
    grids_json = layouts_to_json(layouts)
    ensure_ray(cfg.num_cpus)
    t0 = time.perf_counter()
    provenance: dict[str, Any] = {"job": "make_dataset", "created": now_iso(),
                                  "git_revision": git_revision(), "config": config_to_dict(cfg)}
    if cfg.mode == "synth":
        check_language(cfg.lexicon, {name: lay.language for name, lay in layouts.items()})
        wl = load_word_list(cfg.lexicon, alphabet)
        print(wl.report(), flush=True)
        wl_ref = ray.put(wl)  # once, shared by every task
        n_shards = -(-cfg.n_swipes // cfg.shard_rows)
        refs = [_synth_task.remote(k, min(cfg.shard_rows, cfg.n_swipes - k * cfg.shard_rows),
                                   wl_ref, grids_json, alphabet.chars, root, cfg)
                for k in range(n_shards)]
        results = _gather(refs, "shards")
        provenance["lexicon"] = wl.record()
        generator = config_to_dict(cfg.synth)
        provenance["generator"] = generator_record(cfg.generator)
    else:
        if not cfg.inputs:
            raise ValueError("mode=import needs at least one entry in inputs")
        refs, shard = [], 0
        for i, src in enumerate(cfg.inputs):
            for part in _import_parts(src, int(cfg.chunk_mb * 2 ** 20)):
                refs.append(_import_task.remote(i, src, part, grids_json, alphabet.chars, root, shard, cfg))
                shard += 1
        provenance["inputs"] = [{"path": s.path, "format": s.format, "sha256": _input_hash(s), "split": s.split,
                                 "ref": s.ref} for s in cfg.inputs]
        results = _gather(refs, "chunks")
        generator = None
        for r in results:  # inline grids become part of the dataset's layouts
            for name, grid in r.layouts.items():
                if name in grids_json and grids_json[name] != grid:
                    raise ValueError(f"inputs carry two different grids named {name!r}")
                grids_json[name] = grid
    manifest = _manifest(root, results, grids_json, alphabet.chars, provenance, generator, cfg)
    # later steps (training, and the model after it) read it; a word list file by its absolute path
    manifest["lexicon"] = config_to_dict(cfg.lexicon) | (
        {"path": str(Path(cfg.lexicon.path).resolve())} if cfg.lexicon.path and not storage.is_uri(cfg.lexicon.path) else {})
    manifest["wall_s"] = round(time.perf_counter() - t0, 2)
    save_manifest(root, manifest)
    return manifest


def _manifest(root: str, results: list[ShardResult], grids_json: dict, alphabet: str,
              provenance: dict, generator: dict | None, cfg: MakeDatasetConfig) -> dict[str, Any]:
    splits: dict[str, dict[str, Any]] = {}
    rejected: Counter = Counter()
    quarantine, held = [], set()
    for r in results:
        for name, f in r.files.items():
            s = splits.setdefault(name, {"rows": 0, "by_layout": Counter(), "files": []})
            s["rows"] += f["rows"]
            s["by_layout"].update(f["by_layout"])
            s["files"].append({"file": storage.relative(f["path"], root), "rows": f["rows"],
                               "sha256": f["sha256"]})
        if r.quarantine:
            quarantine.append({"file": storage.relative(r.quarantine["path"], root),
                               "rows": r.quarantine["rows"], "sha256": r.quarantine["sha256"]})
        rejected.update(r.rejected)
        held |= r.heldout_words
    for s in splits.values():
        s["files"].sort(key=lambda f: f["file"])
        s["by_layout"] = dict(sorted(s["by_layout"].items()))
    if held:
        storage.write_text(storage.join(root, "heldout_words.txt"), "\n".join(sorted(held)) + "\n")
    rows_in = sum(r.rows_in for r in results)
    rows_kept = sum(s["rows"] for s in splits.values())
    return {
        "format": 1,
        "name": storage.basename(root),
        "mode": cfg.mode,
        "layouts": grids_json,
        "alphabet": alphabet,
        "rows_in": rows_in,
        "rows_kept": rows_kept,
        "rows_rejected": sum(rejected.values()),
        "repaired_rows": sum(r.repaired for r in results),
        "rejected": dict(sorted(rejected.items())),
        "splits": dict(sorted(splits.items())),
        "quarantine": sorted(quarantine, key=lambda f: f["file"]),
        "heldout_words": len(held),
        "split_config": config_to_dict(cfg.split),
        "generator": generator,
        "provenance": provenance,
    }


def summary_table(manifest: dict[str, Any]) -> str:
    """Validation counts and rows per split, as printed by the job."""
    lines = [format_counts(manifest["rows_in"], manifest["rows_kept"], Counter(manifest["rejected"]),
                           manifest["repaired_rows"]), ""]
    lines.append(f"{'split':<10}{'rows':>10}  by layout")
    for name, s in manifest["splits"].items():
        lines.append(f"{name:<10}{s['rows']:>10}  {s['by_layout']}")
    words = manifest.get("provenance", {}).get("lexicon")
    if words:
        lines.append(f"words: {words['words']} from {words['source']}; dropped {words['dropped'] or 'none'}"
                     + (f"; unspellable here: {', '.join(words['unspellable'][:5])}" if words.get("unspellable") else ""))
    if manifest["heldout_words"]:
        lines.append(f"{manifest['heldout_words']} words held out of train (heldout_words.txt)")
    return "\n".join(lines)
