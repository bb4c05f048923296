"""The prediction table: which predictor scored what, one Parquet file that merges across machines.

A predictor is identified by its checkpoint, a hash of its model config, the decoder's name
and its *canonical* arguments (every default filled in, keys sorted; an unknown argument
is an error), the layout and the split. Two equal predictors therefore always get the same
key and two different ones never do. Each row maps that identity to a prediction folder
and its metrics. Tables written on different machines merge; two rows for one predictor
that disagree are an error, never a silent overwrite.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from swipe import storage

from swipe.config import ConfigError, build_config, config_to_dict
from swipe.decode.fused import FusedConfig
from swipe.decode.search import BeamConfig
from swipe.decode.template import TemplateConfig
from swipe.lexicon import LexiconConfig
from swipe.provenance import now_iso, redact


@dataclass(frozen=True)
class GreedyArgs:
    """Greedy decoding has no knobs besides the lexicon."""


@dataclass(frozen=True)
class EnsembleArgs:
    """An ensemble's members (their test prediction folders) and what was fitted."""

    members: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()  # ensemble_weighted
    order: tuple[int, ...] = ()  # ensemble_append: member priority


DECODERS: dict[str, type] = {"greedy": GreedyArgs, "greedy_lexicon": GreedyArgs, "beam": BeamConfig,
                             "beam_lexicon": BeamConfig, "template": TemplateConfig, "fused": FusedConfig,
                             "ensemble_weighted": EnsembleArgs, "ensemble_append": EnsembleArgs}
LEXICON_DECODERS = ("greedy_lexicon", "beam_lexicon", "template", "fused")

SCHEMA = pa.schema([
    ("key", pa.string()), ("checkpoint", pa.string()), ("model_hash", pa.string()), ("decoder", pa.string()),
    ("decoder_args", pa.string()), ("layout", pa.string()), ("dataset", pa.string()), ("split", pa.string()),
    ("predictions", pa.string()), ("metrics", pa.string()), ("created", pa.string()),
])
IDENTITY = ("checkpoint", "model_hash", "decoder", "decoder_args", "layout", "split")
PAYLOAD = ("dataset", "predictions", "metrics")
AGREE = ("dataset", "metrics")  # must agree when two tables hold the same key


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_args(decoder: str, args: dict[str, Any], lexicon: dict[str, Any] | None = None,
                   input_spec: dict[str, Any] | None = None) -> str:
    """Decoder arguments with defaults filled in, as canonical JSON; unknown names are errors.
    `input_spec`: what the model read (prediction.json's), part of the predictor's identity."""
    if decoder not in DECODERS:
        raise ConfigError(f"unknown decoder {decoder!r}; known: {sorted(DECODERS)}")
    full = config_to_dict(build_config(DECODERS[decoder], args, where=f"{decoder}."))
    if decoder in LEXICON_DECODERS:
        full["lexicon"] = config_to_dict(build_config(LexiconConfig, lexicon or {}, where="lexicon."))
    elif lexicon:
        raise ConfigError(f"decoder {decoder!r} takes no lexicon")
    if input_spec is not None:
        full["input_spec"] = input_spec
    return _canonical(full)


def model_identity(meta: dict[str, Any]) -> dict[str, Any]:
    """What tells two models apart, from their metadata: the architecture, and the training run
    (when it started) and step that made the weights. A model re-shipped to the same path is
    another predictor. Template matching has no model: {}."""
    if not meta:
        return {}
    return {"model": meta.get("model", {}), "trained": meta.get("train", {}).get("created"), "step": meta.get("step")}


def model_hash(model_config: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(model_config).encode()).hexdigest()[:16]


def predictor_row(checkpoint: str, model_config: dict[str, Any], decoder: str, args: dict[str, Any],
                  lexicon: dict[str, Any] | None, layout: str, dataset: str, split: str, predictions: str,
                  metrics: dict[str, float], input_spec: dict[str, Any] | None = None) -> dict[str, str]:
    row = redact({"checkpoint": str(checkpoint), "model_hash": model_hash(model_config), "decoder": decoder,
                  "decoder_args": canonical_args(decoder, args, lexicon, input_spec), "layout": layout, "split": split})
    row["key"] = hashlib.sha256(_canonical([row[k] for k in IDENTITY]).encode()).hexdigest()[:20]
    return row | redact({"dataset": dataset, "predictions": str(predictions), "metrics": _canonical(metrics),
                         "created": now_iso()})


class ConflictError(ValueError):
    """Two rows for the same predictor disagree."""


def merge_rows(*tables: list[dict[str, str]]) -> list[dict[str, str]]:
    """Union of tables by key; duplicates that agree collapse, disagreeing ones raise.

    The same predictor re-measured into another prediction folder with the same dataset and
    metrics (a second `make quickstart`) agrees: the first row is kept, as it was."""
    out: dict[str, dict[str, str]] = {}
    for table in tables:
        for row in table:
            old = out.get(row["key"])
            if old is None:
                out[row["key"]] = row
            elif any(old[k] != row[k] for k in AGREE):
                diff = {k: (old[k], row[k]) for k in PAYLOAD if old[k] != row[k]}
                raise ConflictError(f"predictor {row['key']} ({row['decoder']} on {row['split']}/{row['layout']}) "
                                    f"has conflicting rows: {diff}; the table keeps one measurement per "
                                    "predictor: evaluate with registry=<another table> (or registry='') to keep both")
    return sorted(out.values(), key=lambda r: (r["split"], r["layout"], r["decoder"], r["key"]))


def load_table(path: str | Path) -> list[dict[str, str]]:
    """The prediction table at `path` (a file or a URI); [] when there is none yet."""
    return pq.read_table(storage.open_input(path)).to_pylist() if storage.exists(path) else []


def save_table(rows: list[dict[str, str]], path: str | Path) -> str:
    from swipe.data.dataset import write_table

    write_table(pa.Table.from_pylist(rows, schema=SCHEMA), str(path))
    return str(path)


def register(path: str | Path, rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Merge `rows` into the table at `path` (created if absent) and save it."""
    merged = merge_rows(load_table(path), rows)
    save_table(merged, path)
    return merged
