"""Export a checkpoint to ONNX: the encoder (point features included), a one-step decoder with
its cache, and the teacher-forced decoder over whole words (the fused decoder's scores, the
attention maps), fp32 and int8; read back by swipe.export.runtime without torch.

The graphs wrap the model's own methods (`PointFeatures.over_keys`, `encode_features`,
`DecoderLayer.memory_kv`, `decode_step`), exported by `torch.onnx.export(dynamo=True)` with
dynamic swipes, points, keys, rows and cache length, so one file serves every layout and
beam size. int8: onnxruntime's dynamic quantization of the weights (MatMul/Gemm).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Iterator

import torch
from torch import Tensor, nn

from swipe.export.runtime import (ATTENTION_INPUTS, ATTENTION_OUTPUTS, EXPORT_FILE, EXPORT_FORMAT, PER_LAYER,
                                  SCORE_INPUTS, SCORE_OUTPUTS, STEP_INPUTS, STEP_OUTPUTS, encoder_names, flat_names,
                                  graph_file)
from swipe.lexicon import PAD
from swipe.model.spec import SPEC_KEY, load_spec
from swipe.model.checkpoint import load_model, resolve_checkpoint
from swipe.model.transformer import DecoderCache, SwipeModel
from swipe.provenance import redact

# the code an export is made by: the exporter, the graphs' runtime contract and the network
EXPORT_CODE = ("export/onnx.py", "export/runtime.py", "model/transformer.py", "model/features.py",
               "model/inputs.py", "model/keys.py", "model/spec.py", "model/checkpoint.py", "lexicon.py")


def export_code_version() -> str:
    """A digest of the source files an export is made by (EXPORT_CODE) and of the torch, onnx
    and onnxscript versions: an export cache keyed by it tells an old graph from a new one."""
    from importlib.metadata import version

    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(" ".join(version(p) for p in ("torch", "onnx", "onnxscript")).encode())
    for name in EXPORT_CODE:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:16]

OPSET = 18


Layers = Tensor | list[Tensor]  # a cache: stacked (N, …) or one tensor per decoder layer


def _layers(a: Layers) -> list[Tensor]:
    return list(a) if isinstance(a, (list, tuple)) else list(a.unbind(0))


class EncoderGraph(nn.Module):
    """Swipes and their keys → the decoder's cross-attention keys/values (B, H, T, Dh), one per
    layer (`per_layer`: the ONNX graphs) or stacked (N, B, H, T, Dh) (the ExecuTorch programs),
    where the model has a decoder; then, for a key head (`key_sizes` given), its log-probabilities
    (B, T, K + 1). In onnxruntime a slice of a stacked input is a copy: per layer, a step copies no cache."""

    def __init__(self, model: SwipeModel, per_layer: bool = False):
        super().__init__()
        self.model, self.per_layer = model, per_layer

    def forward(self, x: Tensor, y: Tensor, t: Tensor, mask: Tensor, bbox: Tensor, centres: Tensor,
                key_tokens: Tensor, half_diag: Tensor, key_sizes: Tensor | None = None) -> tuple:
        m = self.model
        if m.key_head is not None:
            memory, key_logp = m.encode_keys(x, y, t, mask, bbox, centres, key_tokens, half_diag, key_sizes)
        else:
            memory = m.encode_features(m.features.over_keys(x, y, t, mask, bbox, centres, key_tokens, half_diag), mask)
        out: tuple = ()
        if len(m.decoder):
            k, v = (list(a) for a in zip(*(layer.memory_kv(memory) for layer in m.decoder)))
            out = (k, v) if self.per_layer else (torch.stack(k), torch.stack(v))
        return out + ((key_logp,) if m.key_head is not None else ())


class StepGraph(nn.Module):
    """One cached decoder step; the cache (rows, H, S, Dh) one tensor per layer (`per_layer`)
    or stacked (N, rows, H, S, Dh), as `EncoderGraph`."""

    def __init__(self, model: SwipeModel, per_layer: bool = False):
        super().__init__()
        self.model, self.per_layer = model, per_layer

    def forward(self, token: Tensor, self_k: Layers, self_v: Layers, cross_k: Layers, cross_v: Layers,
                memory_mask: Tensor) -> tuple[Tensor, Layers, Layers]:
        cache = DecoderCache(_layers(self_k), _layers(self_v), _layers(cross_k), _layers(cross_v), memory_mask)
        logits, cache = self.model.decode_step(token, cache)
        if self.per_layer:
            return logits, cache.self_k, cache.self_v
        return logits, torch.stack(cache.self_k), torch.stack(cache.self_v)


def _teacher_forced(model: SwipeModel, tokens_in: Tensor, cross_k: Layers, cross_v: Layers, memory_mask: Tensor,
                    attention: list[Tensor] | None = None) -> Tensor:
    """The decoder over whole words (B·K rows, K per swipe) from the encoder graph's cross
    keys/values: what `SwipeModel.decode` computes from the memory.  # logits (B·K, L, V)"""
    h = model._embed(tokens_in, 0)
    for i, layer in enumerate(model.decoder):
        h, _ = layer(h, None, (cross_k[i], cross_v[i]), memory_mask, attention)
    return model.head(model.dec_norm(h))


