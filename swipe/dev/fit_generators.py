"""Fit the generators learned from real people, and measure how real each generator looks.

The procedure (`swipe dev fit-generator`): the real train split's people are divided by a hash
of their id; `check_share` of them are kept out of every fit, and each generator's realism
(classifier two-sample AUC, KS per statistic) is measured on their swipes, the same words
on the same keyboards, drawn by
- `parametric`: the fitted parametric generator (`synth_config`'s `synth:` block),
- `transplant`: the donor bank (the other people's swipes; `swipe/data/transplant.py`),
- `learned`: the rectified flow trained on the other people's swipes (`swipe/data/flow.py`).

Artifacts are written only where nothing is (`overwrite=true` replaces them), and each is
checked against `max_mb`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from swipe import storage
from swipe.config import config_to_dict, load_config
from swipe.data.dataset import sha256_file
from swipe.data.flow import FlowConfig, train_flow, training_arrays
from swipe.data.generators import GeneratorConfig
from swipe.data.realism import load_real_sample, realism_score
from swipe.data.swipes import SwipeBatch
from swipe.data.transplant import fit_bank
from swipe.hashrand import hash_keys
from swipe.keyboard import load_layouts
from swipe.provenance import git_revision, now_iso


@dataclass(frozen=True)
class FitGeneratorConfig:
    real: str = ""  # How We Swipe JSONL(.gz): the real train split
    layouts: str = "data/layouts/howweswipe_devices.json"  # the keyboards its grid_names name
    synth_config: str = "configs/synth_en_fitted.yaml"  # the parametric generator compared beside
    kinds: tuple[str, ...] = ("transplant", "learned")  # which to fit
    bank: str = "models/generators/transplant_en.npz"  # the transplant donor bank written
    flow_out: str = "models/generators/flow_en.pt"  # the learned generator's weights written
    bank_points: int = 48  # arc positions each donor is stored at
    flow: FlowConfig = field(default_factory=FlowConfig)
    flow_steps: int = 8  # Euler steps when the learned generator's realism is measured
    check_share: float = 0.1  # people kept out of every fit; realism is measured on them
    check_swipes: int = 3000  # kept-out swipes realism is measured on
    max_swipes: int = 1_000_000  # at most this many real swipes read
    max_mb: float = 5.0  # refuse an artifact larger than this (the repository keeps them small)
    report: str = "models/generators/REPORT.md"  # beside the artifacts, with its JSON
    threads: int = 2  # torch threads for the flow's training
    seed: int = 0  # seed of the people kept out and of the fits
    overwrite: bool = False  # replace artifacts already written (refused before any work otherwise)


def _split_people(batch: SwipeBatch, share: float, seed: int) -> np.ndarray:
    """True for the swipes of the people kept out of the fit (a hash of the person's id)."""
    users = batch.user_list()
    codes = np.array([int.from_bytes(str(u).encode()[:8].ljust(8, b"\0"), "little") & 0x7FFFFFFFFFFFFFFF
                      for u in users])
    return (hash_keys(codes, seed) % np.uint64(10_000)).astype(np.int64) < share * 10_000


def _check_size(path: str, size: int, max_mb: float) -> None:
    if size > max_mb * 2 ** 20:
        Path(path).unlink()
        raise ValueError(f"{path} is {size / 2 ** 20:.2f} MB, over max_mb={max_mb}; removed")


def fit_generators(cfg: FitGeneratorConfig) -> dict:
    """Fit the kinds `cfg` names, write their artifacts and the realism report; returns what it measured."""
    if not cfg.real:
        raise ValueError("set real=PATH (a How We Swipe JSONL of people outside the dev set)")
    for kind, path in (("transplant", cfg.bank), ("learned", cfg.flow_out)):
        if kind in cfg.kinds:
            storage.refuse_existing(path, cfg.overwrite)
    torch.set_num_threads(cfg.threads)
    layouts = load_layouts(cfg.layouts)
    real, _ = load_real_sample(cfg.real, layouts, cfg.max_swipes, np.random.default_rng(cfg.seed))
    held = _split_people(real, cfg.check_share, cfg.seed)
    fit_rows, check_rows = np.flatnonzero(~held), np.flatnonzero(held)
    rng = np.random.default_rng(cfg.seed)
    check = real.take(np.sort(rng.choice(check_rows, min(cfg.check_swipes, len(check_rows)), replace=False)))
    fit = real.take(fit_rows)
    source = {"file": Path(cfg.real).name, "sha256": sha256_file(cfg.real), "swipes": len(fit),
              "people": len(set(fit.user_list())), "check_people": len(set(real.take(check_rows).user_list()))}
    out: dict = {"created": now_iso(), "git_revision": git_revision(), "config": config_to_dict(cfg), "source": source,
                 "artifacts": {}}
    for path in (cfg.bank, cfg.flow_out):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    if "transplant" in cfg.kinds:
        t0 = time.perf_counter()
        bank = fit_bank(fit, layouts, cfg.bank_points, source=json.dumps(source))
        size = bank.save(cfg.bank)
        _check_size(cfg.bank, size, cfg.max_mb)
        out["artifacts"]["transplant"] = {"path": cfg.bank, "donors": len(bank), "bytes": size,
                                          "fit_s": round(time.perf_counter() - t0, 1)}
    if "learned" in cfg.kinds:
        data, cond = training_arrays(fit, layouts, cfg.flow.points)
        flow, _ = train_flow(data, cond, cfg.flow)
        flow.info["source"] = source
        size = flow.save(cfg.flow_out)
        _check_size(cfg.flow_out, size, cfg.max_mb)
        out["artifacts"]["learned"] = {"path": cfg.flow_out, "bytes": size} | \
            {k: v for k, v in flow.info.items() if k != "source"}

    from swipe.data.make import MakeDatasetConfig  # here: swipe.data.make loads ray, and fitting needs none
    synth = load_config(MakeDatasetConfig, cfg.synth_config).synth
    gens = {"parametric": GeneratorConfig()}
    if Path(cfg.bank).exists():
        gens["transplant"] = GeneratorConfig(kind="transplant", bank=cfg.bank)
    if Path(cfg.flow_out).exists():
        gens["learned"] = GeneratorConfig(kind="learned", flow=cfg.flow_out, flow_steps=cfg.flow_steps)
    out["realism"] = {}
    for name, gen in gens.items():
        r = realism_score(check, layouts, synth, cfg.seed, gen)
        out["realism"][name] = {k: v for k, v in r.items() if k != "table"}
        print(f"{name}: c2st_auc {r['c2st_auc']}, mean KS {r['mean_ks']}, worst KS {r['worst_ks']} "
              f"({r['worst_ks_stat']})", flush=True)
    _write_report(cfg, out, len(check))
    return out


def _write_report(cfg: FitGeneratorConfig, out: dict, n_check: int) -> None:
    names = list(out["realism"])
    stats = list(out["realism"][names[0]]["ks"])
    lines = [f"# Generator realism on real people kept out of every fit ({n_check} swipes of "
             f"{out['source']['check_people']} people, {out['source']['file']})", "",
             "Made by `swipe dev fit-generator real=" + cfg.real + "` "
             f"({out['created']}, {out['git_revision']}). Each generator draws the same words on the same "
             "keyboards; c2st_auc: a small MLP telling them from the real swipes (0.5: it cannot).", "",
             "| | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names),
             "| **c2st_auc** | " + " | ".join(f"**{out['realism'][n]['c2st_auc']:.3f}**" for n in names) + " |",
             "| mean KS | " + " | ".join(f"{out['realism'][n]['mean_ks']:.3f}" for n in names) + " |"]
    lines += [f"| KS {s} | " + " | ".join(f"{out['realism'][n]['ks'][s]:.3f}" for n in names) + " |" for s in stats]
    files = [p for p in (cfg.bank, cfg.flow_out) if Path(p).exists()]
    lines += ["", "Artifacts: " + ", ".join(f"`{p}` ({Path(p).stat().st_size / 2 ** 20:.2f} MB, sha256 "
                                             f"{sha256_file(p)[:12]})" for p in files)
              + (" (fitted by this run)" if out["artifacts"] else " (fitted earlier; realism measured by this run)")]
    Path(cfg.report).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.report).write_text("\n".join(lines) + "\n")
    Path(cfg.report).with_suffix(".json").write_text(json.dumps(out, indent=1, default=str) + "\n")
