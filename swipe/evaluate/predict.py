"""Batch prediction: Ray Data over a split's shards → a pool of predictor actors → Parquet.

```
slices of the shards without output yet (path, row group, rows a..b)
  ─► map_batches(Predictor, concurrency=N actors)   each actor: checkpoint loaded once,
                                                    the trie mapped zero-copy from one ray.put;
                                                    reads its slice, checks it, decodes it
  ─► the driver gathers rows per input shard ─► OUT/part-NNNNN.parquet, atomically, when
     every row of that shard is in (rows the model cannot take → OUT/rejected/, with a reason;
     a shard that cannot be read at all → every one of its rows rejected, `corrupt_shard` …)
```

One output file per input shard, written only when complete, makes a re-run of an
interrupted job finish with every input row exactly once: finished shards are skipped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
import ray.data
import torch

from swipe import storage
from swipe.cluster.session import ensure_ray
from swipe.config import config_to_dict
from swipe.console import Progress, quiet
from swipe.data.checks import ValidationConfig, validate
from swipe.data.dataset import check_shards, load_manifest, write_table
from swipe.data.swipes import SCHEMA, SwipeBatch, conform
from swipe.decode.ctc import CtcConfig
from swipe.decode.decoders import Lexicon, SwipeDecoder
from swipe.decode.fused import FusedConfig
from swipe.decode.search import BeamConfig
from swipe.decode.template import TemplateConfig, TemplateIndex
from swipe.evaluate.predictions import PREDICTION_INFO, PREDICTION_SCHEMA, REJECT_SCHEMA, out_name
from swipe.keyboard import parse_layouts
from swipe.lexicon import Alphabet, LexiconConfig, Trie, build_lexicon_trie, check_language, dataset_lexicon
from swipe.model.checkpoint import (META_FILE, MODEL_FILE, check_compatible, lexicon_alphabet, load_meta, load_model,
                                    resolve_checkpoint)
from swipe.model.spec import InputSpec, load_spec, spec_from_dict
from swipe.provenance import redact

MAX_BLOCKS = 20_000  # slices per Ray Data block rise above 1 only past this many
SPEC_MARKER = "inputs.json"  # written before any output: the model, inputs and decoder settings of the folder

@dataclass(frozen=True)
class PredictConfig:
    """What to decode, with which checkpoint and decoder, on how many actors."""

    decoder: Literal["beam", "template", "fused", "ctc"] = "beam"  # the model's beam search | template matching (no
    # model) | both, their candidates re-scored together (swipe.decode.fused; configs/decode_en.yaml) | the
    # key head's CTC trie beam (a model with head ctc or hybrid; swipe.decode.ctc)
    checkpoint: str = ""  # beam: a checkpoint directory, or a run directory (its best checkpoint)
    dataset: str = "data/datasets/synth_en"  # the dataset folder or URI whose split is decoded
    split: str = "test"  # the split decoded (dev, test, …)
    out: str = ""  # default: DATASET/predictions/SPLIT-<checkpoint dir name>[-<override tag>]
    # What the model reads is its own input spec (model.json). These override it, explicitly:
    # the override is recorded in the output folder's name, prediction.json and the prediction table.
    # keys of swipe.model.spec.PointSpec / swipe.lexicon.LexiconConfig set here replace the model's,
    # the rest stay its own ({}: the model's spec as it is). Template matching: the dataset's word list,
    # these keys of it replaced.
    points: dict[str, Any] = field(default_factory=dict)  # e.g. {max_points: 128}
    lexicon: dict[str, Any] = field(default_factory=dict)  # e.g. {top_n: 20000}; template: all English words
    beam: BeamConfig = field(default_factory=BeamConfig)
    template: TemplateConfig = field(default_factory=TemplateConfig)  # decoder=template (and fused's matcher)
    fused: FusedConfig = field(default_factory=FusedConfig)  # decoder=fused: candidates and weights
    ctc: CtcConfig = field(default_factory=CtcConfig)  # decoder=ctc, and fused's first pass for a key head
    constrained: bool = True  # beam: decode within the lexicon (template always does)
    concurrency: int = 2  # predictor actors
    cpus_per_actor: float = 0.5  # CPUs each decoding actor holds (the pool has as many actors as fit)
    gpus_per_actor: float = 0.0  # GPUs each decoding actor holds (0: CPU)
    batch_size: int = 128  # swipes per actor call (one slice of a shard's row group)
    decode_batch: int = 32  # swipes per decoder call, length-sorted (CPU: 32 measured best; GPU: larger)
    num_cpus: int | None = None  # size of a local Ray (ignored on a cluster)


class Predictor:
    """A Ray Data actor: loads the checkpoint once; reads, checks and decodes slices of shards.

    Every input row comes out once: decoded, or with `error` set to a quarantine reason
    (the reasons of `validate`, plus `missing_field` and `length_mismatch` for rows that are
    not even swipes). Rows are repaired as imports are (repeated timestamps dropped, t from 0).
    """

    def __init__(self, checkpoint: str, trie_ref: Any, beam: BeamConfig, spec: dict | None, decode_batch: int,
                 layouts_json: dict | None = None, template: TemplateConfig | None = None,
                 fused: FusedConfig | None = None, ctc: CtcConfig | None = None, kind: str | None = None):
        """`spec`: what the model reads, as the driver resolved it (the model's own, or the
        recorded override); None for template matching. `layouts_json`: the layouts of the swipes to decode (the dataset's; default: the
        checkpoint's own). The model reads them through their key table, trained on them or not.
        With `template` alone, the actor matches templates instead (no checkpoint): `trie_ref` is
        then a TemplateIndex and `layouts_json` is required. With `fused` (and `template`, its
        matcher), `trie_ref` is (Trie, TemplateIndex) and both decoders' candidates are fused. `kind`
        "ctc": the key head's CTC trie beam (`ctc`, also fused's first pass for a key head)."""
        torch.set_num_threads(1)
        quiet()  # the actor's edge (swipe.console)
        # the lexicon's arrays are mapped from the object store: shared by the node's actors, read-only.
        # (Ray Data hands constructor arguments over unresolved; a plain actor gets them resolved.)
        lexicon = ray.get(trie_ref) if isinstance(trie_ref, ray.ObjectRef) else trie_ref
        self.kind = kind or ("fused" if fused is not None else "template" if template is not None else "beam")
        self.beam, self._groups = beam, {}  # _groups: the last row group read
        model = None
        if self.kind == "template":
            self.lexicon = Lexicon(None, lexicon)
            alphabet, layouts = lexicon.alphabet, parse_layouts(layouts_json)
        else:
            self.lexicon = Lexicon(*lexicon) if self.kind == "fused" else Lexicon(lexicon)
            device = "cuda" if torch.cuda.is_available() else "cpu"
            checkpoint = resolve_checkpoint(checkpoint)  # a URI: this node's cached copy
            meta = load_meta(checkpoint)
            layouts = parse_layouts(layouts_json if layouts_json is not None
                                    else {g: meta["layouts"][g] for g in meta["grids"]})
            model, _ = load_model(checkpoint, device, layouts)
            alphabet = Alphabet(meta["alphabet"])
        self.layouts = layouts
        self.decoder = SwipeDecoder(model, alphabet, layouts, template or TemplateConfig(), fused or FusedConfig(),
                                    None if spec is None else spec_from_dict(spec), decode_batch, ctc)

    def __call__(self, units: dict[str, np.ndarray]) -> pa.Table:
        """Work units (`path`, `row_group`, `start`, `stop`) → one row out per row read."""
        out = []
        for path, g, a, b in zip(units["path"], units["row_group"], units["start"], units["stop"]):
            key = (str(path), int(g))
            if key not in self._groups:  # slices of one row group tend to come to the same actor
                self._groups = {key: _read_row_group(*key)}
            rows = self._groups[key].slice(int(a), int(b) - int(a))
            out.append(self.decode_table(rows.append_column("path", pa.array([key[0]] * rows.num_rows, pa.string()))))
        return pa.concat_tables(out)

    def decode_table(self, table: pa.Table) -> pa.Table:
        """Rows in SCHEMA plus `path` → predictions, with `error` and `detail` for rejected rows."""
        n = table.num_rows
        errors: list[str | None] = [None] * n
        details: list[str] = [""] * n
        for i, (why, what) in _malformed_rows(table).items():
            errors[i], details[i] = why, what
        rows = np.array([i for i in range(n) if errors[i] is None], dtype=np.int64)
        batch = SwipeBatch.from_arrow(table.take(rows).drop_columns(["path"]))
        batch.ids = rows  # positions in `table`, through validation
        checked = validate(batch, self.layouts, None, INPUT_CHECKS)
        for i, why, what in zip(checked.rejects.ids, checked.rejects.reasons, checked.rejects.details):
            errors[i], details[i] = why, what
        cands: list[list[str]] = [[] for _ in range(n)]
        scores: list[list[float]] = [[] for _ in range(n)]
        for i, found in self._decode(checked.kept):
            cands[i] = [w for w, _ in found]
            scores[i] = [s_ for _, s_ in found]
        return pa.table({"id": table["id"].cast(pa.int64()), "word": table["word"].cast(pa.string()),
                         "grid_name": table["grid_name"].cast(pa.string()),
                         "candidates": pa.array(cands, pa.list_(pa.string())),
                         "scores": pa.array(scores, pa.list_(pa.float32())),
                         "user": table["user"].cast(pa.string()) if "user" in table.column_names
                         else pa.nulls(n, pa.string()),
                         "path": table["path"], "error": pa.array(errors, pa.string()),
                         "detail": pa.array(details, pa.string())})


    def _decode(self, kept: SwipeBatch) -> list[tuple[int, list[tuple[str, float]]]]:
        """(row, candidates) for every kept row."""
        return list(zip(kept.ids, self.decoder.decode(kept, self.kind, self.lexicon, self.beam)))


INPUT_CHECKS = ValidationConfig(require_word=False)  # unlabeled input is normal here


def _read_row_group(path: str, row_group: int) -> pa.Table:
    """One row group of a shard, in SCHEMA (check_shard has vouched that its columns cast)."""
    f = pq.ParquetFile(storage.open_input(path))
    return conform(f.read_row_group(row_group, columns=[n for n in SCHEMA.names if n in f.schema_arrow.names]))


def _work_units(paths: list[str], rows_per_unit: int) -> list[dict[str, Any]]:
    """Slices of every row group of every shard, `rows_per_unit` rows or fewer each."""
    units = []
    for p in paths:
        meta = pq.ParquetFile(storage.open_input(p)).metadata
        for g in range(meta.num_row_groups):
            n = meta.row_group(g).num_rows
            units += [{"path": p, "row_group": g, "start": a, "stop": min(n, a + rows_per_unit)}
                      for a in range(0, n, rows_per_unit)]
    return units


def _malformed_rows(table: pa.Table) -> dict[int, tuple[str, str]]:
    """Rows that are not swipes at all: a null field, or x, y, t of different lengths."""
    bad: dict[int, tuple[str, str]] = {}
    for col in ("id", "x", "y", "t", "grid_name"):
        for i in np.flatnonzero(pc.is_null(table[col]).to_numpy(zero_copy_only=False)):
            bad.setdefault(int(i), ("missing_field", f"{col} is null"))
    lens = [pc.list_value_length(table[c]).fill_null(-1).to_numpy(zero_copy_only=False) for c in "xyt"]
    for i in np.flatnonzero((lens[0] != lens[1]) | (lens[0] != lens[2])):
        bad.setdefault(int(i), ("length_mismatch", f"len x, y, t = {lens[0][i]}, {lens[1][i]}, {lens[2][i]}"))
    return bad


@dataclass
class PredictResult:
    out: str  # a folder or a URI
    rows_in: int
    rows_out: int
    rows_rejected: int
    rejected: dict[str, int]  # reason → rows
    shards_written: int  # by this run
    shards_skipped: int  # already complete from an earlier run
    wall_s: float


def predict(cfg: PredictConfig, trie: Trie | None = None) -> PredictResult:
    """Decode every row of `cfg.split`, resuming an earlier, interrupted run into `cfg.out`.

    `trie`: the lexicon, if the caller has it built already (tests)."""
    template, fused, ctc = cfg.decoder == "template", cfg.decoder == "fused", cfg.decoder == "ctc"
    storage.refuse_relative_in_job({"dataset": cfg.dataset, "checkpoint": cfg.checkpoint}, {"out": cfg.out})
    checkpoint = None if template else resolve_checkpoint(cfg.checkpoint)
    manifest = load_manifest(cfg.dataset)
    if cfg.split not in manifest["splits"]:
        raise KeyError(f"dataset {cfg.dataset} has no split {cfg.split!r}; it has {sorted(manifest['splits'])}")
    spec, overrides = None, []
    if checkpoint is not None:  # the actors resolve cfg.checkpoint themselves: on another node, from its URI
        meta = load_meta(checkpoint)
        if ctc and meta["model"].get("head", "ar") == "ar":
            raise ValueError(f"decoder ctc needs a model with a key head (model.head ctc or hybrid); {cfg.checkpoint} "
                             "has none: use beam or fused")
        check_compatible(meta, manifest, f"dataset {cfg.dataset}")
        spec, overrides = resolve_spec(meta, cfg, str(cfg.checkpoint))
    lexicon_cfg = decode_lexicon(cfg, manifest, spec)
    alphabet = Alphabet(manifest["alphabet"]) if template else lexicon_alphabet(meta, manifest["alphabet"])
    if not cfg.out and storage.is_uri(cfg.dataset):
        raise ValueError(f"dataset {cfg.dataset} is not a local folder: name the output folder with out=…")
    name = "template" if template else _model_name(cfg.checkpoint, checkpoint) + ("-fused" if fused else "-ctc" if ctc
                                                                                  else "")
    name += f"-{spec.tag()}" if overrides else ""  # an override never shares a folder with the model's own inputs
    out = cfg.out or storage.join(cfg.dataset, "predictions", f"{cfg.split}-{name}")  # a folder or a URI
    made_by = {"input_spec": None if spec is None else spec.to_dict(), "lexicon": config_to_dict(lexicon_cfg),
               "model": None if checkpoint is None else _weights_digest(checkpoint), "decoder": cfg.decoder,
               "constrained": cfg.constrained, "beam": config_to_dict(cfg.beam),
               "template": config_to_dict(cfg.template) if template or fused else None,
               "fused": config_to_dict(cfg.fused) if fused else None,
               "ctc": config_to_dict(cfg.ctc) if ctc or fused else None}
    check_resumable(out, made_by)
    storage.write_text(storage.join(out, SPEC_MARKER), json.dumps(made_by))  # before any output: a resume checks it
    files = {storage.join(cfg.dataset, f["file"]): f for f in manifest["splits"][cfg.split]["files"]}
    rows_of = {p: f["rows"] for p, f in files.items()}
    done = {storage.basename(f) for f in storage.list_files(out, ".parquet")}
    todo = [p for p in rows_of if out_name(p) not in done]  # finished shards are skipped
    t0 = time.perf_counter()
    verdicts = check_shards([(p, rows_of[p], files[p].get("sha256")) for p in todo])
    for p, why in zip(list(todo), verdicts):  # a shard that cannot be read is quarantined whole, its rows counted
        if why is not None:
            print(f"  quarantined shard {p}: {why}", flush=True)
            _write_unreadable_shard(out, p, rows_of[p], why)
            todo.remove(p)
    if todo:
        ensure_ray(cfg.num_cpus)
        if trie is None and (cfg.constrained or template or fused or ctc):
            trie = build_lexicon_trie(lexicon_cfg, alphabet)
        lexicon = (TemplateIndex.build(trie) if template else (trie, TemplateIndex.build(trie)) if fused
                   else trie if cfg.constrained or ctc else None)
        trie_ref = ray.put(lexicon)  # once: every actor maps the same arrays
        # The actors read their own slices: one Ray Data block per slice spreads the work over
        # every actor (read_parquet packs small shards into one block, hence one task on one
        # actor, measured), and no read task waits for a whole free CPU.
        units = _work_units(todo, cfg.batch_size)
        ds = ray.data.from_items(units, override_num_blocks=min(len(units), MAX_BLOCKS))
        args = ("" if template else _for_actors(cfg.checkpoint, checkpoint), trie_ref, cfg.beam,
                None if spec is None else spec.to_dict(), cfg.decode_batch, manifest["layouts"],
                cfg.template if template or fused else None, cfg.fused if fused else None, cfg.ctc, cfg.decoder)
        ds = ds.map_batches(Predictor, fn_constructor_args=args,
                            batch_size=None, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=cfg.concurrency),
                            num_cpus=cfg.cpus_per_actor, num_gpus=cfg.gpus_per_actor or None)
        pending: dict[str, list[pa.Table]] = {}
        written = done_rows = 0
        progress = Progress("predict", sum(rows_of[p] for p in todo), "rows")
        for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            done_rows += block.num_rows
            progress.update(done_rows, f"{written}/{len(todo)} shards")
            for path in set(block["path"].to_pylist()):
                pending.setdefault(path, []).append(block.filter(pc.equal(block["path"], path)))
                got = sum(t.num_rows for t in pending[path])
                if got > rows_of[path]:
                    raise RuntimeError(f"{path}: {got} rows came back for {rows_of[path]} in")
                if got == rows_of[path]:  # complete: write once
                    _write_shard(pa.concat_tables(pending.pop(path)), out, path)
                    written += 1
        progress.update(done_rows, f"{written}/{len(todo)} shards", force=True)
        if pending:
            raise RuntimeError(f"incomplete shards after the stream ended: {sorted(pending)}")
    rows_out = sum(pq.ParquetFile(storage.open_input(storage.join(out, out_name(p)))).metadata.num_rows
                   for p in rows_of)
    reasons: Counter = Counter()
    for f in storage.list_files(storage.join(out, "rejected"), ".parquet"):
        reasons.update(pq.read_table(storage.open_input(f), columns=["reason"])["reason"].to_pylist())
    rows_in, rows_rejected = sum(rows_of.values()), sum(reasons.values())
    if rows_in != rows_out + rows_rejected:
        raise RuntimeError(f"rows lost: in {rows_in} != out {rows_out} + rejected {rows_rejected}")
    storage.write_text(storage.join(out, PREDICTION_INFO), json.dumps(redact(
        {"checkpoint": _for_actors(cfg.checkpoint, checkpoint) if checkpoint else None, "decoder": cfg.decoder, "dataset": cfg.dataset,
         "split": cfg.split, "config": config_to_dict(cfg),
         "input_spec": None if spec is None else spec.to_dict(), "spec_overrides": overrides,
         "lexicon": config_to_dict(lexicon_cfg), "rows_in": rows_in, "rows_out": rows_out, "rows_rejected": rows_rejected}), indent=1))
    return PredictResult(out, rows_in, rows_out, rows_rejected, dict(reasons), shards_written=len(todo),
                         shards_skipped=len(rows_of) - len(todo), wall_s=round(time.perf_counter() - t0, 2))


def decode_lexicon(cfg: PredictConfig, manifest: dict[str, Any], spec: InputSpec | None) -> LexiconConfig:
    """The words a prediction decodes within: the model's own (its spec, overrides applied); for
    template matching, the dataset's (the words it was made of) with the config's keys on top, and
    a wordfreq list in another language than a layout says it is for is refused (a model's own
    lexicon is what it was trained to spell, whatever the data)."""
    if spec is not None:
        return spec.lexicon
    lexicon = dataset_lexicon(manifest, cfg.lexicon)
    check_language(lexicon, {name: grid.get("language") for name, grid in manifest["layouts"].items()})
    return lexicon


def resolve_spec(meta: dict[str, Any], cfg: PredictConfig, where: str) -> tuple[InputSpec, list[str]]:
    """The model's own input spec, with the config's explicit overrides applied; and each
    setting an override changed (`key: model's → used`), [] when none did."""
    own = load_spec(meta, where)
    used = own.with_overrides(cfg.points, cfg.lexicon)
    overrides = own.differences(used)
    for d in overrides:
        print(f"  override of {where}'s input spec: {d}", flush=True)
    return used, overrides


def check_resumable(out: str, made_by: dict[str, Any]) -> None:
    """A folder with predictions made otherwise (another model's weights, input spec, lexicon,
    decoder or its settings) is never resumed into: its rows would come back as this run's."""
    marker = storage.join(out, SPEC_MARKER)
    if not storage.exists(marker):
        if storage.exists(storage.join(out, PREDICTION_INFO)) or storage.list_files(out, ".parquet"):
            raise FileExistsError(f"{out} holds predictions that say nothing of how they were made (no {SPEC_MARKER}): "
                                  "name another out=… (nothing was overwritten)")
        return
    before = json.loads(storage.read_text(marker))
    diff = sorted(k for k in set(before) | set(made_by) if before.get(k) != made_by.get(k))
    if diff:
        raise FileExistsError(f"{out} holds predictions made with other inputs or settings ({', '.join(diff)} "
                              f"differ); name another out=… (nothing was overwritten)")