class ScoreGraph(nn.Module):
    """Candidate words, K rows per swipe → each word's teacher-forced Σ log p, EOS included:
    the fused decoder's rescoring in one pass."""

    def __init__(self, model: SwipeModel):
        super().__init__()
        self.model = model

    def forward(self, tokens_in: Tensor, tokens_out: Tensor, cross_k: Layers, cross_v: Layers,
                memory_mask: Tensor) -> Tensor:
        logits = _teacher_forced(self.model, tokens_in, cross_k, cross_v, memory_mask)
        logp = torch.log_softmax(logits.float(), -1).gather(-1, tokens_out.clamp(min=0)[..., None])[..., 0]
        return (logp * (tokens_out != PAD).float()).sum(1)  # (B·K,)


class AttentionGraph(nn.Module):
    """Words, K rows per swipe → each letter's cross-attention over its swipe's points,
    averaged over decoder layers and heads (swipe.decode.attention).  # (B·K, L, T)"""

    def __init__(self, model: SwipeModel):
        super().__init__()
        self.model = model

    def forward(self, tokens_in: Tensor, cross_k: Layers, cross_v: Layers, memory_mask: Tensor) -> Tensor:
        layers: list[Tensor] = []
        _teacher_forced(self.model, tokens_in, cross_k, cross_v, memory_mask, layers)
        mean = torch.stack(layers).mean((0, 2))  # (B, K·L, T)
        return mean.reshape(tokens_in.shape[0], tokens_in.shape[1], mean.shape[-1])


def _examples(model: SwipeModel) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Inputs to trace with: sizes ≥ 2 on every dynamic axis (0 and 1 would be specialised)."""
    b, t, beams, past = 2, 16, 3, 2
    f, cfg = model.features, model.cfg
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(b, t, generator=gen) * 300, torch.rand(b, t, generator=gen) * 100
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[1, t // 2:] = False
    enc = (x, y, torch.cumsum(torch.full((b, t), 15.0), 1), mask, f.bbox[:1].repeat(b, 1), f.centres[:1].repeat(b, 1, 1),
           f.key_tokens[:1].repeat(b, 1), f.half_diag[:1].repeat(b))
    if model.key_head is not None:
        enc += (f.key_sizes[:1].repeat(b, 1, 1),)
    if not len(model.decoder):
        return enc, ()
    with torch.no_grad():
        cross_k, cross_v = EncoderGraph(model)(*enc)[:2]
    n, h, dh = cfg.dec_layers, cfg.n_heads, cfg.d_model // cfg.n_heads
    past_kv = torch.randn(n, b * beams, h, past, dh, generator=gen)
    step = (torch.full((b * beams,), 3, dtype=torch.long), past_kv, past_kv.clone(), cross_k, cross_v, mask)
    return enc, step


def _word_examples(model: SwipeModel, step: tuple[Tensor, ...]) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Inputs to trace the score and attention graphs with: 3 words of 4 tokens per swipe of `step`'s."""
    _, _, _, cross_k, cross_v, mask = step
    rows, letters = cross_k.shape[1] * 3, 4
    gen = torch.Generator().manual_seed(1)
    tokens_out = torch.randint(3, model.vocab_size, (rows, letters), generator=gen)
    tokens_out[:, -1], tokens_out[1, 2:] = 2, 0  # EOS, and a shorter word (PAD after its EOS)
    tokens_out[1, 1] = 2
    tokens_in = torch.cat([torch.ones(rows, 1, dtype=torch.long), tokens_out[:, :-1]], 1)
    return (tokens_in, tokens_out, cross_k, cross_v, mask), (tokens_in, cross_k, cross_v, mask)


def word_dynamic_shapes(model: SwipeModel, swipes: int, points: tuple[int, int], rows: int) -> tuple[dict, dict]:
    """The dynamic axes of the score and attention graphs' inputs."""
    from torch.export import Dim

    sw, pt = Dim("swipes", min=1, max=swipes), Dim("points", min=points[0], max=points[1])
    rw, ln = Dim("rows", min=1, max=rows), Dim("letters", min=1, max=model.cfg.max_word_len + 1)
    words, cross = {0: rw, 1: ln}, {1: sw, 3: pt}
    common = {"cross_k": cross, "cross_v": cross, "memory_mask": {0: sw, 1: pt}}
    return {"tokens_in": words, "tokens_out": words} | common, {"tokens_in": words} | common


