"""Speed and memory benchmarks: each returns one dict of named figures (`swipe bench NAME` prints it as JSON).

Figures are rates or sizes measured in one run; compare ratios from the same run, since
the machines are shared and noisy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from swipe.data.checks import ValidationConfig, validate
from swipe.data.synth import SynthConfig, synthesize
from swipe.keyboard import load_layouts
from swipe.lexicon import LexiconConfig, build_alphabet, build_trie, load_word_list
from swipe.model.spec import InputSpec, PointSpec

LAYOUTS = {"en": ("data/layouts/qwerty_english.json", "'"), "ru": ("data/layouts/yandex_cup.json", "-")}
DEVICES = "data/layouts/howweswipe_devices.json"  # the dev sample's keyboards


def bench_synth(n_swipes: int = 100_000, batch: int = 10_000, seed: int = 0) -> dict:
    """Synthesis rate in one process (one core): English top-20k words on QWERTY."""
    path, extra = LAYOUTS["en"]
    layouts = load_layouts(path)
    lay = layouts["qwerty_english"]
    alphabet = build_alphabet([lay], extra)
    wl = load_word_list(LexiconConfig(language="en", top_n=20_000, extra_chars=extra), alphabet)
    rng = np.random.default_rng(seed)
    words = [wl.words[i] for i in wl.sample(n_swipes, 0.3, rng)]
    synthesize(words[:batch], lay, SynthConfig(), rng)  # warm-up
    t0 = time.perf_counter()
    points = 0
    out = []
    for s in range(0, n_swipes, batch):
        b = synthesize(words[s:s + batch], lay, SynthConfig(), rng)
        points += len(b.x)
        out.append(b)
    synth_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    for b in out:
        validate(b, layouts, alphabet.chars, ValidationConfig())
    validate_s = time.perf_counter() - t1
    return {"swipes_per_s_per_core": round(n_swipes / synth_s),
            "points_per_s_per_core": round(points / synth_s),
            "validate_swipes_per_s_per_core": round(n_swipes / validate_s),
            "synth_and_validate_swipes_per_s_per_core": round(n_swipes / (synth_s + validate_s)),
            "n_swipes": n_swipes, "batch": batch, "target_swipes_per_s_per_core": 20_000}


def bench_lexicon(batch: int = 4096, repeats: int = 200, seed: int = 0) -> dict:
    """Full wordfreq lists of Russian and English: load, trie build, size; batched lookups."""
    out: dict = {}
    tries = {}
    for lang, (path, extra) in LAYOUTS.items():
        alphabet = build_alphabet(load_layouts(path).values(), extra)
        t0 = time.perf_counter()
        wl = load_word_list(LexiconConfig(language=lang, extra_chars=extra), alphabet)
        t1 = time.perf_counter()
        trie = build_trie(wl.words, wl.counts, alphabet)
        t2 = time.perf_counter()
        tries[lang] = trie
        out[lang] = {"words": len(wl), "load_s": round(t1 - t0, 2), "build_s": round(t2 - t1, 2),
                     "bytes": trie.nbytes, "nodes": trie.n_nodes}
    trie = tries["ru"]
    rng = np.random.default_rng(seed)
    nodes = rng.integers(0, trie.n_nodes, size=(repeats, batch))
    t0 = time.perf_counter()
    for r in range(repeats):
        trie.allowed_next_tokens(nodes[r])
    t1 = time.perf_counter()
    toks = rng.integers(3, trie.alphabet.size, size=(repeats, batch))
    for r in range(repeats):
        trie.step(nodes[r], toks[r])
    t2 = time.perf_counter()
    out["allowed_next_per_s"] = round(repeats * batch / (t1 - t0))
    out["step_per_s"] = round(repeats * batch / (t2 - t1))
    out["lookup_batch"] = batch
    return out


def bench_data(dataset: str = "data/datasets/synth_en", batch_size: int = 64, train_steps: int = 10) -> dict:
    """Ray Data stream (read + augment + collate, one pass over train) vs what one training
    worker consumes (small model, one thread, default batch and max_points)."""
    import ray
    import torch

    from swipe.cluster.session import ensure_ray
    from swipe.data.dataset import load_manifest, read_split, split_files
    from swipe.data.swipes import SwipeBatch
    from swipe.keyboard import parse_layouts
    from swipe.lexicon import Alphabet
    from swipe.model.features import KeyTable
    from swipe.model.inputs import collate
    from swipe.model.transformer import ModelConfig, SwipeModel
    from swipe.train.module import smoothed_cross_entropy
    from swipe.train.config import DataConfig, TrainConfig
    from swipe.train.fit import build_input_spec
    from swipe.train.stream import PadCollate, train_dataset

    manifest = load_manifest(dataset)
    layouts = parse_layouts(manifest["layouts"])
    alphabet = Alphabet(manifest["alphabet"])
    keys = KeyTable.build(layouts, alphabet)
    cfg = DataConfig(dataset=dataset, batch_size=batch_size)
    torch.manual_seed(0)
    model = SwipeModel(ModelConfig(preset="small"), keys, alphabet.size)
    spec = build_input_spec(TrainConfig(data=cfg))  # what a model trained with this config would read
    coll = PadCollate(keys.index(), alphabet, spec, model.cfg.max_word_len)

    ensure_ray()
    key_width = {g: lay.key_width for g, lay in layouts.items()}
    ds = train_dataset(split_files(dataset, "train"), key_width, cfg, epochs=1)
    rows, t_first = 0, None
    t0 = time.perf_counter()
    for batch in ds.iter_torch_batches(batch_size=batch_size, collate_fn=coll, prefetch_batches=4):
        t_first = t_first or time.perf_counter()
        rows += batch["x"].shape[0]
    stream = rows / (time.perf_counter() - t0)
    ray.shutdown()

    torch.set_num_threads(1)  # one training worker on one core, as on this machine
    b = SwipeBatch.from_arrow(read_split(dataset, "val").slice(0, batch_size))
    batch = collate(b, keys.index(), alphabet, spec, model.cfg.max_word_len)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    times = []
    for _ in range(train_steps):
        t = time.perf_counter()
        logits = model(batch["x"], batch["y"], batch["t"], batch["mask"], batch["grid"], batch["tokens_in"])
        smoothed_cross_entropy(logits, batch["tokens_out"], 0.1, None).backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t)
    train_rps = batch_size / float(np.median(times[2:]))
    return {"stream_rows_per_s": round(stream), "stream_first_batch_s": round(t_first - t0, 2),
            "train_rows_per_s": round(train_rps, 1), "stream_over_train": round(stream / train_rps, 1),
            "rows": rows, "batch_size": batch_size, "max_points": cfg.max_points, "model": "small"}


def bench_train(dataset: str = "data/datasets/synth_en", steps: int = 60) -> dict:
    """Ray Train throughput with 1 and 2 workers on the same data and the same CPUs: Ray
    resources 1 × 0.9 vs 2 × 0.45, torch threads 1 × 2 vs 2 × 1 (both use the 2 cores).
    Rows/s are measured inside the run (first to last logged step), so worker-group
    start-up is excluded."""
    import tempfile

    import ray

    from swipe.model.transformer import ModelConfig
    from swipe.train.config import DataConfig, RunConfig, ScaleConfig, TrackingConfig, TrainConfig
    from swipe.train.fit import train
    from swipe.train.tracking import read_metrics

    out: dict = {}
    storage = tempfile.mkdtemp(prefix="swipe-bench-")
    for workers in (1, 2):
        cfg = TrainConfig(data=DataConfig(dataset=dataset, batch_size=32, max_points=64),
                          model=ModelConfig(preset="small"),
                          scale=ScaleConfig(num_workers=workers, cpus_per_worker=0.9 / workers,
                                            threads_per_worker=2 // workers),
                          run=RunConfig(name=f"bench{workers}", storage_path=storage, max_steps=steps,
                                        val_every=steps, decode_rows=32, stats_rows=500),
                          tracking=TrackingConfig(wandb="disabled"))
        result = train(cfg)
        rows = [r for r in read_metrics(result.run_dir) if "train/loss" in r]
        span = rows[-1]["time"] - rows[0]["time"]
        out[f"rows_per_s_{workers}"] = round((rows[-1]["step"] - rows[0]["step"]) * 32 * workers / span, 1)
    ray.shutdown()
    out["scaling_2_over_1"] = round(out["rows_per_s_2"] / out["rows_per_s_1"], 2)
    out |= {"steps": steps, "batch_per_worker": 32, "max_points": 64, "model": "small", "total_cpus": 0.9}
    return out


def bench_decode(n_swipes: int = 256, n_reference: int = 16, batch_size: int | None = None, seed: int = 0) -> dict:
    """Swipes/s of greedy, beam and lexicon-constrained beam search (beam 6, the `small`
    model, the full English wordfreq lexicon, batched with the KV cache) and of the
    one-swipe-at-a-time no-cache reference on the first `n_reference` of the same swipes.
    The model is freshly initialised (speed does not depend on training); swipes are the
    real dev sample (data/samples/) on their own keyboards, batched in order of length as
    batch prediction does, in decoder batches of PredictConfig.decode_batch; one thread.
    `template_swipes_per_s`: the template matcher (default TemplateConfig) on the same
    swipes and lexicon, swipe by swipe as its actors decode. `shipped_beam_swipes_per_s`,
    `shipped_fused_swipes_per_s`: the shipped model (models/en-small) with configs/decode_en.yaml's
    beam and fused decoder, where both exist; beside it the key-head model (KEYED: its CTC trie beam
    alone and its fused decoder, `_keyed_rates`), where it exists."""
    import torch

    from swipe.data.importers.yandex import read_yandex_range
    from swipe.decode.search import BeamConfig, beam_words, greedy_words, reference_words
    from swipe.evaluate.predict import PredictConfig
    from swipe.model.features import KeyTable
    from swipe.model.inputs import collate
    from swipe.model.transformer import ModelConfig, SwipeModel

    batch_size = batch_size or PredictConfig().decode_batch
    torch.set_num_threads(1)
    from swipe.decode.template import TemplateConfig, TemplateIndex, template_words

    extra = LAYOUTS["en"][1]
    layouts = load_layouts(DEVICES)
    alphabet = build_alphabet(layouts.values(), extra)
    wl = load_word_list(LexiconConfig(language="en", extra_chars=extra), alphabet)
    trie = build_trie(wl.words, wl.counts, alphabet)
    keys = KeyTable.build(layouts, alphabet)
    torch.manual_seed(seed)
    model = SwipeModel(ModelConfig(preset="small"), keys, alphabet.size).eval()
    sample = "data/samples/howweswipe_en_dev.jsonl"
    import os

    swipes, _, _ = read_yandex_range(sample, 0, os.path.getsize(sample), 0, layouts)
    swipes = swipes.take(np.arange(n_swipes))
    swipes = swipes.take(np.argsort(swipes.lengths, kind="stable"))  # length-sorted batches pad less
    spec = InputSpec(PointSpec(128))  # a fresh model: what it reads is what these figures have always used
    batches = [collate(swipes.take(np.arange(s, min(s + batch_size, n_swipes))), keys.index(), alphabet, spec,
                       model.cfg.max_word_len) for s in range(0, n_swipes, batch_size)]
    beam = BeamConfig(beam_size=6)
    out = {}

    def rate(fn, batches_, n) -> float:
        t = time.perf_counter()
        for b in batches_:
            fn(b)
        return n / (time.perf_counter() - t)

    out["greedy"] = rate(lambda b: greedy_words(model, b, alphabet, None), batches, n_swipes)
    out["beam"] = rate(lambda b: beam_words(model, b, alphabet, beam, None), batches, n_swipes)
    out["beam_lexicon"] = rate(lambda b: beam_words(model, b, alphabet, beam, trie), batches, n_swipes)
    # the oracle on a sample spread over all lengths (the batches above are length-sorted)
    ref_rows = np.linspace(0, n_swipes - 1, n_reference).round().astype(int)
    ref_batch = collate(swipes.take(ref_rows), keys.index(), alphabet, spec, model.cfg.max_word_len)
    out["reference"] = rate(lambda b: reference_words(model, b, alphabet, beam, trie), [ref_batch], n_reference)
    got = beam_words(model, ref_batch, alphabet, beam, trie)
    ref = reference_words(model, ref_batch, alphabet, beam, trie)
    agree = all([w for w, _ in g] == [w for w, _ in r] and np.allclose([s for _, s in g], [s for _, s in r], atol=1e-4)
                for g, r in zip(got, ref))  # same words; scores equal up to float rounding
    from collections import Counter

    from swipe.decode.template import KEEP_AFTER

    index, cache = TemplateIndex.build(trie), {}
    for _ in range(-(-KEEP_AFTER // min(Counter(swipes.grid_names).values())) + 1):  # warm: every layout's templates kept
        template_words(swipes, layouts, index, TemplateConfig(), cache)
    out["template"] = rate(lambda b: template_words(b, layouts, index, TemplateConfig(), cache), [swipes], n_swipes)
    shipped = Path("models/en-small")
    extra: dict = {}
    if (shipped / "model.json").exists():  # the shipped model, beam and fused, with configs/decode_en.yaml's settings
        import tempfile

        from swipe.config import load_config
        from swipe.decode.decoders import Lexicon, SwipeDecoder
        from swipe.export.onnx import export_onnx
        from swipe.export.runtime import OnnxModel
        from swipe.model.checkpoint import load_model
        from swipe.model.spec import load_spec

        dcfg = load_config(PredictConfig, "configs/decode_en.yaml")
        ship, ship_meta = load_model(shipped, "cpu", layouts)
        folder = Path(tempfile.mkdtemp(prefix="swipe-export-"))
        export_onnx(shipped, folder, int8=True)
        lexicon = Lexicon(trie, index)
        spec = load_spec(ship_meta)
        decoders = {"": SwipeDecoder(ship, alphabet, layouts, dcfg.template, dcfg.fused, spec, batch_size)}
        for precision, name in (("fp32", "_ort"), ("int8", "_ort_int8")):
            decoders[name] = SwipeDecoder(OnnxModel(folder, precision), alphabet, layouts, dcfg.template, dcfg.fused,
                                          spec, batch_size)
        # the first pass over these swipes is cold; the matcher keeps a layout's templates once it
        # has matched KEEP_AFTER swipes on it, so the figures are taken after enough passes that every
        # layout here has (the steady state of a long-running actor or replica)
        passes = -(-KEEP_AFTER // min(Counter(swipes.grid_names).values())) + 1
        for name, dec in decoders.items():
            out[f"shipped_fused{name}_cold"] = rate(lambda b: dec.decode(b, "fused", lexicon, dcfg.beam), [swipes],
                                                    n_swipes)
            for _ in range(passes):
                dec.decode(swipes, "fused", lexicon, dcfg.beam)
            for kind in ("beam", "fused"):
                out[f"shipped_{kind}{name}"] = rate(lambda b: dec.decode(b, kind, lexicon, dcfg.beam), [swipes],
                                                    n_swipes)
        extra = {"fused_over_beam": round(out["shipped_fused_ort"] / out["shipped_beam"], 2),
                 "fused_int8_over_beam": round(out["shipped_fused_ort_int8"] / out["shipped_beam"], 2),
                 "fused_over_beam_torch": round(out["shipped_fused"] / out["shipped_beam"], 2)}
        if (Path(KEYED) / "model.json").exists():  # the key-head model beside it, in the same run
            extra |= _keyed_rates(out, swipes, layouts, alphabet, trie, index, batch_size, passes, rate)
    result = {f"{k}_swipes_per_s": round(v, 1) for k, v in out.items()}
    return result | extra | {"speedup_vs_reference": round(out["beam_lexicon"] / out["reference"], 1),
                     "beam_lexicon_equals_reference": bool(agree), "lexicon_words": len(wl),
                     "beam_size": 6, "batch_size": batch_size, "n_swipes": n_swipes, "n_reference": n_reference}


KEYED = "models/en-small-ctc"  # the key-head model (ModelConfig.head ctc): the CTC trie beam's figures
KEYED_CONFIG = "configs/decode_en_ctc.yaml"  # its decode settings (the fused weights tuned for it)


def _keyed_rates(out: dict, swipes, layouts: dict, alphabet, trie, index, batch_size: int, passes: int, rate) -> dict:
    """Swipes/s of the key-head model in onnxruntime (fp32 and int8): its CTC trie beam alone (with
    the prior, no rescoring: `ctc_ort`) and its fused decoder (the CTC beam as the first pass:
    `ctc_fused_ort`), on the swipes the shipped fused decoder decoded, after the same warm passes;
    and each over the shipped fused decoder in onnxruntime (`ctc_over_fused`, …)."""
    import tempfile

    from swipe.config import load_config
    from swipe.decode.decoders import Lexicon, SwipeDecoder
    from swipe.evaluate.predict import PredictConfig
    from swipe.export.onnx import export_onnx
    from swipe.export.runtime import OnnxModel
    from swipe.model.checkpoint import load_meta
    from swipe.model.spec import load_spec

    dcfg = load_config(PredictConfig, KEYED_CONFIG)
    meta = load_meta(KEYED)
    folder = Path(tempfile.mkdtemp(prefix="swipe-export-"))
    export_onnx(KEYED, folder, int8=True)
    lexicon = Lexicon(trie, index)
    for precision, name in (("fp32", "_ort"), ("int8", "_ort_int8")):
        dec = SwipeDecoder(OnnxModel(folder, precision), alphabet, layouts, dcfg.template, dcfg.fused,
                           load_spec(meta), batch_size, dcfg.ctc)
        for _ in range(passes):
            dec.decode(swipes, "fused", lexicon, dcfg.beam)
        for kind in ("ctc", "fused"):
            key = f"{'ctc' if kind == 'ctc' else 'ctc_fused'}{name}"
            out[key] = rate(lambda b: dec.decode(b, kind, lexicon, dcfg.beam), [swipes], len(swipes))
    # the beam alone on the same emissions (no encoder): ours, and flashlight-text's C++ lexicon decoder
    # where its optional extra is installed (`pip install -e '.[yardstick]'`; a trie of its own per process)
    encoded = [dec.encode(swipes.take(np.arange(s, min(s + batch_size, len(swipes)))))
               for s in range(0, len(swipes), batch_size)]
    out["ctc_beam_only"] = rate(lambda e: dec.ctc_words(e, trie, dcfg.ctc), encoded, len(swipes))
    import importlib.util

    if importlib.util.find_spec("flashlight") is not None:
        out["flashlight_lexicon_beam_only"] = _flashlight_rate(encoded, layouts, trie, dcfg.ctc)
    return {"ctc_over_fused": round(out["ctc_ort"] / out["shipped_fused_ort"], 2),
            "ctc_int8_over_fused": round(out["ctc_ort_int8"] / out["shipped_fused_ort"], 2),
            "ctc_fused_over_fused": round(out["ctc_fused_ort"] / out["shipped_fused_ort"], 2),
            "ctc_fused_int8_over_fused": round(out["ctc_fused_ort_int8"] / out["shipped_fused_ort"], 2),
            "keyed_model": KEYED, "ctc_beam_size": dcfg.ctc.beam_size}


def _flashlight_rate(encoded: list, layouts: dict, trie, cfg) -> float:
    """Swipes/s of flashlight-text's lexicon decoder (C++, CTC, no language model: its trie holds the
    words' log frequencies, smeared by max) on the key head's emissions, one swipe at a time with
    the beam size and threshold of `cfg`. The yardstick of the CTC trie beam's speed: every device
    layout here spells its letters with the same keys, so one trie serves them all."""
    from flashlight.lib.text.decoder import (CriterionType, LexiconDecoder, LexiconDecoderOptions, SmearingMode,
                                             Trie, ZeroLM)

    letters = {layouts[g].letters for e in encoded for g in e.part.grid_names}
    if len(letters) != 1:
        raise ValueError("the flashlight yardstick needs one key order for all layouts")
    letters = letters.pop()
    fl_trie = Trie(len(letters) + 1, 0)
    for i, w in enumerate(trie.words()):
        keys = [letters.index(c) + 1 for c in w if c in letters]
        if keys:
            fl_trie.insert(keys, i, float(trie.word_logfreq[i]))
    fl_trie.smear(SmearingMode.MAX)
    opts = LexiconDecoderOptions(beam_size=cfg.beam_size, beam_size_token=len(letters) + 1,
                                 beam_threshold=cfg.prune, lm_weight=0.0, word_score=0.0, unk_score=float("-inf"),
                                 sil_score=0.0, log_add=True, criterion_type=CriterionType.CTC)
    decoder = LexiconDecoder(opts, fl_trie, ZeroLM(), 0, 0, -1, [], False)
    t0, n = time.perf_counter(), 0
    for e in encoded:
        for logp, length in zip(e.key_logp, e.key_lengths):
            em = np.ascontiguousarray(logp[:length], np.float32)
            decoder.decode(em.ctypes.data, em.shape[0], em.shape[1])
            n += 1
    return n / (time.perf_counter() - t0)


def bench_share(n_actors: int = 4, lookups: int = 200) -> dict:
    """Private memory (USS) per actor due to the full Russian lexicon trie: shared through
    the object store (one ray.put, every actor maps it) vs each actor loading its own copy
    from the .npz file — each against actors that hold no trie. Every actor touches all
    of the trie's pages (a full read plus batched lookups), as decoding would."""
    import tempfile

    import ray

    from swipe.cluster.session import ensure_ray
    from swipe.lexicon import load_trie

    path, extra = LAYOUTS["ru"]
    alphabet = build_alphabet(load_layouts(path).values(), extra)
    wl = load_word_list(LexiconConfig(language="ru", extra_chars=extra), alphabet)
    trie = build_trie(wl.words, wl.counts, alphabet)
    npz = Path(tempfile.mkdtemp()) / "ru.npz"
    trie.save(npz)
    ensure_ray()

    @ray.remote(num_cpus=0.1)
    class Holder:
        def __init__(self, source):
            import psutil

            self.proc = psutil.Process()
            if source == "none":
                self.trie = None
            elif isinstance(source, str):
                self.trie = load_trie(source)  # a private copy
            else:
                self.trie = source  # resolved from the object store: read-only views
            if self.trie is not None:  # touch every page, then decode-like lookups
                sum(float(getattr(self.trie, a).sum()) for a in self.trie.ARRAYS)
                rng = np.random.default_rng(0)
                for _ in range(lookups):
                    self.trie.allowed_next_tokens(rng.integers(0, self.trie.n_nodes, 512))

        def uss_mb(self) -> float:
            return self.proc.memory_full_info().uss / 2 ** 20

    def mean_uss(source) -> float:
        actors = [Holder.remote(source) for _ in range(n_actors)]
        uss = ray.get([a.uss_mb.remote() for a in actors])
        for a in actors:
            ray.kill(a)
        return float(np.mean(uss))

    ref = ray.put(trie)
    base = mean_uss("none")
    shared = mean_uss(ref)
    copied = mean_uss(str(npz))
    ray.shutdown()
    return {"trie_mb": round(trie.nbytes / 2 ** 20, 1), "words": trie.n_words, "actors": n_actors,
            "extra_mb_per_actor_shared": round(shared - base, 1),
            "extra_mb_per_actor_copied": round(copied - base, 1), "baseline_uss_mb": round(base, 1),
            "target_extra_mb_per_actor_shared": 10}


