"""Benchmarks: each returns one dict of named figures (jobs/bench.py prints it as JSON).

Figures are rates or sizes measured in one run; compare ratios from the same run, since
the machines are shared and noisy.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from swipe.keyboard import load_layouts
from swipe.lexicon import LexiconConfig, build_alphabet, build_trie, load_word_list
from swipe.synth import SynthConfig, synthesize
from swipe.validate import ValidationConfig, validate

LAYOUTS = {"en": ("data/layouts/qwerty_english.json", "'"), "ru": ("data/layouts/yandex_cup.json", "-")}


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


BENCHMARKS: dict[str, Callable[[], dict]] = {"synth": bench_synth, "lexicon": bench_lexicon}
