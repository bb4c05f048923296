"""Online decoding benchmarks: one swipe at a time through torch, onnxruntime fp32 and int8
(`export`), and the Ray Serve application under a bounded load (`serve`).

Both use the shipped model (models/en-small), beam 6, the full English lexicon (307k
words) and one CPU thread per decoder; swipes are the real dev sample on their own keyboards.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

SHIPPED = "models/en-small"
KEYED, KEYED_CONFIG = "models/en-small-ctc", "configs/decode_en_ctc.yaml"  # the key-head model, where it exists
SAMPLE = "data/samples/howweswipe_en_dev.jsonl"
DEVICES = "data/layouts/howweswipe_devices.json"


def _dev_swipes(n: int | None):
    from swipe.data.importers.yandex import parse_yandex_lines
    from swipe.keyboard import load_layouts

    devices = load_layouts(DEVICES)
    lines = Path(SAMPLE).read_bytes().splitlines()
    rows = np.arange(len(lines)) if n is None or n >= len(lines) else np.linspace(0, len(lines) - 1, n).astype(int)
    batch, _, _ = parse_yandex_lines([lines[i] for i in rows], 0, devices, "dev")
    return batch, devices


def _pct(ms: list[float], q: float) -> float:
    return round(float(np.percentile(ms, q)), 2)


def bench_export(n_swipes: int | None = None, batch_size: int = 32) -> dict:
    """Single-swipe latency (p50/p95, ms) and batched throughput (swipes/s, batches of
    `batch_size` in length order) of the beam search with the model in torch eager, in
    onnxruntime fp32 and int8, and of the whole fused decoder (configs/decode_en.yaml) in
    onnxruntime fp32 and int8 (`ort_fused_*`); acc@1 of each on the dev swipes (all 3024 unless
    `n_swipes`), whether onnxruntime fp32 gives torch's top 4 on every one (`parity_topk_equal`),
    and the fused decoder's swipe_mrr on the dev reporting half in fp32 and int8
    (`fused_int8_mrr_delta`). With the optional executorch extra installed, the ExecuTorch
    programs too (`et_*`, portable kernels). Where the key-head model (KEYED) exists, its CTC trie
    beam alone (`ort_ctc_*`) and its fused decoder (`ort_ctc_fused_*`) too, each p50 over the
    shipped fused decoder's in fp32 (`ctc_fp32_over_fused_p50`, …) and its swipe_mrr on the
    reporting half."""
    import torch

    from swipe.decode.search import BeamConfig, beam_words
    from swipe.export.onnx import export_onnx
    from swipe.export.runtime import OnnxModel
    from swipe.lexicon import Alphabet, build_lexicon_trie
    from swipe.model.checkpoint import load_model
    from swipe.model.inputs import collate
    from swipe.model.spec import load_spec

    torch.set_num_threads(1)
    batch, devices = _dev_swipes(n_swipes)
    model, meta = load_model(SHIPPED, "cpu", devices)
    alphabet = Alphabet(meta["alphabet"])
    trie = build_lexicon_trie(load_spec(meta).lexicon, alphabet)  # the model's own lexicon
    cfg = BeamConfig(beam_size=6, top_k=4)
    grid = {g: i for i, g in enumerate(model.grid_names)}
    folder = Path(tempfile.mkdtemp(prefix="swipe-export-"))
    info = export_onnx(SHIPPED, folder, int8=True)
    decoders = {
        "torch": lambda b: beam_words(model, collate(b, grid, alphabet, load_spec(meta), model.cfg.max_word_len,
                                                     targets=False), alphabet, cfg, trie)}
    for precision in ("fp32", "int8"):
        ort = OnnxModel(folder, precision, threads=1)
        decoders[f"ort_{precision}"] = lambda b, m=ort: m.beam_words(b, devices, cfg, trie)
    import importlib.util

    if importlib.util.find_spec("executorch") is not None:  # the optional extra (`make executorch`)
        from swipe.export.executorch import EtModel, export_executorch

        export_executorch(SHIPPED, folder / "executorch")
        et = EtModel(folder / "executorch")
        decoders["et"] = lambda b: et.beam_words(b, devices, cfg, trie)
    # the fused decoder (configs/decode_en.yaml) on the exported model, fp32 and int8: no torch in its path
    from swipe.config import load_config
    from swipe.decode.decoders import Lexicon, SwipeDecoder
    from swipe.evaluate.predict import PredictConfig

    dcfg = load_config(PredictConfig, "configs/decode_en.yaml")
    lexicon = Lexicon.build(trie)
    for precision in ("fp32", "int8"):
        dec = SwipeDecoder(OnnxModel(folder, precision, threads=1), alphabet, devices, dcfg.template, dcfg.fused,
                           load_spec(meta), dcfg.decode_batch)
        decoders[f"ort_fused_{precision}"] = lambda b, d=dec: d.decode(b, "fused", lexicon, dcfg.beam)
    keyed = Path(KEYED) / "model.json"
    if keyed.exists():  # the key-head model in the same run: its CTC trie beam alone, and its fused decoder
        from swipe.model.checkpoint import load_meta

        kcfg = load_config(PredictConfig, KEYED_CONFIG)
        export_onnx(KEYED, folder / "keyed", int8=True)
        for precision in ("fp32", "int8"):
            dec = SwipeDecoder(OnnxModel(folder / "keyed", precision, threads=1), alphabet, devices, kcfg.template,
                               kcfg.fused, load_spec(load_meta(KEYED)), kcfg.decode_batch, kcfg.ctc)
            decoders[f"ort_ctc_{precision}"] = lambda b, d=dec: d.decode(b, "ctc", lexicon, kcfg.beam)
            decoders[f"ort_ctc_fused_{precision}"] = lambda b, d=dec: d.decode(b, "fused", lexicon, kcfg.beam)
    one = [batch.take(np.array([i])) for i in range(len(batch))]
    order = np.argsort(batch.lengths, kind="stable")
    batches = [batch.take(order[s:s + batch_size]) for s in range(0, len(order), batch_size)]
    out: dict = {}
    words: dict[str, list] = {}
    for name, decode in decoders.items():
        decode(one[0])  # warm-up
        ms, got = [], []
        for swipe in one:
            t0 = time.perf_counter()
            got.append(decode(swipe)[0])
            ms.append(1000 * (time.perf_counter() - t0))
        t0 = time.perf_counter()
        for b in batches:
            decode(b)
        out[f"{name}_p50_ms"], out[f"{name}_p95_ms"] = _pct(ms, 50), _pct(ms, 95)
        out[f"{name}_swipes_per_s"] = round(len(batch) / (time.perf_counter() - t0), 1)
        out[f"{name}_acc1"] = round(float(np.mean([bool(c) and c[0][0] == w for c, w in zip(got, batch.words)])), 4)
        words[name] = [[w for w, _ in c] for c in got]
    for name in [d for d in decoders if d != "torch" and "fused" not in d and "ctc" not in d]:
        out[f"{name.removeprefix('ort_')}_acc1_delta"] = round(out[f"{name}_acc1"] - out["torch_acc1"], 4)
        out[f"{name}_topk_equal_share"] = round(float(np.mean([a == b for a, b in zip(words[name], words["torch"])])), 4)
    # the whole fused decoder on one swipe against the torch beam alone, and what int8 costs it on the
    # dev set's reporting half (the people no weight was tuned on)
    from swipe.metrics import swipe_mrr, user_half

    report = ~user_half(batch.users, 0) if batch.users else np.ones(len(batch), bool)
    mrr = {p: float(np.mean([swipe_mrr(c, w) for c, w, keep in zip(words[f"ort_fused_{p}"], batch.words, report)
                             if keep])) for p in ("fp32", "int8")}
    out |= {"ort_fused_over_torch_beam_p50": round(out["ort_fused_fp32_p50_ms"] / out["torch_p50_ms"], 2),
            "ort_fused_int8_over_torch_beam_p50": round(out["ort_fused_int8_p50_ms"] / out["torch_p50_ms"], 2),
            "fused_fp32_mrr": round(mrr["fp32"], 4), "fused_int8_mrr": round(mrr["int8"], 4),
            "fused_int8_mrr_delta": round(mrr["int8"] - mrr["fp32"], 4), "fused_mrr_swipes": int(report.sum())}
    if keyed.exists():
        for name in ("ort_ctc_fp32", "ort_ctc_fused_fp32", "ort_ctc_int8", "ort_ctc_fused_int8"):
            out[f"{name.removeprefix('ort_')}_over_fused_p50"] = round(out[f"{name}_p50_ms"]
                                                                         / out["ort_fused_fp32_p50_ms"], 2)
            out[f"{name.removeprefix('ort_')}_mrr"] = round(float(np.mean([
                swipe_mrr(c, w) for c, w, keep in zip(words[name], batch.words, report) if keep])), 4)
    sizes = {f"{p}_mb": round(sum((folder / f"{g}{'' if p == 'fp32' else '.int8'}.onnx").stat().st_size
                                  for g in ("encoder", "step", "score", "attention")) / 2 ** 20, 2)
             for p in ("fp32", "int8")}
    return out | {"parity_topk_equal": out["ort_fp32_topk_equal_share"] == 1.0, "onnx_" + "fp32_mb": sizes["fp32_mb"],
                  "onnx_int8_mb": sizes["int8_mb"], "export_s": info["export_s"], "n_swipes": len(batch),
                  "beam_size": cfg.beam_size, "lexicon_words": trie.n_words, "threads": 1,
                  "target_ort_p50_ms": 15, "ort_fp32_meets_target": out["ort_fp32_p50_ms"] <= 15}


def bench_serve(requests: int = 300, concurrency: int = 4, replicas: int = 1, decoder: str = "fused") -> dict:
    """The Serve application on a local Ray (the shipped model, configs/serve_en.yaml's settings,
    `replicas` replicas of one CPU each) on each backend in turn (torch, then onnxruntime: the
    same run), under `requests` POSTs of real dev swipes from `concurrency` clients:
    requests/s, p50/p99 latency (ms, client side), errors; and the latency of one client alone
    (`one_client_*`: no queueing); `ort_over_torch_requests_per_s`. Requests ask for attention
    maps, as the demo's do."""
    from ray import serve

    from swipe.config import load_config
    from swipe.serve.app import start
    from swipe.serve.load import load_test
    from swipe.serve.service import ServeConfig
    from tests.support.s3 import free_port

    lines = Path(SAMPLE).read_text().splitlines()
    rows = [json.loads(lines[i]) for i in np.linspace(0, len(lines) - 1, 200).astype(int)]
    bodies = [{"x": r["curve"]["x"], "y": r["curve"]["y"], "t": r["curve"]["t"], "layout": r["curve"]["grid_name"],
               "decoder": decoder, "beam_size": 6} for r in rows]
    out: dict = {"concurrency": concurrency, "replicas": replicas, "decoder": decoder, "beam_size": 6}
    for backend in ("torch", "onnxruntime"):
        cfg = load_config(ServeConfig, "configs/serve_en.yaml")
        cfg = replace(cfg, port=free_port(), replicas=replicas, backend=backend,
                      users=replace(cfg.users, store=tempfile.mkdtemp(prefix="swipe-users-")))
        t0 = time.perf_counter()
        url = start(cfg, name="bench")
        start_s = time.perf_counter() - t0
        load_test(url, bodies, len(bodies), 1)  # warm-up: every swipe once (the matcher's template cache)
        alone = load_test(url, bodies, 50, 1).figures()  # one client: latency without queueing
        result = load_test(url, bodies, requests, concurrency)
        serve.shutdown()
        key = "ort" if backend == "onnxruntime" else "torch"
        out |= {f"{key}_{k}": v for k, v in result.figures().items()}
        out |= {f"{key}_one_client_p50_ms": alone["p50_ms"], f"{key}_one_client_p99_ms": alone["p99_ms"],
                f"{key}_one_client_errors": alone["errors"], f"{key}_start_s": round(start_s, 1),
                f"{key}_error_examples": result.error_examples}
    out["ort_over_torch_requests_per_s"] = round(out["ort_requests_per_s"] / out["torch_requests_per_s"], 2)
    return out