def bench_tune(config: str = "configs/tune/quick.yaml") -> dict:
    """The quick sweep end to end (a fresh sweep name each time), on a local Ray; needs
    data/datasets/synth_en. Trials that ASHA stopped count as completed (they ended
    without error) and as stopped early."""
    from swipe.config import load_config
    from swipe.provenance import run_stamp
    from swipe.train.sweep import FINISHED, SweepConfig, run_sweep

    cfg = load_config(SweepConfig, config, [f"name=bench-{run_stamp()}"])
    result = run_sweep(cfg)
    status = result.trials["status"]
    return {"trials": len(result.trials), "trials_completed": int(status.isin(FINISHED).sum()),
            "trials_stopped_early": int((status == "stopped early").sum()),
            "trials_failed": int((status == "error").sum()),
            "best_val_swipe_mrr": round(float(result.trials["best_val_swipe_mrr"].max()), 4),
            "best_config": result.table["config"].iloc[0],
            "best_config_val_swipe_mrr_mean": round(float(result.table["swipe_mrr_mean"].iloc[0]), 4),
            "best_config_val_swipe_mrr_std": round(float(result.table["swipe_mrr_std"].iloc[0]), 4), "wall_s": round(result.wall_s, 1),
            "sweep_dir": str(result.sweep_dir)}


