"""A prediction folder on disk: what the prediction job writes, and reading it back.

```
OUT/                        a folder or a URI (s3://…)
  part-NNNNN.parquet        one per input shard, written once complete: PREDICTION_SCHEMA
  rejected/part-NNNNN.parquet  the shard's rows that could not be decoded: REJECT_SCHEMA
  prediction.json           checkpoint, dataset, split, config, rows in = out + rejected
```
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from swipe import storage
from swipe.metrics import summarize

PREDICTION_INFO = "prediction.json"

PREDICTION_SCHEMA = pa.schema([
    pa.field("id", pa.int64(), nullable=False),
    pa.field("word", pa.string()),  # the reference, when the input has one
    pa.field("grid_name", pa.string()),
    pa.field("candidates", pa.list_(pa.string())),  # best first, each word once
    pa.field("scores", pa.list_(pa.float32())),
    pa.field("user", pa.string()),  # who swiped it, where the input says
])

REJECT_SCHEMA = pa.schema([
    pa.field("id", pa.int64()),  # null when the shard could not be read
    pa.field("reason", pa.string()),  # validate's reasons, missing_field, length_mismatch, *_shard, bad_schema
    pa.field("detail", pa.string()),
    pa.field("path", pa.string()),  # the input shard
])


def read_info(out: str | Path) -> dict[str, Any]:
    """prediction.json of a prediction folder (or URI): what was decoded, with what, and the row counts."""
    return json.loads(storage.read_text(storage.join(out, PREDICTION_INFO)))


def out_name(shard: str) -> str:
    """The output file of an input shard: its own name (part-NNNNN.parquet), one output per input."""
    return Path(shard).name


def read_predictions(out: str | Path) -> pa.Table:
    """Every prediction of a folder (or URI) written by the prediction job, as one table."""
    files = [f for f in storage.list_files(out, ".parquet") if storage.basename(f).startswith("part-")]
    tables = [pq.read_table(storage.open_input(f)) for f in files]
    tables = [t if "user" in t.column_names else t.append_column("user", pa.nulls(t.num_rows, pa.string()))
              for t in tables]  # folders written before the user column
    return pa.concat_tables(tables).select(PREDICTION_SCHEMA.names) if tables else PREDICTION_SCHEMA.empty_table()


def prediction_metrics(table: pa.Table) -> dict[str, Any]:
    """swipe_mrr, acc@1..4 of a table of predictions against its references."""
    return summarize(table["candidates"].to_pylist(), table["word"].to_pylist())
