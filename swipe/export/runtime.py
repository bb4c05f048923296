"""An exported model decoding in onnxruntime, without torch: the same beam search on numpy arrays.

```
EXPORT/
  encoder.onnx        x, y, t, mask (B, T) + each swipe's keys (bbox, centres, key_tokens,
                      half_diag) → cross-attention keys/values cross_k, cross_v (N, B, H, T, Dh):
                      point features, encoder and the decoder's memory projections in one graph
  step.onnx           token (R,), self_k, self_v (N, R, H, S, Dh), cross_k, cross_v, memory_mask
                      → logits (R, V), self_k_out, self_v_out (N, R, H, S + 1, Dh): one decoder step
  *.int8.onnx         the same graphs, weights quantized to int8 (onnxruntime dynamic quantization)
  export.json         alphabet, model config, input spec, the layouts it was trained on, graph names
```

R rows are a search's beams: K per swipe (swipe.decode.search.DecoderState), the cross
keys/values one row per swipe. Nothing here imports torch (tested in a process where it
cannot be imported).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.decode.search import BeamConfig, Candidates, Search, beam_search
from swipe.keyboard import Layout, parse_layouts
from swipe.lexicon import Alphabet, Trie
from swipe.model.inputs import model_inputs
from swipe.model.spec import InputSpec, load_spec
from swipe.model.keys import KeyTable

ENCODER_INPUTS = ("x", "y", "t", "mask", "bbox", "centres", "key_tokens", "half_diag")
ENCODER_OUTPUTS = ("cross_k", "cross_v")
STEP_INPUTS = ("token", "self_k", "self_v", "cross_k", "cross_v", "memory_mask")
STEP_OUTPUTS = ("logits", "self_k_out", "self_v_out")
EXPORT_FILE = "export.json"
Precision = Literal["fp32", "int8"]


def graph_file(name: Literal["encoder", "step"], precision: Precision) -> str:
    return f"{name}.onnx" if precision == "fp32" else f"{name}.{precision}.onnx"


@dataclass
class OrtCache:
    """The decoder's state as numpy arrays, rows following the beams (DecoderState)."""

    self_k: np.ndarray  # (N, R, H, S, Dh)
    self_v: np.ndarray
    cross_k: np.ndarray  # (N, B, H, T, Dh)
    cross_v: np.ndarray
    memory_mask: np.ndarray  # (B, T) bool
    beams: int = 1  # self rows per cross row

    def expand_beams(self, k: int) -> "OrtCache":
        return OrtCache(np.repeat(self.self_k, k, 1), np.repeat(self.self_v, k, 1), self.cross_k, self.cross_v,
                        self.memory_mask, self.beams * k)

    def reorder_beams(self, rows: np.ndarray) -> "OrtCache":
        return OrtCache(self.self_k[:, rows], self.self_v[:, rows], self.cross_k, self.cross_v, self.memory_mask,
                        self.beams)

    def keep_swipes(self, swipes: np.ndarray) -> "OrtCache":
        rows = (swipes[:, None] * self.beams + np.arange(self.beams)).reshape(-1)
        return OrtCache(self.self_k[:, rows], self.self_v[:, rows], self.cross_k[:, swipes],
                        self.cross_v[:, swipes], self.memory_mask[swipes], self.beams)


class OnnxModel:
    """An export folder in onnxruntime sessions: encode swipes over any layout, step the decoder."""

    def __init__(self, folder: str | Path, precision: Precision = "fp32", threads: int = 1):
        import onnxruntime as ort

        folder = Path(folder)
        self.meta = json.loads((folder / EXPORT_FILE).read_text())
        self.alphabet = Alphabet(self.meta["alphabet"])
        self.spec: InputSpec = load_spec(self.meta, str(folder))  # what the model reads, saved at export
        self.max_word_len = int(self.meta["model"]["max_word_len"])
        self.layouts = parse_layouts(self.meta["layouts"])  # the layouts it was trained on
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = threads
        opts.log_severity_level = 3  # warnings about unused initializers are the exporter's, not the user's
        load = lambda name: ort.InferenceSession(str(folder / graph_file(name, precision)), opts,  # noqa: E731
                                                 providers=["CPUExecutionProvider"])
        self.encoder, self.step_session = load("encoder"), load("step")
        n, h = self.meta["graph"]["layers"], self.meta["graph"]["heads"]
        self._empty = (n, h, self.meta["graph"]["head_dim"])
        self._keys: dict[int, tuple[Layout, dict[str, np.ndarray]]] = {}

    def keys_of(self, layout: Layout) -> dict[str, np.ndarray]:
        """The key arrays of one layout, as the encoder takes them (one row)."""
        made = self._keys.get(id(layout))
        if made is None or made[0] is not layout:
            kt = KeyTable.build({layout.name: layout}, self.alphabet)
            made = (layout, {"bbox": kt.bbox, "centres": kt.centres, "key_tokens": kt.tokens,
                             "half_diag": kt.half_diag})
            self._keys[id(layout)] = made
        return made[1]

    def encode(self, points: dict[str, np.ndarray], layouts: list[Layout]) -> OrtCache:
        """The model's inputs (`model_inputs` with its spec) and each swipe's layout → the decoder's start state."""
        keys = [self.keys_of(lay) for lay in layouts]
        width = max(k["centres"].shape[1] for k in keys)
        feed = dict(points)
        for name in ("bbox", "half_diag"):
            feed[name] = np.concatenate([k[name] for k in keys])
        feed["centres"] = np.concatenate([np.pad(k["centres"], ((0, 0), (0, width - k["centres"].shape[1]), (0, 0)))
                                          for k in keys])
        feed["key_tokens"] = np.concatenate([np.pad(k["key_tokens"], ((0, 0), (0, width - k["key_tokens"].shape[1])))
                                             for k in keys])  # padding slots: PAD (0), no key
        cross_k, cross_v = self.encoder.run(list(ENCODER_OUTPUTS), feed)
        n, h, dh = self._empty
        empty = np.zeros((n, len(layouts), h, 0, dh), np.float32)
        return OrtCache(empty, empty, cross_k, cross_v, points["mask"])

    def step(self, tokens: np.ndarray, cache: OrtCache) -> tuple[np.ndarray, OrtCache]:
        """One decoder step for every row: next-token logits (R, V) and the extended state."""
        logits, k, v = self.step_session.run(list(STEP_OUTPUTS), {
            "token": np.ascontiguousarray(tokens, dtype=np.int64), "self_k": np.ascontiguousarray(cache.self_k),
            "self_v": np.ascontiguousarray(cache.self_v), "cross_k": cache.cross_k, "cross_v": cache.cross_v,
            "memory_mask": cache.memory_mask})
        return logits, OrtCache(k, v, cache.cross_k, cache.cross_v, cache.memory_mask, cache.beams)

    def beam_words(self, batch: SwipeBatch, layouts: dict[str, Layout], cfg: BeamConfig, trie: Trie | None
                   ) -> Candidates:
        """Batched beam search of swipes (each over its layout, `batch.grid_names`) on this model."""
        cache = self.encode(model_inputs(batch, self.spec), [layouts[g] for g in batch.grid_names])
        search = Search(self.step, self.alphabet, self.max_word_len, trie, backend="numpy")
        return beam_search(search, cache, len(batch), cfg)