def bench_realism(max_swipes: int = 4000, seed: int = 0) -> dict:
    """How far the generator is from real people: a classifier two-sample test (ROC AUC of a
    small cross-validated MLP telling real from synthetic; 0.5 = indistinguishable) and the
    KS statistic of every realism statistic, for the default SynthConfig and (`fitted_…`) the
    one `swipe dev fit-synth` wrote to configs/synth_en_fitted.yaml. Real: the How We Swipe
    JSONL(.gz) named by $SWIPE_REALISM_REAL (the real train split, say), else the shipped dev
    set; synthetic: the same words on the same keyboards by the same people. Up to
    `max_swipes` of each."""
    import os

    from swipe.config import load_config
    from swipe.data.make import MakeDatasetConfig
    from swipe.data.realism import load_real_sample, realism_score

    path = os.environ.get("SWIPE_REALISM_REAL") or "data/samples/howweswipe_en_dev.jsonl"
    layouts = load_layouts(DEVICES)
    real, _ = load_real_sample(path, layouts, max_swipes, np.random.default_rng(seed))
    t0 = time.perf_counter()
    out = {k: v for k, v in realism_score(real, layouts, SynthConfig(), seed).items() if k != "table"}
    out["c2st_s"] = round(time.perf_counter() - t0, 1)
    fitted = load_config(MakeDatasetConfig, "configs/synth_en_fitted.yaml").synth
    out |= {f"fitted_{k}": v for k, v in realism_score(real, layouts, fitted, seed).items() if k != "table"}
    return out | {"real": path, "swipes": len(real)}


BENCHMARKS: dict[str, Callable[[], dict]] = {"synth": bench_synth, "lexicon": bench_lexicon,
                                             "data": bench_data, "train": bench_train, "decode": bench_decode,
                                             "share": bench_share, "tune": bench_tune, "realism": bench_realism}
