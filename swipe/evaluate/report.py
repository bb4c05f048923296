"""Evaluation of a prediction run: metrics, breakdowns, a beam-size sweep, Markdown + PNG, W&B.

Breakdowns: by word length, by layout, and by whether the reference word occurs in the
training split of the dataset the checkpoint was trained on (seen vs unseen words).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from swipe import storage
from swipe.config import build_config
from swipe.data.dataset import load_manifest, read_split
from swipe.data.swipes import SwipeBatch
from swipe.decode.prefix import PrefixConfig, prefix_words
from swipe.decode.repair import levenshtein_repair
from swipe.decode.search import BeamConfig, beam_words
from swipe.metrics import user_half
from swipe.metrics import breakdown, summarize
from swipe.evaluate.predictions import read_info, read_predictions
from swipe.evaluate.table import LEXICON_DECODERS, model_identity, predictor_row, register
from swipe.keyboard import parse_layouts
from swipe.lexicon import Alphabet, LexiconConfig, build_lexicon_trie
from swipe.model.checkpoint import load_meta, load_model, resolve_checkpoint
from swipe.model.inputs import collate
from swipe.model.spec import InputSpec, PointSpec, load_spec, spec_from_dict
from swipe.train.config import TrackingConfig
from swipe.train.tracking import wandb_mode

METRICS = ("swipe_mrr", "acc@1", "acc@2", "acc@3", "acc@4")


@dataclass(frozen=True)
class EvaluateConfig:
    """Which prediction run to evaluate, and what else to compute."""

    predictions: str = ""  # a folder written by `swipe predict`
    out: str = ""  # report path without extension; default PREDICTIONS/report
    beam_sizes: tuple[int, ...] = (1, 2, 4, 6, 8)  # sweep for the metric-vs-beam chart ((): skip)
    sweep_rows: int = 300  # swipes decoded per beam size in the sweep
    options: bool = True  # also compare Levenshtein repair and prefix completion on those swipes
    samples: int = 24  # sample predictions in the W&B table (misses first)
    attention: int = 2  # attention-map pictures of this many hits and as many misses (0: none; needs a model)
    registry: str = "runs/predictions.parquet"  # the prediction table rows are merged into ("": none)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


def _table(rows: dict[Any, dict[str, float]], key: str) -> list[str]:
    lines = [f"| {key} | n | " + " | ".join(METRICS) + " |", "| --- | ---: |" + " ---: |" * len(METRICS)]
    for g, m in rows.items():
        lines.append(f"| {g} | {int(m['n'])} | " + " | ".join(f"{m[k]:.3f}" for k in METRICS) + " |")
    return lines


def evaluate(cfg: EvaluateConfig) -> dict[str, Any]:
    """Write OUT.md, OUT_by_length.png, OUT_beam.png (and W&B); return the metrics."""
    from swipe.plot import plot_accuracy_by_length, plot_metric_vs_beam, plot_per_user

    pred_dir = cfg.predictions  # a folder or a URI
    info = read_info(pred_dir)
    if info.get("checkpoint"):  # a folder or a URI (this machine's cached copy is read)
        info["local_checkpoint"] = str(resolve_checkpoint(info["checkpoint"]))
    meta = load_meta(info["local_checkpoint"]) if info.get("checkpoint") else {}  # template matching: no model
    preds = read_predictions(pred_dir)
    cands, refs = preds["candidates"].to_pylist(), preds["word"].to_pylist()
    overall = summarize(cands, refs)
    lengths = [len(r) if r is not None else -1 for r in refs]
    by_len = breakdown(cands, refs, [min(n, 12) if n >= 0 else "none" for n in lengths])
    by_layout = breakdown(cands, refs, preds["grid_name"].to_pylist())
    users = preds["user"].to_pylist()
    by_user = breakdown(cands, refs, users) if any(u is not None for u in users) else {}
    # the halves that decoder weights are tuned on and reported on (swipe.dev.calibrate)
    by_half = breakdown(cands, refs, ["tuning half" if h else "reporting half" for h in user_half(users, 0)]) \
        if by_user else {}
    train_cfg = meta.get("train", {}).get("config", {}).get("data", {})
    seen_words: set[str] | None = None
    if train_cfg.get("dataset") and storage.exists(train_cfg["dataset"]):
        train_words = read_split(train_cfg["dataset"], train_cfg.get("train_split", "train")).column("word")
        seen_words = set(train_words.to_pylist())
        by_seen = breakdown(cands, refs, ["seen" if r in seen_words else "unseen" for r in refs])
    else:
        by_seen = {}
    dest = cfg.out or storage.join(pred_dir, "report")  # on object storage: written here, then copied up
    out = Path(tempfile.mkdtemp(prefix="swipe-report-")) / storage.basename(dest) if storage.is_uri(dest) else Path(dest)
    charts = [plot_accuracy_by_length(by_len, out.with_name(out.name + "_by_length.png"))]
    if by_user:
        charts.append(plot_per_user(by_user, out.with_name(out.name + "_by_user.png")))
    decoder = bool(meta) and meta["model"].get("head", "ar") != "ctc"  # a ctc model has no decoder to sweep or draw
    sweep, options = _beam_sweep(cfg, info, meta) if cfg.beam_sizes and decoder else ({}, {})  # beam sizes: the model's
    if sweep:
        charts.append(plot_metric_vs_beam(sweep, out.with_name(out.name + "_beam.png")))
    md = [f"# Evaluation: {info['dataset']}:{info['split']}", "",
          f"{info.get('decoder', 'beam')} decoder, checkpoint `{info.get('checkpoint')}`; rows in {info['rows_in']} = out {info['rows_out']} + "
          f"rejected {info['rows_rejected']}", "", "## Overall", ""]
    md += _table({"all": overall}, "set") + ["", "## By word length (12 = 12 or more)", ""] + _table(by_len, "length")
    md += ["", "## By layout", ""] + _table(by_layout, "layout")
    if by_user:
        md += ["", "## By user", ""] + user_summary(by_user)
        md += ["", "Users in the halves decoder weights are tuned on and reported on (`swipe dev calibrate`):", ""]
        md += _table(by_half, "half")
    if by_seen:
        md += ["", f"## Seen / unseen in training ({train_cfg['dataset']})", ""] + _table(by_seen, "word")
    if sweep:
        md += ["", f"## Beam size sweep ({cfg.sweep_rows} swipes)", "",
               "| beam | " + " | ".join(METRICS) + " |", "| ---: |" + " ---: |" * len(METRICS)]
        md += [f"| {b} | " + " | ".join(f"{m[k]:.3f}" for k in METRICS) + " |" for b, m in sweep.items()]
    if options:
        md += ["", f"## Decoding options vs constrained beam search ({cfg.sweep_rows} swipes)", "",
               "| decoder | " + " | ".join(METRICS) + " |", "| --- |" + " ---: |" * len(METRICS)]
        md += [f"| {d} | " + " | ".join(f"{m[k]:.3f}" for k in METRICS) + " |" for d, m in options.items()]
    pictures = _attention_pictures(cfg, info, meta, preds, out) if cfg.attention and decoder else []
    if pictures:
        charts += pictures
        md += ["", "## Where each letter looked (decoder cross-attention; hits, then misses)", "",
               "Each panel: the swipe's points coloured by the attention the model's letter paid to them, "
               "that letter's key ringed.", ""]
    md += [""] + [f"![{c.stem}]({c.name})" for c in charts]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    report = str(out.with_suffix(".md"))
    if storage.is_uri(dest):
        parent = dest.rstrip("/").rsplit("/", 1)[0]
        for f in [out.with_suffix(".md"), *charts]:
            storage.write_bytes(storage.join(parent, f.name), f.read_bytes())
        report = storage.join(parent, out.name + ".md")
    result = {"overall": overall, "by_length": by_len, "by_layout": by_layout, "by_user": by_user,
              "by_half": by_half, "by_seen": by_seen,
              "beam_sweep": sweep, "decoding_options": options, "report": report}
    if cfg.registry:
        pcfg = info.get("config", {})
        if info.get("decoder") == "template":
            decoder, args = "template", pcfg.get("template", {})
        elif info.get("decoder") == "fused":
            decoder, args = "fused", pcfg.get("fused", {})
        else:
            decoder, args = ("beam_lexicon" if pcfg.get("constrained", True) else "beam"), pcfg.get("beam", {})
        rows = [predictor_row(info.get("checkpoint") or "", model_identity(meta), decoder, args,
                              info.get("lexicon", pcfg.get("lexicon")) if decoder in LEXICON_DECODERS else None,
                              layout, info["dataset"], info["split"], pred_dir, metrics, info.get("input_spec"))
                for layout, metrics in by_layout.items()]
        result["registry_rows"] = len(register(cfg.registry, rows))
    _log_wandb(cfg, info, result, preds, meta, out.parent)
    return result


def _attention_pictures(cfg: EvaluateConfig, info: dict, meta: dict, preds: Any, out: Path) -> list[Path]:
    """Attention maps of the model's top word for the first `cfg.attention` hits and misses."""
    from swipe.decode.attention import attention_maps
    from swipe.plot import plot_attention

    layouts = parse_layouts(load_manifest(info["dataset"])["layouts"])
    model, _ = load_model(info["local_checkpoint"], layouts=layouts)
    alphabet = Alphabet(meta["alphabet"])
    picked: dict[str, list[tuple[int, str, str]]] = {"hit": [], "miss": []}
    for i, (cands, word) in enumerate(zip(preds["candidates"].to_pylist(), preds["word"].to_pylist())):
        kind = "hit" if cands and cands[0] == word else "miss"
        if word is not None and cands and len(picked[kind]) < cfg.attention and set(cands[0]) <= set(alphabet.chars):
            picked[kind].append((int(preds["id"][i].as_py()), word, cands[0]))
    wanted = {i for rows in picked.values() for i, _, _ in rows}
    if not wanted:
        return []
    table = read_split(info["dataset"], info["split"])
    table = table.filter(pc.is_in(table["id"], value_set=pa.array(sorted(wanted), pa.int64())))
    batch = SwipeBatch.from_arrow(table)
    where = {int(i): r for r, i in enumerate(batch.ids)}
    tensors = collate(batch, {g: i for i, g in enumerate(model.grid_names)}, alphabet, spec_of(info, meta),
                      model.cfg.max_word_len, targets=False)
    paths = []
    for kind, rows in picked.items():
        for n, (swipe_id, word, decoded) in enumerate(rows, 1):
            r = where[swipe_id]
            (att,) = attention_maps(model, tensors, r, [decoded], alphabet)
            k = int(tensors["mask"][r].sum())
            title = (f"hit: '{word}'" if kind == "hit" else f"miss: swiped '{word}', decoded '{decoded}'") + \
                f" ({batch.grid_names[r]}, swipe {swipe_id})"
            paths.append(plot_attention(layouts[batch.grid_names[r]], tensors["x"][r, :k].numpy(),
                                        tensors["y"][r, :k].numpy(), decoded, att,
                                        out.with_name(f"{out.name}_attention_{kind}_{n}.png"), title))
    return paths


