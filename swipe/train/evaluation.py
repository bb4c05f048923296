"""The evaluation sets of a training run: dataset splits decoded with its best checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from swipe.data.dataset import head_batch, split_files
from swipe.decode.ctc import CtcConfig
from swipe.decode.search import greedy_words
from swipe.decode.torch_network import model_ctc_words
from swipe.lexicon import Trie
from swipe.metrics import summarize
from swipe.model.inputs import collate
from swipe.model.spec import InputSpec
from swipe.model.transformer import SwipeModel


@dataclass(frozen=True)
class EvalSet:
    """A dataset split decoded with the best checkpoint after training."""

    name: str  # the evaluation set's name in the results
    dataset: str  # its dataset folder or URI
    split: str  # the split of `dataset` decoded
    rows: int = 0  # 0 = all



@torch.no_grad()
def evaluate_split(model: SwipeModel, ev: EvalSet, trie: Trie, spec: InputSpec, batch_size: int = 256) -> dict[str, float]:
    """Greedy lexicon decoding of a whole split with `model` (CPU, in this process); a model with a
    key head: its CTC trie beam (swipe.decode.ctc's defaults)."""
    batch = head_batch(split_files(ev.dataset, ev.split), ev.rows)
    grid_index = {g: i for i, g in enumerate(model.grid_names)}
    alphabet = trie.alphabet
    words: list[str] = []
    for s in range(0, len(batch), batch_size):
        part = batch.take(np.arange(s, min(s + batch_size, len(batch))))
        tensors = collate(part, grid_index, alphabet, spec, model.cfg.max_word_len, targets=False)
        if model.key_head is not None:
            words += [c[0][0] if c else "" for c in model_ctc_words(model, tensors, alphabet, trie, CtcConfig())]
        else:
            words += greedy_words(model, tensors, alphabet, trie).words
    in_lexicon = np.mean([w is not None and trie.contains(w) for w in batch.words])
    return summarize([[w] for w in words], batch.words) | {"reference_in_lexicon": float(in_lexicon)}
