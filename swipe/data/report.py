"""The realism report: statistics of two datasets side by side, as Markdown and PNGs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swipe.config import build_config
from swipe.data.dataset import load_manifest, read_split
from swipe.data.realism import Comparison, c2st_auc, compare, compute_stats, swipe_features, synthesize_like
from swipe.data.swipes import SwipeBatch
from swipe.data.generators import GeneratorConfig, generate
from swipe.data.synth import SynthConfig
from swipe.keyboard import parse_layouts
from swipe.plot import plot_realism, plot_swipe_pairs


@dataclass(frozen=True)
class ReportConfig:
    """Which two datasets to compare and where the report goes."""

    a: str = "data/datasets/synth_en"  # usually the synthetic dataset
    a_split: str = "train"  # the split of dataset a compared
    a_name: str = "synthetic"  # its name in the report
    b: str = "data/datasets/real_en_dev"  # usually real swipes
    b_split: str = "dev"  # the split of dataset b compared
    b_name: str = "real"  # its name in the report
    out: str = "reports/realism_en"  # writes OUT.md, OUT.png and OUT_swipes.png
    max_rows: int = 20_000  # rows sampled from each dataset
    tolerance: float = 0.15  # a median "matches" within this relative difference
    example_words: int = 5  # words drawn synthetic-vs-real in OUT_swipes.png (0: none)
    c2st: bool = True  # run the classifier two-sample test (b's words on b's keyboards by a's generator)
    seed: int = 0  # seed of the sampled swipes and the classifier test


def _sample(root: str, split: str, n: int, rng: np.random.Generator) -> SwipeBatch:
    batch = SwipeBatch.from_arrow(read_split(root, split))
    if len(batch) > n:
        batch = batch.take(np.sort(rng.choice(len(batch), n, replace=False)))
    return batch


def write_data_report(cfg: ReportConfig) -> Comparison:
    """Compute, print nothing, write the Markdown table and pictures; return the comparison."""
    rng = np.random.default_rng(cfg.seed)
    man_a, man_b = load_manifest(cfg.a), load_manifest(cfg.b)
    layouts = {**parse_layouts(man_b["layouts"]), **parse_layouts(man_a["layouts"])}
    a = _sample(cfg.a, cfg.a_split, cfg.max_rows, rng)
    b = _sample(cfg.b, cfg.b_split, cfg.max_rows, rng)
    stats_a, stats_b = compute_stats(a, layouts), compute_stats(b, layouts)
    comp = compare(stats_a, stats_b, cfg.a_name, cfg.b_name, cfg.tolerance)
    if cfg.c2st and man_a.get("generator") is not None:  # b's words on b's keyboards, made by a's generator
        twins = synthesize_like(b, layouts, build_config(SynthConfig, man_a["generator"]), rng, _generator(man_a))
        comp.c2st_auc = c2st_auc(swipe_features(b, layouts), swipe_features(twins, layouts), seed=cfg.seed)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_realism({cfg.a_name: stats_a, cfg.b_name: stats_b}, out.with_suffix(".png"))
    md = [f"# Realism: {cfg.a_name} ({cfg.a}:{cfg.a_split}, {len(a)} swipes) vs "
          f"{cfg.b_name} ({cfg.b}:{cfg.b_split}, {len(b)} swipes)", "", comp.to_markdown(), "",
          f"Worst KS: {comp.worst_ks[0]} ({comp.worst_ks[1]:.3f}). "
          + (f"Classifier two-sample test (a small MLP, 5-fold, telling {cfg.b_name} swipes from "
             f"{cfg.a_name} swipes of the same words on the same keyboards): ROC AUC {comp.c2st_auc:.3f} "
             "(0.5: indistinguishable)." if comp.c2st_auc is not None else ""), "",
          f"![histograms]({out.with_suffix('.png').name})"]
    if cfg.example_words and man_a.get("generator") is not None:
        path = _example_swipes(cfg, b, layouts, build_config(SynthConfig, man_a["generator"]), rng, _generator(man_a))
        md += ["", f"![{cfg.a_name} vs {cfg.b_name}]({path.name})"]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    return comp


def _generator(manifest: dict) -> GeneratorConfig:
    """The generator a synthetic dataset was made with (parametric for datasets made before kinds)."""
    rec = dict(manifest.get("provenance", {}).get("generator") or {})
    rec.pop("shares", None)
    rec.pop("sha256", None)
    return build_config(GeneratorConfig, rec)


def _example_swipes(cfg: ReportConfig, real: SwipeBatch, layouts: dict, synth_cfg: SynthConfig,
                    rng: np.random.Generator, gen: GeneratorConfig) -> Path:
    """Fresh synthetic swipes of words that real swipes spell, drawn in two rows."""
    grid = real.grid_names[0]
    cand = [i for i, w in enumerate(real.words) if w and 4 <= len(w) <= 8 and real.grid_names[i] == grid]
    picks = rng.choice(cand, size=min(cfg.example_words, len(cand)), replace=False)
    words = [real.words[i] for i in picks]
    synth = generate(words, layouts[grid], synth_cfg, gen, rng)

    def traces(b: SwipeBatch, rows: list[int]) -> list:
        return [(b.x[b.offsets[i]:b.offsets[i + 1]], b.y[b.offsets[i]:b.offsets[i + 1]],
                 b.t[b.offsets[i]:b.offsets[i + 1]]) for i in rows]

    rows = [(cfg.a_name, traces(synth, list(range(len(words))))), (cfg.b_name, traces(real, list(picks)))]
    return plot_swipe_pairs(rows, words, layouts[grid], Path(cfg.out + "_swipes.png"))