def user_summary(by_user: dict[Any, dict[str, float]], worst: int = 5) -> list[str]:
    """Markdown: the spread of per-user acc@1 and swipe_mrr, and the users decoded worst."""
    acc = np.array([m["acc@1"] for m in by_user.values()])
    mrr = np.array([m["swipe_mrr"] for m in by_user.values()])
    q = lambda a: " / ".join(f"{v:.3f}" for v in np.percentile(a, [0, 25, 50, 75, 100]))  # noqa: E731
    lines = [f"{len(by_user)} users; per user, min / 25% / median / 75% / max:", "",
             "| metric | per-user spread |", "| --- | --- |",
             f"| acc@1 | {q(acc)} |", f"| swipe_mrr | {q(mrr)} |", "", f"The {min(worst, len(by_user))} worst users:", ""]
    ranked = dict(sorted(by_user.items(), key=lambda kv: (kv[1]["swipe_mrr"], str(kv[0])))[:worst])
    return lines + _table(ranked, "user")


def _beam_sweep(cfg: EvaluateConfig, info: dict, meta: dict) -> tuple[dict[int, dict], dict[str, dict]]:
    """Decode the first sweep_rows swipes at every beam size, and with the decoding options
    (Levenshtein repair, completion from prefixes) next to plain constrained beam search."""
    model, _ = load_model(info["local_checkpoint"], layouts=parse_layouts(load_manifest(info["dataset"])["layouts"]))
    alphabet = Alphabet(meta["alphabet"])
    pcfg = info.get("config", {})
    spec = spec_of(info, meta)
    trie = build_lexicon_trie(spec.lexicon, alphabet) if pcfg.get("constrained", True) else None
    batch = SwipeBatch.from_arrow(read_split(info["dataset"], info["split"]).slice(0, cfg.sweep_rows))
    batch = batch.take(np.array([i for i, g in enumerate(batch.grid_names) if g in model.grid_names], dtype=np.int64))
    tensors = collate(batch, {g: i for i, g in enumerate(model.grid_names)}, alphabet, spec,
                      model.cfg.max_word_len, targets=False)
    base = build_config(BeamConfig, pcfg.get("beam", {}))
    out = {}
    for k in cfg.beam_sizes:
        found = beam_words(model, tensors, alphabet, replace(base, beam_size=k), trie)
        out[k] = summarize([[w for w, _ in f] for f in found], batch.words)
    options: dict[str, dict] = {}
    if trie is not None and cfg.options:
        words_of = lambda found: [[w for w, _ in f] for f in found]  # noqa: E731
        options["beam_lexicon"] = summarize(words_of(beam_words(model, tensors, alphabet, base, trie)), batch.words)
        free = beam_words(model, tensors, alphabet, base, None)
        options["beam + levenshtein_repair"] = summarize(
            words_of(levenshtein_repair(free, trie.words(), base.top_k)), batch.words)
        options["complete_from_prefixes"] = summarize(
            words_of(prefix_words(model, tensors, alphabet, PrefixConfig(beam=base), trie)), batch.words)
    return out, options


