"""An exported model decoding in onnxruntime, without torch: the same beam search on numpy arrays.

```
EXPORT/
  encoder.onnx        x, y, t, mask (B, T) + each swipe's keys (bbox, centres, key_tokens,
                      half_diag; a key head: key_sizes too) → cross-attention keys/values
                      cross_k.i, cross_v.i (B, H, T, Dh) for each decoder layer i (a model with
                      a decoder), and key_logp (B, T, K + 1) (a key head: blank, then each key):
                      point features, encoder, the decoder's memory projections, the key head
  step.onnx           token (R,), self_k.i, self_v.i (R, H, S, Dh), cross_k.i, cross_v.i, memory_mask
                      → logits (R, V), self_k_out.i, self_v_out.i (R, H, S + 1, Dh): one decoder step
  score.onnx          tokens_in, tokens_out (R, L) (BOS + word, word + EOS), cross_k, cross_v,
                      memory_mask → logp (R,): each word's teacher-forced Σ log p (the fused score)
  attention.onnx      tokens_in (R, L), cross_k, cross_v, memory_mask → attention (R, L, T): each
                      letter's cross-attention, averaged over layers and heads
  *.int8.onnx         the same graphs, weights quantized to int8 (onnxruntime dynamic quantization)
  export.json         alphabet, model config, input spec, the layouts it was trained on, graph names
```
A model with head ctc has no decoder: its export is the encoder graph alone.

R rows are a search's beams, or a swipe's candidate words: K per swipe
(swipe.decode.search.DecoderState), the cross keys/values one row per swipe. Every cache is one
input per decoder layer: onnxruntime copies a slice of a stacked input, so a stacked cache was
copied twice a step (format 1; 16% of a step). `OnnxModel` is
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
KEY_INPUTS, KEY_OUTPUTS = ("key_sizes",), ("key_logp",)  # a key head's (ModelConfig.head ctc, hybrid)
STEP_INPUTS = ("token", "self_k", "self_v", "cross_k", "cross_v", "memory_mask")
STEP_OUTPUTS = ("logits", "self_k_out", "self_v_out")
SCORE_INPUTS = ("tokens_in", "tokens_out", "cross_k", "cross_v", "memory_mask")
SCORE_OUTPUTS = ("logp",)
ATTENTION_INPUTS = ("tokens_in", "cross_k", "cross_v", "memory_mask")
ATTENTION_OUTPUTS = ("attention",)
PER_LAYER = frozenset({"cross_k", "cross_v", "self_k", "self_v", "self_k_out", "self_v_out"})  # one per layer
GRAPHS = ("encoder", "step", "score", "attention")
EXPORT_FILE = "export.json"
EXPORT_FORMAT = 3  # 2: caches one input per layer; 3: a key head's inputs and outputs, the head in model


def encoder_names(head: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The encoder graph's inputs and outputs for a model of this head (ModelConfig.head)."""
    keyed = head != "ar"
    return (ENCODER_INPUTS + (KEY_INPUTS if keyed else ()),
            (ENCODER_OUTPUTS if head != "ctc" else ()) + (KEY_OUTPUTS if keyed else ()))


def graphs(head: str) -> tuple[str, ...]:
    """The graphs of a model of this head: a model without a decoder has only its encoder."""
    return GRAPHS if head != "ctc" else ("encoder",)
Precision = Literal["fp32", "int8"]


def graph_file(name: str, precision: Precision) -> str:
    return f"{name}.onnx" if precision == "fp32" else f"{name}.{precision}.onnx"


def flat_names(names: tuple[str, ...], layers: int) -> list[str]:
    """A graph's input or output names as exported: each cache (`PER_LAYER`) as one per decoder
    layer, "cross_k.0", "cross_k.1", …"""
    return [x for n in names for x in ([f"{n}.{i}" for i in range(layers)] if n in PER_LAYER else [n])]