def _model_name(given: str, local: Path) -> str:
    """A prediction folder's name for a model: a checkpoint folder's own name (models/en-small →
    en-small), a run's name for a run (runs/RUN → its best checkpoint → RUN)."""
    if storage.is_uri(given):
        return storage.basename(given)
    return Path(given).resolve().name if Path(given, META_FILE).exists() else local.parent.name


def _weights_digest(checkpoint: Path) -> str:
    """16 hex digits of the weights' sha256: another model at the same path is another model."""
    return hashlib.sha256((checkpoint / MODEL_FILE).read_bytes()).hexdigest()[:16]


def _for_actors(given: str, local: Path) -> str:
    """What the actors load: a URI as given (each node fetches its own copy), else the
    resolved local folder, absolute (actors may run in another working directory)."""
    return given if storage.is_uri(given) else str(local.resolve())


def _write_shard(table: pa.Table, out: str, path: str) -> None:
    """Split a complete shard into predictions and rejects; write both atomically."""
    bad = pc.is_valid(table["error"])
    good = table.filter(pc.invert(bad)).drop_columns(["path", "error", "detail"]).sort_by("id")
    rej = table.filter(bad)
    if rej.num_rows:
        write_table(pa.table({"id": rej["id"], "reason": rej["error"], "detail": rej["detail"], "path": rej["path"]},
                             schema=REJECT_SCHEMA), storage.join(out, "rejected", out_name(path)))
    # last: its presence marks the shard done
    write_table(good.cast(PREDICTION_SCHEMA), storage.join(out, out_name(path)))


def _write_unreadable_shard(out: str, path: str, rows: int, why: str) -> None:
    """All `rows` of a shard that cannot be read are rejected (their ids unknown), and the
    shard is marked done with an empty prediction file."""
    reason, _, detail = why.partition(": ")
    write_table(pa.table({"id": pa.nulls(rows, pa.int64()), "reason": [reason] * rows, "detail": [detail] * rows,
                          "path": [path] * rows}, schema=REJECT_SCHEMA), storage.join(out, "rejected", out_name(path)))
    write_table(PREDICTION_SCHEMA.empty_table(), storage.join(out, out_name(path)))
