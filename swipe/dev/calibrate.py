"""Tuning a decoder's weights on real people without reporting on them: the dev users split in
two halves by a hash of their id, weights fitted on one, figures reported on the other.

For the template matcher: every dev swipe's candidates are scored once in each channel
(`swipe.decode.template.channels`, at the widest pruning radii searched); each setting of
the weights then only re-ranks them. Coordinate ascent on the tuning half's swipe_mrr goes
over one parameter at a time, and a grid whose best value is at its edge is widened past it
(×2 or ÷2 for scales) until the optimum is inside, so the result does not sit on a bound of
the search. The result is a config (`template:` of a prediction job) with its figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from swipe import storage
from swipe.config import config_to_dict
from swipe.data.dataset import load_manifest, read_split
from swipe.data.swipes import SwipeBatch
from swipe.decode.ctc import CtcConfig
from swipe.decode.fused import FusedChannels, FusedConfig, fused_score
from swipe.decode.search import BeamConfig
from swipe.decode.template import Channels, LayoutKeys, TemplateConfig, TemplateIndex, channels, nearest_keys, score
from swipe.metrics import MRR_WEIGHTS, user_half
from swipe.keyboard import parse_layouts
from swipe.lexicon import Alphabet, LexiconConfig, build_lexicon_trie
from swipe.model.spec import InputSpec
from swipe.provenance import git_revision, now_iso

PARAMS = ("sigma_shape", "sigma_location", "freq_weight", "start_radius", "end_radius")
SCALES = ("sigma_shape", "sigma_location", "freq_weight")  # widened ×2 / ÷2; radii by ±0.25 key widths
MAX_WIDEN = 6  # widenings of one parameter's grid per pass (a flat score would widen it forever)


@dataclass(frozen=True)
class CalibrateConfig:
    """Which dev set, which lexicon, the starting grid, and where the tuned config goes."""

    dataset: str = "data/datasets/real_en_dev"  # the real dev dataset (with users: the halves are by user)
    split: str = "dev"  # its split with the dev swipes
    lexicon: LexiconConfig = field(default_factory=LexiconConfig)  # default: all English wordfreq words
    start: TemplateConfig = field(default_factory=TemplateConfig)  # n_points and top_k are kept as given
    # each weight's starting values; a grid whose optimum is on its edge is widened
    grid: dict[str, list[float]] = field(default_factory=lambda: {
        "sigma_shape": [0.05, 0.1, 0.2], "sigma_location": [0.3, 0.6, 1.2], "freq_weight": [0.25, 0.5, 1.0],
        "start_radius": [0.75, 1.0, 1.25], "end_radius": [1.0, 1.5, 2.0]})
    max_radius: float = 2.5  # candidates are collected once, out to this many key widths
    rounds: int = 4  # passes of coordinate ascent over the parameters
    seed: int = 0  # of the split of users into halves
    rows: int = 0  # dev swipes used (0: all; tests use fewer)
    base: str = "configs/predict_en.yaml"  # the prediction config the tuned one is written from
    out: str = "configs/predict_template_en.yaml"  # base + decoder: template + the tuned weights; figures in its header
    overwrite: bool = False  # replace an existing `out` (refused before any work otherwise)


@dataclass
class Candidates:
    """Every swipe's candidates, flat: what each setting re-ranks."""

    swipe: np.ndarray  # (M,) swipe number of each candidate (each swipe's candidates contiguous)
    is_ref: np.ndarray  # (M,) bool: the candidate is the swipe's reference word
    channels: Channels  # (M,) each
    _nearest: tuple[np.ndarray, np.ndarray] | None = None  # per candidate: its swipe's nearest start/end key

    def mrr(self, cfg: TemplateConfig, rows: np.ndarray, n: int) -> dict[str, float]:
        """swipe_mrr and acc@1 over the swipes `rows` (bool (n,)) when ranked with `cfg`."""
        if self._nearest is None:  # fixed by the channels: computed once, whatever cfg is tried
            self._nearest = nearest_keys(self.channels, self.swipe)
        return ranked_mrr(score(self.channels, cfg, self._nearest), self.swipe, self.is_ref, rows, n)