@contextlib.contextmanager
def _exporter_quiet() -> Iterator[None]:
    """The exporter's progress lines and warnings about its own internals (axis renames,
    torchvision ops, "run pre-processing before quantization") are not the user's: kept out
    of the console. Errors still raise."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        loggers = [logging.getLogger(), logging.getLogger("torch.onnx")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def dynamic_shapes(model: SwipeModel, swipes: int, points: tuple[int, int], keys: int, rows: int
                   ) -> tuple[dict, dict]:
    """The dynamic axes of the encoder's and the step's inputs, with these bounds (torch.export Dims)."""
    from torch.export import Dim

    sw, pt = Dim("swipes", min=1, max=swipes), Dim("points", min=points[0], max=points[1])
    ky, rw = Dim("keys", min=2, max=keys), Dim("rows", min=1, max=rows)
    past = Dim("past", min=0, max=model.cfg.max_word_len + 2)
    by_swipe = {0: sw, 1: pt}
    enc = {"x": by_swipe, "y": by_swipe, "t": by_swipe, "mask": by_swipe, "bbox": {0: sw},
           "centres": {0: sw, 1: ky}, "key_tokens": {0: sw, 1: ky}, "half_diag": {0: sw}}
    if model.key_head is not None:
        enc["key_sizes"] = {0: sw, 1: ky}
    cross = {1: sw, 3: pt}
    step = {"token": {0: rw}, "self_k": {1: rw, 3: past}, "self_v": {1: rw, 3: past}, "cross_k": cross,
            "cross_v": cross, "memory_mask": by_swipe}
    return enc, step


def _per_layer(args: tuple, names: tuple[str, ...], dims: dict) -> tuple[tuple, dict]:
    """A graph's example inputs and dynamic axes with each stacked cache (`PER_LAYER`) split
    into one input per layer (its axes one lower)."""
    args = tuple(list(a.unbind(0)) if n in PER_LAYER else a for a, n in zip(args, names))
    dims = {n: [{axis - 1: d for axis, d in dims[n].items()}] * len(a) if n in PER_LAYER else dims[n]
            for a, n in zip(args, names)}
    return args, dims


def export_onnx(checkpoint: str | Path, out: str | Path, int8: bool = True) -> dict:
    """Write the encoder, step, score and attention graphs (and their int8 versions) with
    export.json into `out`."""
    local = resolve_checkpoint(checkpoint)
    model, meta = load_model(local, "cpu")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    enc_args, step_args = _examples(model)
    enc_dims, step_dims = dynamic_shapes(model, swipes=4096, points=(2, 4096), keys=512, rows=1 << 16)
    layers = model.cfg.dec_layers
    t0 = time.perf_counter()
    files = []
    work = [("encoder", EncoderGraph(model, per_layer=True), enc_args, enc_dims, *encoder_names(model.cfg.head))]
    if len(model.decoder):  # a model with a decoder: its step and whole-word graphs
        score_args, attention_args = _word_examples(model, step_args)
        score_dims, attention_dims = word_dynamic_shapes(model, swipes=4096, points=(2, 4096), rows=1 << 16)
        work += [("step", StepGraph(model, per_layer=True), step_args, step_dims, STEP_INPUTS, STEP_OUTPUTS),
                 ("score", ScoreGraph(model), score_args, score_dims, SCORE_INPUTS, SCORE_OUTPUTS),
                 ("attention", AttentionGraph(model), attention_args, attention_dims, ATTENTION_INPUTS,
                  ATTENTION_OUTPUTS)]
    for name, graph, args, dims, inputs, outputs in work:
        args, dims = _per_layer(args, inputs, dims)
        with _exporter_quiet():
            torch.onnx.export(graph.eval(), args, str(out / graph_file(name, "fp32")),
                              input_names=flat_names(inputs, layers), output_names=flat_names(outputs, layers),
                              dynamic_shapes=dims, dynamo=True, optimize=True, opset_version=OPSET,
                              external_data=False, verbose=False)
        files.append(graph_file(name, "fp32"))
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            with _exporter_quiet():
                quantize_dynamic(str(out / graph_file(name, "fp32")), str(out / graph_file(name, "int8")),
                                 weight_type=QuantType.QInt8)
            files.append(graph_file(name, "int8"))
    cfg = model.cfg
    info = {"format": EXPORT_FORMAT, "checkpoint": str(checkpoint), "alphabet": meta["alphabet"],
            "model": meta["model"], SPEC_KEY: load_spec(meta, str(checkpoint)).to_dict(),
            "grids": meta["grids"], "layouts": {g: meta["layouts"][g] for g in meta["grids"]},
            "graph": {"layers": cfg.dec_layers, "heads": cfg.n_heads, "head_dim": cfg.d_model // cfg.n_heads,
                      "opset": OPSET, "int8": int8, "torch": torch.__version__},
            "files": files, "export_s": round(time.perf_counter() - t0, 1)}
    (out / EXPORT_FILE).write_text(json.dumps(redact(info), indent=1, ensure_ascii=False))
    return info


def torch_step_logits(model: SwipeModel, enc_args: tuple[Tensor, ...], tokens: Tensor) -> Tensor:
    """The torch model's logits at each step of feeding `tokens` (B, L) one at a time, from the
    encoder graph's inputs: the reference the exported graphs are checked against.  # (B, L, V)"""
    x, y, t, mask, bbox, centres, key_tokens, half_diag = enc_args
    with torch.inference_mode():
        memory = model.encode_features(model.features.over_keys(x, y, t, mask, bbox, centres, key_tokens, half_diag),
                                       mask)
        cache, out = model.start_cache(memory, mask), []
        for i in range(tokens.shape[1]):
            logits, cache = model.decode_step(tokens[:, i], cache)
            out.append(logits)
        return torch.stack(out, 1)
