"""Pictures: swipes over their layout, realism histograms, training and sweep curves, evaluation charts.

PNG files, no screen needed. Figures are plain `matplotlib.figure.Figure` objects rendered
by their own canvas: no pyplot, so no process-wide backend or figure list is touched.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from swipe.keyboard import Layout


def draw_layout(ax: Axes, layout: Layout) -> None:
    """Keys as rectangles with their labels; letter keys darker than the rest."""
    for (x, y, w, h), label, kind in zip(layout.boxes, layout.labels, layout.kinds):
        ax.add_patch(Rectangle((x, y), w, h, facecolor="#eeeeee" if kind == "letter" else "#f8f8f8",
                               edgecolor="#999999", linewidth=0.6))
        ax.text(x + w / 2, y + h / 2, label if kind != "action" else label[:5], ha="center",
                va="center", fontsize=7 if kind == "letter" else 5, color="#555555")
    ax.set_xlim(-0.05 * layout.width, 1.05 * layout.width)
    ax.set_ylim(1.05 * layout.height, -0.05 * layout.height)  # screen coordinates: y down
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def draw_swipe(ax: Axes, x: np.ndarray, y: np.ndarray, t: np.ndarray) -> None:
    """The trace coloured by time (dark → bright), points as dots, the start ringed."""
    pts = np.stack([x, y], 1)
    segs = np.stack([pts[:-1], pts[1:]], 1)
    tn = (t - t[0]) / max(t[-1] - t[0], 1e-9)
    lc = LineCollection(segs, cmap="viridis", linewidth=2)
    lc.set_array(tn[:-1])
    ax.add_collection(lc)
    ax.scatter(x, y, c=tn, cmap="viridis", s=6, zorder=3)
    ax.scatter(x[:1], y[:1], s=60, facecolors="none", edgecolors="red", zorder=4)


def plot_swipe_pairs(rows: list[tuple[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]],
                     words: list[str], layout: Layout, path: str | Path) -> Path:
    """Grid of swipes: one column per word, one row per dataset (e.g. synthetic, real)."""
    n_rows, n_cols = len(rows), len(rows[0][1])
    fig = Figure(figsize=(3.2 * n_cols, 2.2 * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (name, swipes) in enumerate(rows):
        for c, (x, y, t) in enumerate(swipes):
            ax = axes[r][c]
            draw_layout(ax, layout)
            draw_swipe(ax, x, y, t)
            ax.set_title(f"{name}: {words[c]}", fontsize=8)
    return _save(fig, path, dpi=110)


def plot_realism(stats: dict[str, dict[str, np.ndarray]], path: str | Path) -> Path:
    """One histogram per statistic (up to its 98th percentile), datasets overlaid, medians dashed."""
    names = list(next(iter(stats.values())))  # statistics in their order
    rows = -(-len(names) // 4)
    fig = Figure(figsize=(16, 3.25 * rows))
    axes = fig.subplots(rows, 4, squeeze=False)
    colors = ["tab:blue", "tab:orange", "tab:green"]
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, stat in zip(axes.flat, names):
        vals = {name: s[stat][np.isfinite(s[stat])] for name, s in stats.items()}
        hi = np.nanpercentile(np.concatenate(list(vals.values())), 98)
        lo = min(0.0, float(np.nanmin(np.concatenate(list(vals.values())))))
        bins = np.linspace(lo, hi, 40)
        for (name, v), col in zip(vals.items(), colors):
            ax.hist(v[v <= hi], bins=bins, density=True, alpha=0.45, color=col, label=name)
            ax.axvline(np.median(v), color=col, linestyle="--")
        ax.set_title(stat)
    axes.flat[0].legend(fontsize=8)
    return _save(fig, path, dpi=100)


def _save(fig: Figure, path: str | Path, dpi: int) -> Path:
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def plot_training(rows: list[dict[str, float]], path: str | Path, title: str = "") -> Path:
    """Curves from a run's metrics.jsonl: losses, learning rate, validation accuracy."""
    fig = Figure(figsize=(14, 3.6))
    axes = fig.subplots(1, 3)

    def series(key: str) -> tuple[list[float], list[float]]:
        pts = [(r["step"], r[key]) for r in rows if key in r]
        return [p[0] for p in pts], [p[1] for p in pts]

    for key in ("train/loss", "val/loss"):
        axes[0].plot(*series(key), marker="o" if key.startswith("val") else None, label=key)
    axes[0].set_xlabel("step")
    axes[0].legend()
    axes[1].plot(*series("lr"))
    axes[1].set_title("learning rate")
    axes[1].set_xlabel("step")
    for key in ("val/token_acc", "val/acc@1", "val/swipe_mrr"):
        axes[2].plot(*series(key), marker="o", label=key)
    axes[2].set_ylim(0, 1)
    axes[2].set_xlabel("step")
    axes[2].legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi=100)