def by_layer(name: str, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """One cache's per-layer arrays as a graph's inputs."""
    return {f"{name}.{i}": a for i, a in enumerate(arrays)}


@dataclass
class OrtCache:
    """The decoder's state as numpy arrays, one per decoder layer, rows following the beams (DecoderState)."""

    self_k: list[np.ndarray]  # (R, H, S, Dh) each
    self_v: list[np.ndarray]
    cross_k: list[np.ndarray]  # (B, H, T, Dh) each
    cross_v: list[np.ndarray]
    memory_mask: np.ndarray  # (B, T) bool
    beams: int = 1  # self rows per cross row

    def expand_beams(self, k: int) -> "OrtCache":
        return OrtCache([np.repeat(a, k, 0) for a in self.self_k], [np.repeat(a, k, 0) for a in self.self_v],
                        self.cross_k, self.cross_v, self.memory_mask, self.beams * k)

    def reorder_beams(self, rows: np.ndarray) -> "OrtCache":
        return OrtCache([a[rows] for a in self.self_k], [a[rows] for a in self.self_v], self.cross_k, self.cross_v,
                        self.memory_mask, self.beams)

    def keep_swipes(self, swipes: np.ndarray) -> "OrtCache":
        rows = (swipes[:, None] * self.beams + np.arange(self.beams)).reshape(-1)
        return OrtCache([a[rows] for a in self.self_k], [a[rows] for a in self.self_v],
                        [a[swipes] for a in self.cross_k], [a[swipes] for a in self.cross_v],
                        self.memory_mask[swipes], self.beams)


PASS_LETTERS = 4  # a pass of a graph costs about as much as this many padded letters over its rows


def length_passes(lens: np.ndarray) -> list[np.ndarray]:
    """Rows grouped into passes of similar length: the teacher-forced graphs cost about their
    rows × their longest word, plus a fixed cost per pass. Lengths in order: a pass ends
    before the next length where padding its rows to it would cost more than PASS_LETTERS
    letters a pass."""
    order = np.argsort(lens, kind="stable")
    values, counts = np.unique(lens, return_counts=True)
    ends = np.cumsum(counts)
    cuts, start = [], 0
    for j in range(len(values) - 1):  # a cut after length values[j]?
        if (values[j + 1] - values[j]) * (ends[j] - start) > PASS_LETTERS:
            cuts.append(ends[j])
            start = ends[j]
    return np.split(order, cuts)


class OnnxModel:
    """An export folder in onnxruntime sessions: encode swipes over any layout, step the
    decoder, score whole words; a `swipe.decode.network.Network` on the "onnxruntime" backend."""

    backend = "onnxruntime"

    def __init__(self, folder: str | Path, precision: Precision = "fp32", threads: int = 1):
        import onnxruntime as ort

        folder = Path(folder)
        self.folder, self.precision = folder, precision
        self.meta = json.loads((folder / EXPORT_FILE).read_text())
        if self.meta.get("format", 1) != EXPORT_FORMAT:
            raise ValueError(f"{folder} is an export of format {self.meta.get('format', 1)}; this swipe reads format "
                             f"{EXPORT_FORMAT} (a key head's graphs): export it again (`swipe export`)")
        self.alphabet = Alphabet(self.meta["alphabet"])
        self.spec: InputSpec = load_spec(self.meta, str(folder))  # what the model reads, saved at export
        self.max_word_len = int(self.meta["model"]["max_word_len"])
        self.head = self.meta["model"].get("head", "ar")
        self.subsample = int(self.meta["model"].get("subsample", 1))
        self.layouts = parse_layouts(self.meta["layouts"])  # the layouts it was trained on
        missing = [graph_file(g, precision) for g in graphs(self.head) if not (folder / graph_file(g, precision)).exists()]
        if missing:
            raise FileNotFoundError(f"{folder} lacks {missing}: an export made before the score and attention "
                                    f"graphs, or without int8; export it again (`swipe export`)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = threads
        opts.log_severity_level = 3  # warnings about unused initializers are the exporter's, not the user's
        load = lambda name: ort.InferenceSession(str(folder / graph_file(name, precision)), opts,  # noqa: E731
                                                 providers=["CPUExecutionProvider"])
        self.encoder = load("encoder")
        decoder = self.head != "ctc"
        self.step_session = load("step") if decoder else None
        self.score_session = load("score") if decoder else None
        self.attention_session = load("attention") if decoder else None
        self.layers = n = self.meta["graph"]["layers"]
        self._empty = (n, self.meta["graph"]["heads"], self.meta["graph"]["head_dim"])
        self._names = {g: flat_names(names, n) for g, names in (("encoder", encoder_names(self.head)[1]),
                                                                ("step", STEP_OUTPUTS))}
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
            kt = KeyTable.build({layout.name: layout}, self.alphabet, unknown_ok=self.head != "ar")
            made = (layout, {"bbox": kt.bbox, "centres": kt.centres, "key_tokens": kt.tokens,
                             "half_diag": kt.half_diag, "key_sizes": kt.sizes})
            self._keys[id(layout)] = made
        return made[1]

    def encode_points(self, points: dict[str, np.ndarray], layouts: list[Layout]
                      ) -> tuple[OrtCache | None, np.ndarray | None]:
        """The model's inputs (`model_inputs` with its spec) and each swipe's layout → the decoder's
        start state (a model with a decoder) and the key head's log-probabilities (a key head)."""
        keys = [self.keys_of(lay) for lay in layouts]
        width = max(k["centres"].shape[1] for k in keys)
        feed = dict(points)
        for name in ("bbox", "half_diag"):
            feed[name] = np.concatenate([k[name] for k in keys])
        feed["centres"] = np.concatenate([np.pad(k["centres"], ((0, 0), (0, width - k["centres"].shape[1]), (0, 0)))
                                          for k in keys])
        feed["key_tokens"] = np.concatenate([np.pad(k["key_tokens"], ((0, 0), (0, width - k["key_tokens"].shape[1])))
                                             for k in keys])  # padding slots: PAD (0), no key
        if self.head != "ar":
            feed["key_sizes"] = np.concatenate([np.pad(k["key_sizes"], ((0, 0), (0, width - k["key_sizes"].shape[1]),
                                                                        (0, 0)), constant_values=1.0) for k in keys])
        out = self.encoder.run(self._names["encoder"], feed)
        key_logp = out.pop() if self.head != "ar" else None
        if self.head == "ctc":
            return None, key_logp
        n, h, dh = self._empty
        empty = [np.zeros((len(layouts), h, 0, dh), np.float32)] * n
        return OrtCache(empty, empty, out[:n], out[n:], points["mask"]), key_logp

    def encode(self, part: SwipeBatch) -> Encoded:
        points = model_inputs(part, self.spec)
        try:
            layouts = [self._layouts[g] for g in part.grid_names]
        except KeyError as e:
            raise KeyError(f"grid {e.args[0]!r} is not a layout this decoder knows: {sorted(self._layouts)}") from None
        return Encoded(part, points, *self.encode_points(points, layouts), self.subsample)

    def step(self, tokens: np.ndarray, cache: OrtCache) -> tuple[np.ndarray, OrtCache]:
        """One decoder step for every row: next-token logits (R, V) and the extended state."""
        n = self.layers
        logits, *kv = self.step_session.run(self._names["step"], {
            "token": np.ascontiguousarray(tokens, dtype=np.int64), **by_layer("self_k", cache.self_k),
            **by_layer("self_v", cache.self_v), **by_layer("cross_k", cache.cross_k),
            **by_layer("cross_v", cache.cross_v), "memory_mask": cache.memory_mask})
        return logits, OrtCache(kv[:n], kv[n:], cache.cross_k, cache.cross_v, cache.memory_mask, cache.beams)

    def beams(self, enc: Encoded, trie: Trie | None, cfg: BeamConfig) -> Candidates:
        search = Search(self.step, self.alphabet, self.max_word_len, trie, backend="numpy")
        return beam_search(search, enc.state, len(enc.part), cfg)

    def word_logprobs(self, enc: Encoded, swipe: np.ndarray, words: list[str]) -> np.ndarray:
        """One row per word (its swipe's cross keys/values gathered: no padding to the swipe
        with the most words), in passes by word length (`length_passes`)."""
        out = np.zeros(len(words), np.float32)
        if not words:
            return out
        c, swipe = enc.state, np.asarray(swipe, np.int64)
        for rows in length_passes(np.fromiter((len(w) for w in words), np.int64, len(words))):
            tin, tout = target_arrays([words[i] for i in rows], self.alphabet, self.max_word_len)
            on = swipe[rows]
            (logp,) = self.score_session.run(list(SCORE_OUTPUTS), {
                "tokens_in": tin, "tokens_out": tout, **by_layer("cross_k", [a[on] for a in c.cross_k]),
                **by_layer("cross_v", [a[on] for a in c.cross_v]), "memory_mask": c.memory_mask[on]})
            out[rows] = logp
        return out

    def attention(self, enc: Encoded, row: int, words: list[str]) -> list[np.ndarray]:
        if not words:
            return []
        c = enc.state
        n = int(c.memory_mask[row].sum())
        tin, _ = target_arrays(words, self.alphabet, self.max_word_len)
        (att,) = self.attention_session.run(list(ATTENTION_OUTPUTS), {
            "tokens_in": tin, **by_layer("cross_k", [np.ascontiguousarray(a[row:row + 1, :, :n]) for a in c.cross_k]),
            **by_layer("cross_v", [np.ascontiguousarray(a[row:row + 1, :, :n]) for a in c.cross_v]),
            "memory_mask": np.ascontiguousarray(c.memory_mask[row:row + 1, :n])})
        return [att[i, :len(w)] for i, w in enumerate(words)]

    def beam_words(self, batch: SwipeBatch, layouts: dict[str, Layout], cfg: BeamConfig, trie: Trie | None
                   ) -> Candidates:
        """Batched beam search of swipes (each over its layout, `batch.grid_names`) on this model."""
        points = model_inputs(batch, self.spec)
        enc = Encoded(batch, points, *self.encode_points(points, [layouts[g] for g in batch.grid_names]),
                      self.subsample)
        return self.beams(enc, trie, cfg)
