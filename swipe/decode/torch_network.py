"""The torch backend of `swipe.decode.network.Network`: a SwipeModel on its device."""

from __future__ import annotations

import numpy as np
import torch

from swipe.data.swipes import SwipeBatch
from swipe.decode.attention import memory_attention
from swipe.decode.ctc import CtcConfig, best_path, ctc_beam, token_keys
from swipe.decode.network import Encoded, frame_lengths
from swipe.decode.search import BeamConfig, Candidates, Search, beam_search
from swipe.keyboard import Layout
from swipe.lexicon import PAD, Alphabet, Trie
from swipe.model.inputs import collate, encode_targets
from swipe.model.keys import KeyTable
from swipe.model.spec import InputSpec
from swipe.model.transformer import SwipeModel


class TorchNetwork:
    """A SwipeModel decoding on its own device, reading swipes as `spec` says."""

    backend = "torch"

    def __init__(self, model: SwipeModel, alphabet: Alphabet, spec: InputSpec, layouts: dict[str, Layout]):
        self.model, self.alphabet, self.spec = model, alphabet, spec
        self.max_word_len, self.head = model.cfg.max_word_len, model.cfg.head
        self.set_layouts(layouts)

    def set_layouts(self, layouts: dict[str, Layout]) -> None:
        self.model.set_keys(KeyTable.build(layouts, self.alphabet, unknown_ok=self.model.key_head is not None))
        self.grid_index = {g: i for i, g in enumerate(self.model.grid_names)}

    @property
    def grid_names(self) -> list[str]:
        """The layouts swipes may be on now (the model's key table)."""
        return self.model.grid_names

    @property
    def device(self) -> torch.device:
        return self.model.features.stats_mean.device

    def tensors(self, part: SwipeBatch) -> dict[str, torch.Tensor]:
        """The collated model inputs of these swipes, on the model's device."""
        tensors = collate(part, self.grid_index, self.alphabet, self.spec, self.max_word_len, targets=False)
        return {k: v.to(self.device) for k, v in tensors.items()}

    @torch.inference_mode()
    def encode(self, part: SwipeBatch) -> Encoded:
        tensors = self.tensors(part)
        m = self.model
        memory, key_logp = m.encode_keys(tensors["x"], tensors["y"], tensors["t"], tensors["mask"],
                                         *m.key_rows(tensors["grid"]))
        points = {k: tensors[k].cpu().numpy() for k in ("x", "y", "t", "mask")}
        return Encoded(part, points, (memory, tensors["mask"]),
                       None if key_logp is None else key_logp.float().cpu().numpy(), m.cfg.subsample)

    @torch.inference_mode()
    def beams(self, enc: Encoded, trie: Trie | None, cfg: BeamConfig) -> Candidates:
        memory, mask = enc.state
        search = Search(self.model.decode_step, self.alphabet, self.max_word_len, trie, memory.device)
        return beam_search(search, self.model.start_cache(memory, mask), memory.shape[0], cfg)

    @torch.inference_mode()
    def word_logprobs(self, enc: Encoded, swipe: np.ndarray, words: list[str]) -> np.ndarray:
        if not words:
            return np.zeros(0, np.float32)
        memory, mask = enc.state
        rows = torch.as_tensor(swipe, device=memory.device)
        tin, tout = (t.to(memory.device) for t in encode_targets(words, self.alphabet, self.max_word_len))
        logits = self.model.decode(tin, memory[rows], mask[rows])
        logp = torch.log_softmax(logits.float(), -1).gather(-1, tout.clamp(min=0)[..., None])[..., 0]
        return (logp * (tout != PAD)).sum(1).cpu().numpy()

    def attention(self, enc: Encoded, row: int, words: list[str]) -> list[np.ndarray]:
        memory, mask = enc.state
        n = int(mask[row].sum())
        return memory_attention(self.model, memory[row:row + 1, :n], mask[row:row + 1, :n], words, self.alphabet)


@torch.no_grad()
def model_ctc_words(model: SwipeModel, tensors: dict[str, torch.Tensor], alphabet: Alphabet, trie: Trie | None,
                    cfg: CtcConfig, best: bool = False, chunk: int = 128) -> list:
    """A key head's readings of collated swipes (x, y, t, mask, grid over the model's key table):
    per swipe its CTC trie beam's candidates, or (`best`) its best path as a string. The trie's
    alphabet is `alphabet`, the model's (training and validation)."""
    keys = model.features.key_tokens.cpu().numpy()
    letters = ["".join(alphabet.tokens[k] if k < alphabet.size else "\0" for k in row) for row in keys]
    device = model.features.stats_mean.device
    out: list = []
    for s in range(0, len(tensors["x"]), chunk):
        part = {k: v[s:s + chunk].to(device) for k, v in tensors.items()}
        _, logp = model.encode_keys(part["x"], part["y"], part["t"], part["mask"], *model.key_rows(part["grid"]))
        logp = logp.float().cpu().numpy()
        lengths = frame_lengths(part["mask"].sum(1).cpu().numpy(), model.cfg.subsample)
        rows = [letters[g] for g in part["grid"].cpu().numpy()]
        if best:
            out += best_path(logp, lengths, rows)
        else:
            out += ctc_beam(logp, lengths, np.stack([token_keys(r, alphabet) for r in rows]), trie, cfg)
    return out