def swipe_figure(layout: Layout, x: np.ndarray, y: np.ndarray, t: np.ndarray, title: str = "") -> Figure:
    """One swipe over its layout, as a figure (for W&B tables)."""
    fig = Figure(figsize=(3.2, 2.2))
    ax = fig.subplots()
    draw_layout(ax, layout)
    draw_swipe(ax, np.asarray(x), np.asarray(y), np.asarray(t))
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def plot_accuracy_by_length(by_length: dict, path: str | Path) -> Path:
    """acc@1 and acc@4 per reference word length, with the number of swipes per bar."""
    keys = [k for k in by_length if k != "none"]
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    xs = np.arange(len(keys))
    for off, metric in ((-0.2, "acc@1"), (0.2, "acc@4")):
        ax.bar(xs + off, [by_length[k][metric] for k in keys], width=0.4, label=metric)
    for x, k in zip(xs, keys):
        ax.text(x, 1.01, str(int(by_length[k]["n"])), ha="center", fontsize=7, color="#555555")
    ax.set_xticks(xs, [f"{k}+" if k == 12 else str(k) for k in keys])
    ax.set_xlabel("reference word length (numbers: swipes)")
    ax.set_ylim(0, 1.1)
    ax.legend()
    return _save(fig, path, dpi=100)


def plot_per_user(by_user: dict, path: str | Path) -> Path:
    """Histogram of per-user acc@1: how evenly the decoder serves different people."""
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    acc = [m["acc@1"] for m in by_user.values()]
    ax.hist(acc, bins=np.linspace(0, 1, 21), color="tab:blue", alpha=0.8)
    ax.axvline(float(np.median(acc)), color="black", linestyle="--", label=f"median {np.median(acc):.2f}")
    ax.set_xlabel(f"acc@1 per user ({len(acc)} users)")
    ax.set_ylabel("users")
    ax.legend()
    return _save(fig, path, dpi=100)


def plot_metric_vs_beam(sweep: dict, path: str | Path) -> Path:
    """swipe_mrr and acc@1..4 against beam size."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    beams = sorted(sweep)
    for metric in ("swipe_mrr", "acc@1", "acc@4"):
        ax.plot(beams, [sweep[b][metric] for b in beams], marker="o", label=metric)
    ax.set_xlabel("beam size")
    ax.set_xticks(beams)
    ax.set_ylim(0, 1)
    ax.legend()
    return _save(fig, path, dpi=100)


def plot_sweep(trials, keys: list[str], path: str | Path, title: str = "", metric: str = "val/swipe_mrr",
               panels_by_key: bool = True) -> Path:
    """Validation curves (`metric` by step) of every trial, a panel per feature set (or per
    value of the first swept key; one panel without `panels_by_key`), a colour per remaining
    configuration; seeds share the colour. A trial stopped early by ASHA ends with a cross."""
    panel_key = next((k for k in keys if k.endswith("features")), keys[0] if keys else None) if panels_by_key else None
    panels = sorted({str(v.get(panel_key)) for v in trials["variant"]}) if panel_key else [""]
    rest = [k for k in keys if k != panel_key]
    others = sorted({_variant_label(v, rest) for v in trials["variant"]})
    colours = {o: matplotlib.colormaps["tab10"](i % 10) for i, o in enumerate(others)}
    fig = Figure(figsize=(4.2 * len(panels), 3.4))
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for _, tr in trials.iterrows():
            v = tr["variant"]
            if panel_key and str(v.get(panel_key)) != panel or not tr["curve"]:
                continue
            other = _variant_label(v, rest)
            steps, mrr = zip(*tr["curve"])
            ax.plot(steps, mrr, color=colours[other], alpha=0.85, linewidth=1.4,
                    label=other if tr["seed"] == 0 else None)
            if tr["status"] == "stopped early":
                ax.plot(steps[-1], mrr[-1], "x", color=colours[other], markersize=7)
        ax.set_title(f"{panel_key.rsplit('.', 1)[-1]}={panel}" if panel_key else title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(metric)
    labels: dict[str, object] = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            labels.setdefault(lab, h)
    if any(labels):
        axes[0][-1].legend(list(labels.values()), list(labels), fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path, 110)


def _variant_label(variant: dict, keys: list[str]) -> str:
    """`key=value` for each key the variant sets (a list variant sets only some)."""
    return " ".join(f"{k.rsplit('.', 1)[-1]}={variant[k]}" for k in keys if k in variant) or "base"


def attention_figure(layout: Layout, x: np.ndarray, y: np.ndarray, word: str, attention: np.ndarray,
                     title: str = "", cols: int = 5) -> Figure:
    """One panel per letter of `word`: the swipe's points coloured and sized by the attention
    that letter paid to them (`attention` (letters, points), rows sum to 1), its key outlined."""
    n = len(word)
    cols = min(cols, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(2.6 * cols, 1.9 * rows + (0.35 if title else 0)))
    axes = fig.subplots(rows, cols, squeeze=False)
    centre = dict(zip(layout.letters, layout.letter_centres))
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        draw_layout(ax, layout)
        ax.plot(x, y, color="#888888", linewidth=0.8, zorder=2)
        w = attention[i] / max(float(attention[i].max()), 1e-9)
        ax.scatter(x, y, c=w, cmap="Reds", vmin=0, vmax=1, s=4 + 40 * w, zorder=3, edgecolors="none")
        if word[i] in centre:
            cx, cy = centre[word[i]]
            ax.scatter([cx], [cy], s=160, facecolors="none", edgecolors="#1f5fbf", linewidths=1.2, zorder=4)
        ax.set_title(f"{i + 1}: '{word[i]}'", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def plot_attention(layout: Layout, x: np.ndarray, y: np.ndarray, word: str, attention: np.ndarray, path: str | Path,
                   title: str = "") -> Path:
    return _save(attention_figure(layout, x, y, word, attention, title), path, dpi=100)