def ranked_mrr(s: np.ndarray, swipe: np.ndarray, is_ref: np.ndarray, rows: np.ndarray, n: int) -> dict[str, float]:
    """swipe_mrr and acc@1 over the swipes `rows` (bool (n,)) when each swipe's candidates
    (flat: `swipe`, `is_ref`) are ranked by the scores `s` (a swipe without its word scores 0)."""
    ref = np.full(n, -np.inf)
    ref[swipe[is_ref]] = s[is_ref]
    above = np.bincount(swipe, weights=s > ref[swipe], minlength=n)  # candidates ranked before it
    weights = np.array(MRR_WEIGHTS + (0.0,))
    mrr = np.where(np.isfinite(ref), weights[np.minimum(above, len(MRR_WEIGHTS)).astype(int)], 0.0)
    return {"swipe_mrr": float(mrr[rows].mean()), "acc@1": float((np.isfinite(ref) & (above == 0))[rows].mean()),
            "swipes": int(rows.sum())}


def collect(batch: SwipeBatch, layouts: dict, index: TemplateIndex, cfg: TemplateConfig,
            word_ids: dict[str, int]) -> Candidates:
    """Channels of every candidate of every swipe (within cfg's radii)."""
    cache: dict[str, LayoutKeys] = {}
    parts, swipe, is_ref = [], [], []
    for i in range(len(batch)):
        g = batch.grid_names[i]
        if g not in cache:
            cache[g] = LayoutKeys(layouts[g], index.alphabet)
        s, e = batch.offsets[i], batch.offsets[i + 1]
        ch = channels(batch.x[s:e], batch.y[s:e], cache[g], index, cfg)
        parts.append(ch)
        swipe.append(np.full(len(ch.words), i))
        is_ref.append(ch.words == word_ids.get(batch.words[i], -1))
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return Candidates(np.concatenate(swipe), np.concatenate(is_ref),
                      Channels(cat("words"), cat("shape"), cat("location"), cat("start"), cat("end"), cat("logfreq")))


STEP = 0.25  # additive parameters widen by this much


def _widen(name: str, values: list[float], low: bool, high: bool, scales: tuple[str, ...],
           bounds: dict[str, tuple[float, float]]) -> list[float]:
    """The grid one step wider below (`low`) and/or above (`high`): ×2 or ÷2 for scales,
    ±STEP for additive parameters (within their bounds, if any)."""
    values = sorted(values)
    lo_b, hi_b = bounds.get(name, (-np.inf, np.inf))
    if low:
        lo = values[0] / 2 if name in scales else values[0] - STEP
        values = ([lo] if name in scales or lo >= lo_b else []) + values
    if high:
        hi = values[-1] * 2 if name in scales else values[-1] + STEP
        values = values + ([hi] if name in scales or hi <= hi_b else [])
    return values


