"""The training data stream: Parquet shards → Ray Data → noise augmentation → padded tensors.

```
read_parquet(train shards) ─► per epoch: randomize_block_order(seed+e)
   ─► map_batches(Augment(epoch=e), pyarrow) ─► union of the epochs ─► streaming split
   ─► iter_torch_batches(collate_fn=PadCollate)         (validation: read once, materialised)
```
"""

from __future__ import annotations


import pyarrow as pa
import ray.data

from swipe.console import verbose
import torch
from ray.data.collate_fn import ArrowBatchCollateFn

from swipe.data.dataset import head_table
from swipe.data.swipes import SwipeBatch
from swipe.lexicon import Alphabet
from swipe.model.inputs import collate
from swipe.model.spec import InputSpec
from swipe.train.augment import Augment
from swipe.train.config import DataConfig


class PadCollate(ArrowBatchCollateFn):
    """`iter_torch_batches`' collate function: an Arrow batch → `swipe.model.inputs.collate`."""

    def __init__(self, grid_index: dict[str, int], alphabet: Alphabet, spec: InputSpec, max_word_len: int):
        self.grid_index, self.alphabet = grid_index, alphabet
        self.spec, self.max_word_len = spec, max_word_len

    def __call__(self, table: pa.Table) -> dict[str, torch.Tensor]:
        return collate(SwipeBatch.from_arrow(table), self.grid_index, self.alphabet, self.spec, self.max_word_len)


def train_dataset(files: list[str], key_width: dict[str, float], cfg: DataConfig, epochs: int) -> ray.data.Dataset:
    """`epochs` passes over the training shards, each with its own block order and noise."""
    base = read_shards(files, cfg.read_blocks)
    passes = [base.randomize_block_order(seed=cfg.augment.seed + e)
              .map_batches(Augment(key_width, cfg.augment, e), batch_format="pyarrow", batch_size=1024)
              for e in range(epochs)]
    ds = passes[0].union(*passes[1:]) if len(passes) > 1 else passes[0]
    _console(ds)
    return ds


def read_shards(files: list[str], blocks: int | None) -> ray.data.Dataset:
    """`read_parquet` of the listed shards through Ray Data's first Parquet reader. The files are known
    (the manifest lists them), and the newer reader lists them again and starts a pool of footer-reading
    actors for every dataset it reads: about 5 s of every fit's start on 2 cores (20.5 against 26 s for a
    10-step fit here), paid again by each fit and each Tune trial."""
    ctx = ray.data.DataContext.get_current()
    before, ctx.use_datasource_v2 = ctx.use_datasource_v2, False
    try:
        return ray.data.read_parquet(files, override_num_blocks=blocks)
    finally:
        ctx.use_datasource_v2 = before


def val_dataset(files: list[str], cfg: DataConfig) -> ray.data.Dataset:
    """Validation rows: the first `val_rows` of the split (0: all), so every run and every
    trial of a sweep validates on the same rows; read once, kept in the object store."""
    ds = ray.data.from_arrow(head_table(files, cfg.val_rows))
    _console(ds)
    return ds


def _console(ds: ray.data.Dataset) -> None:
    """This dataset's own context (the process's stays as it is): no progress bars in the
    workers' output (training prints its own progress), no execution plan unless --verbose."""
    ds.context.enable_progress_bars = False
    ds.context.print_on_execution_start = verbose()
