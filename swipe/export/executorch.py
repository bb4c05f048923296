"""Export a checkpoint to ExecuTorch (.pte programs, the on-device runtime) and run them.

The same two graphs as the ONNX export (swipe.export.onnx: EncoderGraph, StepGraph), through
`torch.export` with bounded dynamic shapes (ExecuTorch plans memory for the largest) and
ExecuTorch's portable kernels. XNNPACK, its fast CPU backend, is not used: it refuses these
graphs ("XNNPACK reshape only supports 1 dynamic dimension"; the attention reshapes have
rows and cache length dynamic at once). Needs the optional `executorch` extra
(`pip install -e '.[executorch]'`, `make executorch`).

ExecuTorch's Python runtime takes torch tensors, so `EtModel` runs the search on the torch
backend; on a phone the same .pte files run under its C++ runtime, without Python.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from swipe.data.swipes import SwipeBatch
from swipe.decode.search import BeamConfig, Candidates, Search, beam_search
from swipe.export.onnx import EncoderGraph, StepGraph, _examples, _exporter_quiet, dynamic_shapes
from swipe.keyboard import Layout, parse_layouts
from swipe.lexicon import Alphabet, Trie
from swipe.model.checkpoint import load_model, resolve_checkpoint
from swipe.model.inputs import model_inputs
from swipe.model.spec import SPEC_KEY, InputSpec, load_spec
from swipe.model.keys import KeyTable
from swipe.provenance import redact

ET_FILE = "executorch.json"
MAX_SWIPES, MAX_POINTS, MAX_KEYS, MAX_ROWS = 64, 256, 64, 512  # the programs' shape bounds
MIN_POINTS = 3  # torch.export specialises fewer: shorter swipes are padded (masked) up to it


def export_executorch(checkpoint: str | Path, out: str | Path) -> dict:
    """Write encoder.pte and step.pte with executorch.json into `out`."""
    import logging

    logging.getLogger("torchao").setLevel(logging.ERROR)  # its CUDA kernels' absence, on import: not ours
    from executorch.exir import to_edge_transform_and_lower
    from torch.export import export

    model, meta = load_model(resolve_checkpoint(checkpoint), "cpu")
    if model.key_head is not None:
        raise ValueError(f"{checkpoint} has a key head (model.head {model.cfg.head}): its ExecuTorch programs are "
                         "not built yet; export it to ONNX (swipe export), whose runtime decodes it")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    enc_args, step_args = _examples(model)
    enc_dims, step_dims = dynamic_shapes(model, MAX_SWIPES, (MIN_POINTS, MAX_POINTS), MAX_KEYS, MAX_ROWS)
    t0 = time.perf_counter()
    for name, graph, args, dims in (("encoder", EncoderGraph(model), enc_args, enc_dims),
                                    ("step", StepGraph(model), step_args, step_dims)):
        with _exporter_quiet():
            program = to_edge_transform_and_lower(export(graph.eval(), args, dynamic_shapes=dims)).to_executorch()
        (out / f"{name}.pte").write_bytes(program.buffer)
    cfg = model.cfg
    info = {"format": 1, "checkpoint": str(checkpoint), "alphabet": meta["alphabet"], "model": meta["model"],
            SPEC_KEY: load_spec(meta, str(checkpoint)).to_dict(),
            "layouts": {g: meta["layouts"][g] for g in meta["grids"]},
            "graph": {"layers": cfg.dec_layers, "heads": cfg.n_heads, "head_dim": cfg.d_model // cfg.n_heads,
                      "bounds": {"swipes": MAX_SWIPES, "points": [MIN_POINTS, MAX_POINTS], "keys": MAX_KEYS,
                                 "rows": MAX_ROWS}, "kernels": "portable"},
            "export_s": round(time.perf_counter() - t0, 1)}
    (out / ET_FILE).write_text(json.dumps(redact(info), indent=1, ensure_ascii=False))
    return info


@dataclass
class EtCache:
    """The decoder's state as stacked torch tensors, rows following the beams (DecoderState)."""

    self_k: Tensor  # (N, R, H, S, Dh)
    self_v: Tensor
    cross_k: Tensor  # (N, B, H, T, Dh)
    cross_v: Tensor
    memory_mask: Tensor  # (B, T)
    beams: int = 1

    def expand_beams(self, k: int) -> "EtCache":
        return EtCache(self.self_k.repeat_interleave(k, 1), self.self_v.repeat_interleave(k, 1), self.cross_k,
                       self.cross_v, self.memory_mask, self.beams * k)

    def reorder_beams(self, rows: Tensor) -> "EtCache":
        return EtCache(self.self_k[:, rows], self.self_v[:, rows], self.cross_k, self.cross_v, self.memory_mask,
                       self.beams)

    def keep_swipes(self, swipes: Tensor) -> "EtCache":
        rows = (swipes[:, None] * self.beams + torch.arange(self.beams)).reshape(-1)
        return EtCache(self.self_k[:, rows], self.self_v[:, rows], self.cross_k[:, swipes], self.cross_v[:, swipes],
                       self.memory_mask[swipes], self.beams)