def spec_of(info: dict, meta: dict) -> InputSpec:
    """What the predictions were decoded with: prediction.json's input spec (the model's own or
    a recorded override). A folder written before specs were recorded read what its config
    said (max_points, 128 by default, and its lexicon): that, with the model's repairs."""
    if info.get("input_spec"):
        return spec_from_dict(info["input_spec"])
    pcfg = info.get("config", {})
    print(f"  {info.get('checkpoint')}: predictions made before input specs were recorded; read as their config "
          f"said ({pcfg.get('max_points', 128)} points by index)", flush=True)
    return replace(load_spec(meta), points=PointSpec(int(pcfg.get("max_points", 128))),
                   lexicon=build_config(LexiconConfig, pcfg.get("lexicon") or {}, "lexicon."))


def _log_wandb(cfg: EvaluateConfig, info: dict, result: dict, preds, meta: dict, where: Path) -> None:
    """Metrics and a table of sample predictions (swipe picture, reference, candidates)."""
    mode = wandb_mode(cfg.tracking)
    if mode == "disabled":
        return
    import wandb

    from swipe.plot import swipe_figure

    run = wandb.init(project=cfg.tracking.project, group=cfg.tracking.group, job_type="evaluate", mode=mode,
                     dir=str(where), config={"predictions": info, "checkpoint": info["checkpoint"]},
                     settings=wandb.Settings(silent=True))
    run.log({f"eval/{k}": v for k, v in result["overall"].items()})
    layouts = parse_layouts(load_manifest(info["dataset"])["layouts"])  # the swipes' own keyboards
    data = SwipeBatch.from_arrow(read_split(info["dataset"], info["split"]))
    pos = {int(i): n for n, i in enumerate(data.ids)}
    rows = preds.to_pylist()
    misses = [r for r in rows if r["word"] is not None and (not r["candidates"] or r["candidates"][0] != r["word"])]
    table = wandb.Table(columns=["id", "swipe", "reference", "candidates", "scores", "hit@1"])
    for r in (misses + [r for r in rows if r not in misses])[: cfg.samples]:
        i = pos[r["id"]]
        s, e = data.offsets[i], data.offsets[i + 1]
        fig = swipe_figure(layouts[r["grid_name"]], data.x[s:e], data.y[s:e], data.t[s:e], r["word"] or "")
        table.add_data(r["id"], wandb.Image(fig), r["word"], ", ".join(r["candidates"]),
                       ", ".join(f"{x:.2f}" for x in r["scores"]), bool(r["candidates"]) and r["candidates"][0] == r["word"])
    run.log({"eval/samples": table})
    run.finish()