BENCHMARKS = {"export": bench_export, "serve": bench_serve}


def bench_fuzz(batches: int = 400, requests: int = 2000, seed: int | None = None, http_share: float = 0.2) -> dict:
    """The fuzzer (tests/support/fuzz.py) at scale: damaged JSONL lines and swipelogs through the
    importers (≥ 2 000 lines); damaged requests, every decoder (fused included), inline layouts
    without some letters, and users' words of the whole alphabet (apostrophes included) through
    the online decoder with the shipped models (≥ 2 000 requests), a share `http_share` of them
    over HTTP to the Serve app on a local Ray (status codes counted). jobs_aborted, rows_lost
    and server_errors must be 0. `seed`: None draws one (each run tries other inputs); it is
    in the figures, and `bench_fuzz(seed=N)` replays that run."""
    import secrets

    import torch
    from ray import serve

    from swipe.keyboard import load_layouts
    from swipe.serve.app import start
    from swipe.serve.service import OnlineDecoder, ServeConfig, load_offer, resolve_paths
    from swipe.serve.users import UserWordsConfig
    from tests.support.fuzz import FuzzResult, fuzz_imports, fuzz_requests
    from tests.support.s3 import free_port

    torch.set_num_threads(1)
    seed = secrets.randbelow(2**31) if seed is None else seed
    records = [json.loads(line) for line in Path(SAMPLE).read_text().splitlines()[:16]]
    result = FuzzResult()
    t0 = time.perf_counter()
    fuzz_imports(result, records, load_layouts(DEVICES), "abcdefghijklmnopqrstuvwxyz'", batches, seed)
    import_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as store:
        cfg = resolve_paths(ServeConfig(users=UserWordsConfig(store=store), port=free_port(), cpus_per_replica=0.5),
                            Path.cwd())
        service = OnlineDecoder(cfg, *load_offer(cfg))
        url = start(cfg, name="fuzz")  # the same models, settings and users' store, behind HTTP
        good = [{"x": r["curve"]["x"], "y": r["curve"]["y"], "t": r["curve"]["t"], "layout": r["curve"]["grid_name"]}
                for r in records[:8]]
        t0 = time.perf_counter()
        try:
            fuzz_requests(result, service, good, requests, seed, url=url, http_share=http_share)
        finally:
            serve.shutdown()
    return result.figures() | {"seed": seed, "import_s": round(import_s, 1), "requests_s": round(time.perf_counter() - t0, 1),
                               "examples": result.examples[:3]}