class EtModel:
    """The two .pte programs in ExecuTorch's runtime, decoding with the same beam search."""

    def __init__(self, folder: str | Path):
        from executorch.runtime import Runtime

        folder = Path(folder)
        self.meta = json.loads((folder / ET_FILE).read_text())
        self.alphabet = Alphabet(self.meta["alphabet"])
        self.spec: InputSpec = load_spec(self.meta, str(folder))  # what the model reads, saved at export
        self.max_word_len = int(self.meta["model"]["max_word_len"])
        self.layouts = parse_layouts(self.meta["layouts"])
        runtime = Runtime.get()
        self.encoder = runtime.load_program(str(folder / "encoder.pte")).load_method("forward")
        self.step_method = runtime.load_program(str(folder / "step.pte")).load_method("forward")
        g = self.meta["graph"]
        self._shape = (g["layers"], g["heads"], g["head_dim"])

    def encode(self, batch: SwipeBatch, layouts: dict[str, Layout]) -> EtCache:
        pts = {k: torch.from_numpy(v) for k, v in model_inputs(batch, self.spec).items()}
        short = MIN_POINTS - pts["x"].shape[1]
        if short > 0:  # padding points, masked out
            pts = {k: torch.nn.functional.pad(v, (0, short)) for k, v in pts.items()}
        used = {g: layouts[g] for g in dict.fromkeys(batch.grid_names)}
        kt = KeyTable.build(used, self.alphabet)
        grid = torch.tensor([kt.index()[g] for g in batch.grid_names])
        keys = [torch.from_numpy(a)[grid] for a in (kt.bbox, kt.centres, kt.tokens, kt.half_diag)]
        cross_k, cross_v = self.encoder.execute([pts["x"], pts["y"], pts["t"], pts["mask"], *keys])
        n, h, dh = self._shape
        empty = torch.zeros(n, len(batch), h, 0, dh)
        return EtCache(empty, empty, cross_k, cross_v, pts["mask"])

    def step(self, tokens: Tensor, cache: EtCache) -> tuple[Tensor, EtCache]:
        logits, k, v = self.step_method.execute([tokens.contiguous(), cache.self_k.contiguous(),
                                                 cache.self_v.contiguous(), cache.cross_k, cache.cross_v,
                                                 cache.memory_mask])
        return logits, EtCache(k, v, cache.cross_k, cache.cross_v, cache.memory_mask, cache.beams)

    def beam_words(self, batch: SwipeBatch, layouts: dict[str, Layout], cfg: BeamConfig, trie: Trie | None
                   ) -> Candidates:
        if len(batch) > MAX_SWIPES or len(batch) * cfg.beam_size > MAX_ROWS:
            raise ValueError(f"the programs take at most {MAX_SWIPES} swipes and {MAX_ROWS} beam rows at once")
        with torch.inference_mode():
            cache = self.encode(batch, layouts)
            search = Search(self.step, self.alphabet, self.max_word_len, trie, "cpu", backend="torch")
            return beam_search(search, cache, len(batch), cfg)