LENGTH_BANDS = ((2, 3), (4, 6), (7, 1 << 30))  # word lengths of compare_predictions' acc@1 columns


def compare_predictions(folders: list[str]) -> str:
    """A Markdown table of prediction folders side by side: overall, and on the users of the
    reporting half (those no decoder weight was tuned on)."""
    lines = ["| predictions | decoder | inputs | swipes | swipe_mrr | acc@1 | acc@4 | reporting half: swipe_mrr | acc@1 "
             "| acc@4 | acc@1 2–3 letters | 4–6 | 7+ |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for f in folders:
        info = read_info(f)
        preds = read_predictions(f)
        cands, refs, users = preds["candidates"].to_pylist(), preds["word"].to_pylist(), preds["user"].to_pylist()
        m = summarize(cands, refs)
        keep = ~user_half(users, 0) if any(u is not None for u in users) else np.zeros(len(refs), bool)
        rep = summarize([c for c, k in zip(cands, keep) if k], [r for r, k in zip(refs, keep) if k])
        by_len = []
        for lo, hi in LENGTH_BANDS:
            rows = [k and r is not None and lo <= len(r) <= hi for r, k in zip(refs, keep)]
            by_len.append(summarize([c for c, k in zip(cands, rows) if k], [r for r, k in zip(refs, rows) if k])["acc@1"])
        spec = info.get("input_spec")  # what the model read (an override is marked); none for template matching
        inputs = (spec_from_dict(spec).points.tag() + (" (override)" if info.get("spec_overrides") else "")
                  if spec else "—")
        lines.append(f"| {f} | {info.get('decoder', 'beam')} | {inputs} | {int(m['n'])} | {m['swipe_mrr']:.4f} "
                     f"| {m['acc@1']:.4f} "
                     f"| {m['acc@4']:.4f} | {rep['swipe_mrr']:.4f} | {rep['acc@1']:.4f} | {rep['acc@4']:.4f} | "
                     + " | ".join(f"{a:.4f}" for a in by_len) + " |")
    return "\n".join(lines)