def tune(evaluate: Callable[[Any, np.ndarray], dict[str, float]], tune_rows: np.ndarray, start: Any,
         grid: dict[str, list[float]], rounds: int, scales: tuple[str, ...],
         bounds: dict[str, tuple[float, float]]) -> tuple[Any, dict[str, list[float]], list[dict[str, Any]]]:
    """Coordinate ascent of swipe_mrr (`evaluate(cfg, rows)`) on `tune_rows` over the
    parameters of `grid`, from `start` (a dataclass); returns the best config, the final grid
    (every optimum inside it), and the steps taken."""
    params = tuple(grid)
    grid = {k: sorted(v) for k, v in grid.items()}
    cfg = replace(start, **{k: grid[k][len(grid[k]) // 2] for k in params})
    best = evaluate(cfg, tune_rows)["swipe_mrr"]
    steps = [{"round": 0, **{k: getattr(cfg, k) for k in params}, "swipe_mrr": best}]
    for r in range(1, rounds + 1):
        moved = False
        for name in params:
            for _ in range(MAX_WIDEN):  # widen while an edge of the grid scores as well as its best
                values = grid[name]
                scores = {v: evaluate(replace(cfg, **{name: v}), tune_rows)["swipe_mrr"] for v in values}
                top_score = max(scores.values())
                wider = _widen(name, values, scores[values[0]] >= top_score - 1e-12,
                               scores[values[-1]] >= top_score - 1e-12, scales, bounds)
                if wider == values:
                    break
                grid[name] = wider
            values = grid[name]
            scores = {v: evaluate(replace(cfg, **{name: v}), tune_rows)["swipe_mrr"] for v in values}
            top = max(values, key=lambda v: (scores[v], -abs(v - getattr(cfg, name))))  # ties: stay close
            if scores[top] > best + 1e-12:
                cfg, best, moved = replace(cfg, **{name: top}), scores[top], True
        steps.append({"round": r, **{k: getattr(cfg, k) for k in params}, "swipe_mrr": best})
        if not moved:
            break
    return cfg, grid, steps


def dev_swipes(dataset: str, split: str, rows: int) -> tuple[dict[str, Any], dict, SwipeBatch]:
    """The manifest, layouts and first `rows` swipes (0: all) of a split whose every swipe
    has its user: what the halves are drawn from."""
    manifest = load_manifest(dataset)
    table = read_split(dataset, split)
    batch = SwipeBatch.from_arrow(table.slice(0, rows) if rows else table)
    if batch.users is None or any(u is None for u in batch.users):
        raise ValueError(f"{dataset}:{split} has swipes of unknown users: the halves need every user")
    return manifest, parse_layouts(manifest["layouts"]), batch


def calibrate_template(cfg: CalibrateConfig) -> dict[str, Any]:
    """Tune on the tuning half of the dev users, report on the other half, write cfg.out."""
    storage.refuse_existing(cfg.out, cfg.overwrite)
    t0 = time.perf_counter()
    manifest, layouts, batch = dev_swipes(cfg.dataset, cfg.split, cfg.rows)
    trie = build_lexicon_trie(cfg.lexicon, Alphabet(manifest["alphabet"]))
    index = TemplateIndex.build(trie)
    wide = replace(cfg.start, start_radius=cfg.max_radius, end_radius=cfg.max_radius)
    cands = collect(batch, layouts, index, wide, {w: i for i, w in enumerate(trie.words())})
    t_collect = time.perf_counter() - t0
    half = user_half(batch.users, cfg.seed)
    radii = {"start_radius": (0.25, cfg.max_radius), "end_radius": (0.25, cfg.max_radius)}
    best, grid, steps = tune(lambda c, rows: cands.mrr(c, rows, len(batch)), half, cfg.start,
                             {k: cfg.grid[k] for k in PARAMS}, cfg.rounds, SCALES, radii)
    result = {"tuned_on": cands.mrr(best, half, len(batch)) | {"users": len(set(np.array(batch.users)[half]))},
              "reported_on": cands.mrr(best, ~half, len(batch)) | {"users": len(set(np.array(batch.users)[~half]))},
              "template": config_to_dict(best), "grid": grid, "steps": steps, "lexicon_words": len(index.lengths),
              "dataset": cfg.dataset, "split": cfg.split, "seed": cfg.seed, "created": now_iso(),
              "git_revision": git_revision(), "collect_s": round(t_collect, 1),
              "wall_s": round(time.perf_counter() - t0, 1)}
    if cfg.out:
        write_tuned(result, cfg, Path(cfg.out))
    return result


def write_tuned(result: dict[str, Any], cfg: CalibrateConfig, path: Path) -> None:
    """A prediction config: `cfg.base` with decoder: template and the tuned weights; the
    procedure and the figures in its header."""
    base = yaml.safe_load(Path(cfg.base).read_text()) or {} if cfg.base else {}
    base = base | {"decoder": "template", "lexicon": config_to_dict(cfg.lexicon), "template": result["template"]}
    t, r = result["tuned_on"], result["reported_on"]
    header = [
        "# Batch prediction with the template matcher (no checkpoint, no training), its weights tuned on",
        "# half of the How We Swipe dev users and reported on the other half.",
        f"# Written by:  swipe dev calibrate dataset={cfg.dataset} base={cfg.base} out={path} overwrite=true",
        f"# ({result['created']}, git {result['git_revision']}). Do not edit: re-run the job.",
        f"# Tuned on {t['users']} users ({t['swipes']} swipes): swipe_mrr {t['swipe_mrr']:.4f}, acc@1 {t['acc@1']:.4f}",
        f"# Reported on the other {r['users']} users ({r['swipes']} swipes): swipe_mrr {r['swipe_mrr']:.4f}, "
        f"acc@1 {r['acc@1']:.4f}  ({result['lexicon_words']} words)",
        "# Every optimum lies inside its final grid: " + "; ".join(f"{k} {v}" for k, v in result["grid"].items()),
        "# Run:  swipe predict --config THIS_FILE dataset=data/datasets/real_en_dev split=dev out=…",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header) + "\n" + yaml.safe_dump(base, sort_keys=False))


# ----------------------------------------------------------------------------- the fused decoder
FUSED_SCALES = ("freq_weight", "sigma_shape", "sigma_location")  # ×2 / ÷2; the rest additive (±STEP)
FUSED_BOUNDS = {"length_alpha": (0.0, 3.0)}


@dataclass(frozen=True)
class FusedCalibrateConfig:
    """The fused decoder's tuning: which checkpoint and dev set, the candidates, the grid."""

    checkpoint: str = "models/en-small"  # the model whose beam and rescoring are fused
    dataset: str = "data/datasets/real_en_dev"  # the real dev dataset (with users: the halves are by user)
    split: str = "dev"  # its split with the dev swipes
    base: str = "configs/predict_template_en.yaml"  # lexicon, beam and template settings are taken from it
    # keys of the base's template settings replaced for the fused decoder (its matcher only proposes and
    # measures a few candidates: e.g. {shortlist: 50, n_points: 16} costs less), recorded in the output
    template: dict[str, Any] = field(default_factory=dict)
    start: FusedConfig = field(default_factory=FusedConfig)  # candidate counts and top_k kept as given
    # each weight's starting values; a grid whose optimum is on its edge is widened
    grid: dict[str, list[float]] = field(default_factory=lambda: {
        "length_alpha": [0.0, 0.5, 1.0], "length_weight": [-0.25, 0.0, 0.25], "freq_weight": [0.1, 0.2, 0.4],
        "sigma_shape": [0.05, 0.1, 0.2], "sigma_location": [0.3, 0.6, 1.2]})
    rounds: int = 4  # passes of coordinate ascent over the weights
    seed: int = 0  # of the split of users into halves (the template matcher's halves)
    rows: int = 0  # dev swipes used (0: all)
    decode_batch: int = 32  # the model reads its own input spec (model.json), as prediction does
    out: str = "configs/decode_en.yaml"  # the prediction config written: decoder fused, the tuned weights, both halves' figures
    overwrite: bool = False  # replace an existing `out` (refused before any work otherwise)


@dataclass
class FusedCandidates:
    """Every swipe's fused candidates with their channels: what each setting re-ranks."""

    channels: FusedChannels
    is_ref: np.ndarray  # (M,)

    def mrr(self, cfg: FusedConfig, rows: np.ndarray, n: int) -> dict[str, float]:
        return ranked_mrr(fused_score(self.channels, cfg), self.channels.swipe, self.is_ref, rows, n)


def collect_fused(batch: SwipeBatch, model: Any, alphabet: Alphabet, trie: Any, index: TemplateIndex,
                  layouts: dict, beam: BeamConfig, template: TemplateConfig, fused: FusedConfig, spec: InputSpec,
                  decode_batch: int, ctc: CtcConfig | None = None) -> FusedCandidates:
    """Both decoders' candidates for every swipe of `batch`, measured in every channel; the
    swipes read as `spec` says, in the prediction job's batches (swipe.decode.decoders)."""
    from swipe.decode.decoders import Lexicon, SwipeDecoder

    decoder = SwipeDecoder(model, alphabet, layouts, template, fused, spec, decode_batch, ctc)
    order = np.argsort(batch.lengths, kind="stable")  # similar lengths pad less
    parts = []
    for s in range(0, len(order), decode_batch):
        rows = order[s:s + decode_batch]
        ch = decoder.channels(decoder.encode(batch.take(rows)), Lexicon(trie, index), beam)
        ch.swipe = rows[ch.swipe]  # positions in `batch`
        parts.append(ch)
    ch = FusedChannels.concat(parts)
    is_ref = np.array([w == batch.words[i] for w, i in zip(ch.words, ch.swipe)], bool)
    return FusedCandidates(ch, is_ref)


@dataclass
class CtcCandidates:
    """Every swipe's CTC trie beam candidates (its `top_k` at the base settings), with each word's
    CTC log p, log frequency and letters: what each setting of the prior and the length weight re-ranks."""

    swipe: np.ndarray
    logp: np.ndarray
    logfreq: np.ndarray
    length: np.ndarray
    is_ref: np.ndarray

    def mrr(self, cfg: CtcConfig, rows: np.ndarray, n: int) -> dict[str, float]:
        s = self.logp + cfg.freq_weight * self.logfreq + cfg.length_weight * self.length
        return ranked_mrr(s, self.swipe, self.is_ref, rows, n)


def collect_ctc(batch: SwipeBatch, model: Any, alphabet: Alphabet, trie: Any, layouts: dict, spec: InputSpec,
                decode_batch: int, ctc: CtcConfig, top_k: int = 16) -> CtcCandidates:
    """The key head's CTC trie beam over every swipe of `batch` (its `top_k` best at `ctc`'s
    settings), each word's score taken apart into its channels."""
    from swipe.decode.decoders import Lexicon, SwipeDecoder

    decoder = SwipeDecoder(model, alphabet, layouts, TemplateConfig(), FusedConfig(), spec, decode_batch, ctc)
    found = decoder.decode(batch, "ctc", Lexicon(trie), BeamConfig(), top_k)
    swipe = np.repeat(np.arange(len(batch)), [len(c) for c in found])
    words = [w for c in found for w, _ in c]
    ids = trie.word_ids(words)
    logfreq, length = trie.word_logfreq[ids].astype(np.float64), np.array([len(w) for w in words], np.float64)
    logp = np.array([s_ for c in found for _, s_ in c]) - ctc.freq_weight * logfreq - ctc.length_weight * length
    is_ref = np.array([w == batch.words[i] for w, i in zip(words, swipe)], bool)
    return CtcCandidates(swipe, logp, logfreq, length, is_ref)


CTC_GRID = {"freq_weight": [0.25, 0.5, 1.0], "length_weight": [-0.5, 0.0, 0.5]}


def calibrate_fused(cfg: FusedCalibrateConfig) -> dict[str, Any]:
    """Tune the fused weights on the tuning half of the dev users, report on the other half,
    write cfg.out (a prediction config with decoder: fused)."""
    import torch

    from swipe.config import build_config
    from swipe.evaluate.predict import PredictConfig, resolve_spec
    from swipe.model.checkpoint import lexicon_alphabet, load_meta, load_model, resolve_checkpoint

    storage.refuse_existing(cfg.out, cfg.overwrite)
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    base = yaml.safe_load(Path(cfg.base).read_text()) or {}
    base = build_config(PredictConfig, base | {"template": (base.get("template") or {}) | cfg.template})
    manifest, layouts, batch = dev_swipes(cfg.dataset, cfg.split, cfg.rows)
    checkpoint = resolve_checkpoint(cfg.checkpoint)
    meta = load_meta(checkpoint)
    model, _ = load_model(checkpoint, "cpu", layouts)
    alphabet = Alphabet(meta["alphabet"])
    base = replace(base, lexicon={})  # the template config's lexicon is not the model's: the model's own is read
    spec, overrides = resolve_spec(meta, base, cfg.checkpoint)  # what prediction with `base` would read
    trie = build_lexicon_trie(spec.lexicon, lexicon_alphabet(meta, manifest["alphabet"]))
    index = TemplateIndex.build(trie)
    cands = collect_fused(batch, model, alphabet, trie, index, layouts, base.beam, base.template, cfg.start,
                          spec, cfg.decode_batch, base.ctc)
    grid = dict(cfg.grid)
    if model.cfg.head == "hybrid":  # two networks' word log p: the weight of the key head's
        grid.setdefault("ctc_weight", [0.0, 0.5, 1.0])
    t_collect = time.perf_counter() - t0
    half = user_half(batch.users, cfg.seed)
    n = len(batch)
    best, grid, steps = tune(lambda c, rows: cands.mrr(c, rows, n), half, cfg.start, grid, cfg.rounds,
                             FUSED_SCALES, FUSED_BOUNDS)
    users = np.array(batch.users)
    recall = np.bincount(cands.channels.swipe[cands.is_ref], minlength=n) > 0
    result = {"tuned_on": cands.mrr(best, half, n) | {"users": len(set(users[half]))},
              "reported_on": cands.mrr(best, ~half, n) | {"users": len(set(users[~half]))},
              "candidate_recall": {"tuned_on": float(recall[half].mean()), "reported_on": float(recall[~half].mean())},
              "fused": config_to_dict(best), "grid": grid, "steps": steps, "lexicon_words": len(index.lengths),
              "checkpoint": str(cfg.checkpoint), "dataset": cfg.dataset, "split": cfg.split, "seed": cfg.seed,
              "input_spec": spec.tag(), "spec_overrides": overrides,
              "created": now_iso(), "git_revision": git_revision(), "collect_s": round(t_collect, 1),
              "wall_s": round(time.perf_counter() - t0, 1)}
    if model.key_head is not None:  # the CTC trie beam alone: its prior and length weight, on the same half
        ctc_cands = collect_ctc(batch, model, alphabet, trie, layouts, spec, cfg.decode_batch, base.ctc)
        ctc_best, ctc_grid, _ = tune(lambda c, rows: ctc_cands.mrr(c, rows, n), half, base.ctc, CTC_GRID, cfg.rounds,
                                     ("freq_weight",), {})
        result["ctc"] = {"tuned_on": ctc_cands.mrr(ctc_best, half, n), "reported_on": ctc_cands.mrr(ctc_best, ~half, n),
                         "config": config_to_dict(ctc_best), "grid": ctc_grid}
    if cfg.out:
        write_fused(result, cfg, Path(cfg.out))
    return result


def write_fused(result: dict[str, Any], cfg: FusedCalibrateConfig, path: Path) -> None:
    """configs/decode_en.yaml: `cfg.base` with decoder: fused, the checkpoint and the tuned
    weights; the procedure and the figures in its header."""
    base = yaml.safe_load(Path(cfg.base).read_text()) or {}
    base = {k: v for k, v in base.items() if k != "lexicon"}  # the model's own, from its input spec
    base["template"] = (base.get("template") or {}) | cfg.template
    base = base | {"decoder": "fused", "checkpoint": cfg.checkpoint, "fused": result["fused"]}
    if "ctc" in result:  # a key-head model: the CTC beam's settings (the fused decoder's first pass, and decoder: ctc)
        base["ctc"] = result["ctc"]["config"]
    t, r = result["tuned_on"], result["reported_on"]
    header = [
        "# Batch prediction with the fused decoder: the neural beam's (a key head's: the CTC trie beam's) and the template matcher's candidates,",
        "# re-scored together (swipe/decode/fused.py); weights tuned on half of the How We Swipe dev users,",
        "# reported on the other half.",
        f"# Written by:  swipe dev tune-fused checkpoint={cfg.checkpoint} dataset={cfg.dataset} "
        f"base={cfg.base} out={path} overwrite=true"
        + (" 'template={" + ", ".join(f"{k}: {v}" for k, v in cfg.template.items()) + "}'" if cfg.template else ""),
        f"# ({result['created']}, git {result['git_revision']}). Do not edit: re-run the job.",
        f"# Tuned on {t['users']} users ({t['swipes']} swipes): swipe_mrr {t['swipe_mrr']:.4f}, acc@1 {t['acc@1']:.4f}",
        f"# Reported on the other {r['users']} users ({r['swipes']} swipes): swipe_mrr {r['swipe_mrr']:.4f}, "
        f"acc@1 {r['acc@1']:.4f}  ({result['lexicon_words']} words)",
        "# Every optimum lies inside its final grid: " + "; ".join(f"{k} {v}" for k, v in result["grid"].items()),
    ]
    if "ctc" in result:
        c = result["ctc"]
        header += [
            f"# decoder: ctc (the CTC trie beam alone, its 16 best re-ranked to tune ctc.freq_weight and "
            f"ctc.length_weight): tuned half swipe_mrr {c['tuned_on']['swipe_mrr']:.4f}, reported half "
            f"{c['reported_on']['swipe_mrr']:.4f}, acc@1 {c['reported_on']['acc@1']:.4f}",
            "# its grid: " + "; ".join(f"{k} {v}" for k, v in c["grid"].items())]
    header += [
        f"# The model read its own input spec ({result['input_spec']}"
        + (f"; overridden: {result['spec_overrides']}" if result["spec_overrides"] else "") + ").",
        f"# Run:  swipe predict --config {path} checkpoint={cfg.checkpoint} dataset=DIR split=SPLIT out=OUT",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header) + "\n" + yaml.safe_dump(base, sort_keys=False))


def halves_summary(result: dict[str, Any]) -> str:
    """Both halves' figures of a tuning result, a line each (what the tuning jobs print)."""
    lines = []
    for half in ("tuned_on", "reported_on"):
        m = result[half]
        recall = result.get("candidate_recall", {}).get(half)
        lines.append(f"{half:>12}: {m['users']} users, {m['swipes']} swipes: swipe_mrr={m['swipe_mrr']:.4f} "
                     f"acc@1={m['acc@1']:.4f}" + (f" (reference among the candidates: {recall:.4f})" if recall else ""))
    return "\n".join(lines)
