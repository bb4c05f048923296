"""docs/results.md and docs/benchmarks.md from one run: the shipped models on real people, and the benchmarks.

Every figure of both pages comes from the commands this module runs, in the order written
on each page, at one commit on one machine (both named at the top), so no two disagree.
Each command runs as its own process (`python -m swipe.commands …`), exactly as a user runs it.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swipe.provenance import git_revision, now_iso

# (row name, prediction config, model): each decodes the real dev people's swipes
DECODERS = (
    ("template matcher (no network)", "configs/predict_template_en.yaml", ""),
    ("en-small, beam", "configs/predict_en.yaml", "models/en-small"),
    ("en-small, fused", "configs/decode_en.yaml", "models/en-small"),
    ("en-small-real, beam", "configs/predict_en.yaml", "models/en-small-real"),
    ("en-small-real, fused", "configs/decode_en_real.yaml", "models/en-small-real"),
    ("en-small-realonly, beam", "configs/predict_en.yaml", "models/en-small-realonly"),
    ("en-small-ctc, ctc", "configs/decode_en_ctc.yaml decoder=ctc", "models/en-small-ctc"),
    ("en-small-ctc, fused", "configs/decode_en_ctc.yaml", "models/en-small-ctc"),
)
HELDOUT = "docs/heldout_keyboards.md"  # the held-out keyboards study (configs/heldout/): its section of results.md
# what each benchmark measures, for the page (the figures themselves are the benchmark's JSON)
BENCHMARK_WHAT = {
    "synth": "synthetic swipes generated per second per core",
    "lexicon": "lexicon tries: words, build time, bytes; allowed-next lookups per second",
    "decode": "swipes/s of every decoder in one thread: torch and onnxruntime (fp32, int8), beam, template, fused",
    "export": "one swipe at a time: p50/p95 ms of torch and onnxruntime; parity of their words; int8's swipe_mrr",
    "serve": "the Serve app under a bounded load, onnxruntime and torch backends: requests/s, p50, p99, errors",
}


@dataclass(frozen=True)
class ResultsConfig:
    """What `make results` measures and where it writes."""

    dataset: str = "data/datasets/real_en_dev"  # the real dev people (made from configs/import_dev.yaml if missing)
    split: str = "dev"  # the split decoded
    runs: str = "runs/results"  # prediction folders go to a new RUNS/<UTC time>/ each run
    out: str = "docs"  # where results.md and benchmarks.md are written
    benchmarks: tuple[str, ...] = ("synth", "lexicon", "decode", "export", "serve")  # `swipe bench` names run
    readme: str = "README.md"  # its results table (between the results markers) is rewritten from the same run


def machine() -> str:
    """This machine in one line: CPU, cores, memory, OS, Python."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    mem = ""
    if Path("/proc/meminfo").exists():
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2 ** 20:.0f} GiB"
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def run(args: list[str]) -> str:
    """`swipe ARGS` as its own process; its standard output (it fails loudly)."""
    print("$ swipe " + shlex.join(args), flush=True)
    done = subprocess.run([sys.executable, "-m", "swipe.commands", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"swipe {shlex.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def write_results(cfg: ResultsConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    head = {"commit": git_revision(), "machine": machine(), "started": now_iso()}
    if not Path(cfg.dataset, "dataset.json").exists():
        run(["data", "--config", "configs/import_dev.yaml", f"out={cfg.dataset}"])
    commands, folders = [], []
    scratch = f"{cfg.runs}/{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}"
    for i, (name, config, model) in enumerate(DECODERS):
        config, *overrides = config.split()  # a config, then key=value overrides
        out = (f"{scratch}/{i}-{name.split(',')[0].split(' ')[0]}-{config.split('/')[-1].removesuffix('.yaml')}"
               + "".join(f"-{o.split('=')[-1]}" for o in overrides))
        args = (["predict", "--config", config, *overrides, f"dataset={cfg.dataset}", f"split={cfg.split}", f"out={out}"]
                + ([f"checkpoint={model}"] if model else []))
        run(args)
        commands.append("swipe " + shlex.join(args))
        folders.append(out)
    table = run(["compare", *folders]).strip()
    for name, folder in zip((d[0] for d in DECODERS), folders):
        table = table.replace(f"| {folder} |", f"| {name} |", 1)
    figures = {}
    for name in cfg.benchmarks:
        out = run(["bench", name])
        figures[name] = json.loads(out.strip().splitlines()[-1])
    head["wall_min"] = round((time.perf_counter() - t0) / 60, 1)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    Path(cfg.out, "results.md").write_text(results_page(head, table, commands))
    Path(cfg.out, "benchmarks.md").write_text(benchmarks_page(head, figures))
    readme = Path(cfg.readme)
    if readme.exists():
        readme.write_text(with_readme_table(readme.read_text(), table))
    return {"out": [f"{cfg.out}/results.md", f"{cfg.out}/benchmarks.md"], **head}


def _stamp(head: dict) -> list[str]:
    return [f"Written by `make results` (`swipe dev results`) at commit `{head['commit']}` on {head['started']},",
            f"in {head['wall_min']} minutes on: {head['machine']}. Do not edit by hand: run it again.", ""]


def results_page(head: dict, table: str, commands: list[str]) -> str:
    lines = ["# Results: the shipped decoders on real people", ""] + _stamp(head) + [
        "The How We Swipe dev set: 3,024 real English swipes by 31 people, each on their own phone's keyboard.",
        "No model was trained on them. The decoders' weights (the template matcher's, the fused decoder's) were",
        "tuned on one half of the people (`swipe.metrics.user_half`); the *reporting half* columns are the other",
        "half, the figures to quote. `swipe_mrr` weighs the first four candidates 1, 0.1, 0.09, 0.08",
        "(the Yandex Cup metric); `acc@k`: the word among the first k.", "",
        table, "",
        "The models: `en-small` never saw a real swipe (synthetic swipes from the generator fitted to real people);",
        "`en-small-real` saw those and the real train split's 34,137 swipes by 422 other people;",
        "`en-small-realonly` saw the real train split alone. Their cards: `models/*/MODEL_CARD.md`.", "",
        "## The commands", "", "```"] + commands + ["```", ""]
    if Path(HELDOUT).exists():  # measured by its own commands (the models it compares are not shipped)
        lines += ["", Path(HELDOUT).read_text()]
    return "\n".join(lines)


def benchmarks_page(head: dict, figures: dict[str, dict]) -> str:
    lines = ["# Benchmarks", ""] + _stamp(head) + [
        "Each benchmark prints one JSON object of named figures: `swipe bench NAME` (`make bench` runs every",
        "one, `reliability` and `tune` among them, ~20 more minutes). Ratios compare figures of the same run;",
        "this machine is shared, so absolute rates vary between runs by ±20%.", ""]
    for name, values in figures.items():
        lines += [f"## `swipe bench {name}`", "", BENCHMARK_WHAT.get(name, ""), "", "| figure | value |", "| --- | ---: |"]
        lines += [f"| {k} | {_value(v)} |" for k, v in values.items()]
        lines.append("")
    return "\n".join(lines)


README_START = "<!-- results: written by `make results`"
README_END = "<!-- /results -->"


def with_readme_table(readme: str, table: str) -> str:
    """The README with the reporting half's columns of `table` between its results markers."""
    rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in table.splitlines() if ln.startswith("|")]
    header, body = rows[0], rows[2:]
    at = header.index("reporting half: swipe_mrr")
    short = ["| decoder | swipe_mrr | acc@1 | acc@4 | acc@1, 2–3 letters | 4–6 | 7+ |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    short += ["| " + " | ".join([r[0]] + r[at:at + 6]) + " |" for r in body]
    start = readme.index(README_START)
    start = readme.index("\n", start) + 1
    end = readme.index(README_END)
    return readme[:start] + "\n".join(short) + "\n" + readme[end:]


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return "`" + json.dumps(v)[:120] + "`"
    return str(v)
