"""An exported model decoding in onnxruntime, without torch: the same beam search on numpy arrays.

```
EXPORT/
  encoder.onnx        x, y, t, mask (B, T) + each swipe's keys (bbox, centres, key_tokens,
                      half_diag) → cross-attention keys/values cross_k, cross_v (N, B, H, T, Dh):
                      point features, encoder and the decoder's memory projections in one graph
  step.onnx           token (R,), self_k, self_v (N, R, H, S, Dh), cross_k, cross_v, memory_mask
                      → logits (R, V), self_k_out, self_v_out (N, R, H, S + 1, Dh): one decoder step
  score.onnx          tokens_in, tokens_out (R, L) (BOS + word, word + EOS), cross_k, cross_v,
                      memory_mask → logp (R,): each word's teacher-forced Σ log p (the fused score)
  attention.onnx      tokens_in (R, L), cross_k, cross_v, memory_mask → attention (R, L, T): each
                      letter's cross-attention, averaged over layers and heads
  *.int8.onnx         the same graphs, weights quantized to int8 (onnxruntime dynamic quantization)
  export.json         alphabet, model config, input spec, the layouts it was trained on, graph names
```

R rows are a search's beams, or a swipe's candidate words: K per swipe
(swipe.decode.search.DecoderState), the cross keys/values one row per swipe. `OnnxModel` is
a `swipe.decode.network.Network`: `SwipeDecoder` runs greedy, beam, template and fused
decoding on it through the same code as on torch. Nothing here imports torch (tested in a
process where it cannot be imported).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from swipe.data.swipes import SwipeBatch
from swipe.decode.network import Encoded
from swipe.decode.search import BeamConfig, Candidates, Search, beam_search
from swipe.keyboard import Layout, parse_layouts
from swipe.lexicon import Alphabet, Trie
from swipe.model.inputs import model_inputs, target_arrays
from swipe.model.spec import InputSpec, load_spec
from swipe.model.keys import KeyTable

ENCODER_INPUTS = ("x", "y", "t", "mask", "bbox", "centres", "key_tokens", "half_diag")
ENCODER_OUTPUTS = ("cross_k", "cross_v")
STEP_INPUTS = ("token", "self_k", "self_v", "cross_k", "cross_v", "memory_mask")
STEP_OUTPUTS = ("logits", "self_k_out", "self_v_out")
SCORE_INPUTS = ("tokens_in", "tokens_out", "cross_k", "cross_v", "memory_mask")
SCORE_OUTPUTS = ("logp",)
ATTENTION_INPUTS = ("tokens_in", "cross_k", "cross_v", "memory_mask")
ATTENTION_OUTPUTS = ("attention",)
GRAPHS = ("encoder", "step", "score", "attention")
EXPORT_FILE = "export.json"
Precision = Literal["fp32", "int8"]


def graph_file(name: str, precision: Precision) -> str:
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
    """An export folder in onnxruntime sessions: encode swipes over any layout, step the
    decoder, score whole words; a `swipe.decode.network.Network` on the "onnxruntime" backend."""

    backend = "onnxruntime"

    def __init__(self, folder: str | Path, precision: Precision = "fp32", threads: int = 1):
        import onnxruntime as ort

        folder = Path(folder)
        self.folder, self.precision = folder, precision
        self.meta = json.loads((folder / EXPORT_FILE).read_text())
        self.alphabet = Alphabet(self.meta["alphabet"])
        self.spec: InputSpec = load_spec(self.meta, str(folder))  # what the model reads, saved at export
        self.max_word_len = int(self.meta["model"]["max_word_len"])
        self.layouts = parse_layouts(self.meta["layouts"])  # the layouts it was trained on
        missing = [graph_file(g, precision) for g in GRAPHS if not (folder / graph_file(g, precision)).exists()]
        if missing:
            raise FileNotFoundError(f"{folder} lacks {missing}: an export made before the score and attention "
                                    f"graphs, or without int8; export it again (jobs/export.py)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = threads
        opts.log_severity_level = 3  # warnings about unused initializers are the exporter's, not the user's
        load = lambda name: ort.InferenceSession(str(folder / graph_file(name, precision)), opts,  # noqa: E731
                                                 providers=["CPUExecutionProvider"])
        self.encoder, self.step_session = load("encoder"), load("step")
        self.score_session, self.attention_session = load("score"), load("attention")
        n, h = self.meta["graph"]["layers"], self.meta["graph"]["heads"]
        self._empty = (n, h, self.meta["graph"]["head_dim"])
        self._keys: dict[int, tuple[Layout, dict[str, np.ndarray]]] = {}
        self._layouts: dict[str, Layout] = dict(self.layouts)

    def set_layouts(self, layouts: dict[str, Layout]) -> None:
        self._layouts = dict(layouts)
        held = {id(lay) for lay in layouts.values()} | {id(lay) for lay in self.layouts.values()}
        self._keys = {k: v for k, v in self._keys.items() if k in held}  # a forgotten layout's arrays go too

    @property
    def grid_names(self) -> list[str]:
        """The layouts swipes may be on now."""
        return list(self._layouts)

    def keys_of(self, layout: Layout) -> dict[str, np.ndarray]:
        """The key arrays of one layout, as the encoder takes them (one row)."""
        made = self._keys.get(id(layout))
        if made is None or made[0] is not layout:
            kt = KeyTable.build({layout.name: layout}, self.alphabet)
            made = (layout, {"bbox": kt.bbox, "centres": kt.centres, "key_tokens": kt.tokens,
                             "half_diag": kt.half_diag})
            self._keys[id(layout)] = made
        return made[1]

    def encode_points(self, points: dict[str, np.ndarray], layouts: list[Layout]) -> OrtCache:
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

    def encode(self, part: SwipeBatch) -> Encoded:
        points = model_inputs(part, self.spec)
        try:
            layouts = [self._layouts[g] for g in part.grid_names]
        except KeyError as e:
            raise KeyError(f"grid {e.args[0]!r} is not a layout this decoder knows: {sorted(self._layouts)}") from None
        return Encoded(part, points, self.encode_points(points, layouts))

    def step(self, tokens: np.ndarray, cache: OrtCache) -> tuple[np.ndarray, OrtCache]:
        """One decoder step for every row: next-token logits (R, V) and the extended state."""
        logits, k, v = self.step_session.run(list(STEP_OUTPUTS), {
            "token": np.ascontiguousarray(tokens, dtype=np.int64), "self_k": np.ascontiguousarray(cache.self_k),
            "self_v": np.ascontiguousarray(cache.self_v), "cross_k": cache.cross_k, "cross_v": cache.cross_v,
            "memory_mask": cache.memory_mask})
        return logits, OrtCache(k, v, cache.cross_k, cache.cross_v, cache.memory_mask, cache.beams)

    def beams(self, enc: Encoded, trie: Trie | None, cfg: BeamConfig) -> Candidates:
        search = Search(self.step, self.alphabet, self.max_word_len, trie, backend="numpy")
        return beam_search(search, enc.state, len(enc.part), cfg)

    def word_logprobs(self, enc: Encoded, swipe: np.ndarray, words: list[str]) -> np.ndarray:
        """One row per word (its swipe's cross keys/values gathered: no padding to the swipe
        with the most words), in two passes by length (a long word pads the short ones less)."""
        out = np.zeros(len(words), np.float32)
        if not words:
            return out
        c, swipe = enc.state, np.asarray(swipe, np.int64)
        lens = np.fromiter((len(w) for w in words), np.int64, len(words))
        cut = np.median(lens)
        for rows in (np.flatnonzero(lens <= cut), np.flatnonzero(lens > cut)):
            if not len(rows):
                continue
            tin, tout = target_arrays([words[i] for i in rows], self.alphabet, self.max_word_len)
            on = swipe[rows]
            (logp,) = self.score_session.run(list(SCORE_OUTPUTS), {
                "tokens_in": tin, "tokens_out": tout, "cross_k": np.take(c.cross_k, on, axis=1),
                "cross_v": np.take(c.cross_v, on, axis=1), "memory_mask": c.memory_mask[on]})
            out[rows] = logp
        return out

    def attention(self, enc: Encoded, row: int, words: list[str]) -> list[np.ndarray]:
        if not words:
            return []
        c = enc.state
        n = int(c.memory_mask[row].sum())
        tin, _ = target_arrays(words, self.alphabet, self.max_word_len)
        (att,) = self.attention_session.run(list(ATTENTION_OUTPUTS), {
            "tokens_in": tin, "cross_k": np.ascontiguousarray(c.cross_k[:, row:row + 1, :, :n]),
            "cross_v": np.ascontiguousarray(c.cross_v[:, row:row + 1, :, :n]),
            "memory_mask": np.ascontiguousarray(c.memory_mask[row:row + 1, :n])})
        return [att[i, :len(w)] for i, w in enumerate(words)]

    def beam_words(self, batch: SwipeBatch, layouts: dict[str, Layout], cfg: BeamConfig, trie: Trie | None
                   ) -> Candidates:
        """Batched beam search of swipes (each over its layout, `batch.grid_names`) on this model."""
        points = model_inputs(batch, self.spec)
        enc = Encoded(batch, points, self.encode_points(points, [layouts[g] for g in batch.grid_names]))
        return self.beams(enc, trie, cfg)
