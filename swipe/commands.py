"""The `swipe` command: `swipe <command> --config FILE key=value…`; maintainer tools under `swipe dev <tool>`.

Each command is a function here that parses its config (swipe.cli) and calls the library.
Heavy imports (Ray, torch) happen inside each function, so `swipe --help` is instant and
this module loads without Ray. `jobs/*.py` are shims over these functions, so that
`ray job submit -- python jobs/train.py …` runs exactly what `swipe train …` runs.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from swipe.cli import parse_job_args

T = TypeVar("T")
_checking = False  # set by `check_command`: parse the config, then stop before any work


class Parsed(Exception):
    """Raised in place of running a command when only its config is checked."""

    def __init__(self, cfg: Any):
        super().__init__(type(cfg).__name__)
        self.cfg = cfg


def _args(cls: type[T], description: str | None, argv: list[str], **kw: Any) -> T:
    cfg = parse_job_args(cls, description or "", argv, **kw)
    if _checking:
        raise Parsed(cfg)
    return cfg


def check_command(argv: list[str]) -> Any:
    """The config `swipe ARGV…` would run with, parsed and checked, nothing run (no Ray started)."""
    global _checking
    _checking = True
    try:
        main(argv)
    except Parsed as done:
        return done.cfg
    finally:
        _checking = False
    raise AssertionError(f"swipe {' '.join(argv)}: parsed no config")


def data(argv: list[str], prog: str) -> None:
    """Make a dataset: synthesize swipes from a word list and a layout, or import real ones (sharded Parquet).

    swipe data --config configs/synth_en.yaml n_swipes=10000
    swipe data --config configs/import_dev.yaml
    """
    from swipe.data.make import MakeDatasetConfig, make_dataset, summary_table

    cfg = _args(MakeDatasetConfig, data.__doc__, argv, prog=prog)
    manifest = make_dataset(cfg)
    print(f"\ndataset {cfg.out} ({manifest['wall_s']} s)\n{summary_table(manifest)}")


def report(argv: list[str], prog: str) -> None:
    """Realism report: statistics of a synthetic dataset next to real swipes (Markdown + PNG).

    swipe report --config configs/report_en.yaml
    """
    from swipe.data.report import ReportConfig, write_data_report

    cfg = _args(ReportConfig, report.__doc__, argv, prog=prog)
    comparison = write_data_report(cfg)
    print(comparison.to_markdown())
    name, ks = comparison.worst_ks
    print(f"\nworst KS: {name} {ks:.3f}; classifier two-sample test ROC AUC: "
          + (f"{comparison.c2st_auc:.3f}" if comparison.c2st_auc is not None else "not run"))
    print(f"all medians within ±{cfg.tolerance:.0%}: {'yes' if comparison.all_within else 'NO'}"
          f"\nreport: {cfg.out}.md, {cfg.out}.png, {cfg.out}_swipes.png")


def train(argv: list[str], prog: str) -> None:
    """Train a decoder on Ray Train (a local Ray, or the cluster under `ray job submit`).

    swipe train --config configs/quickstart.yaml
    swipe train --config configs/en_small_cpu.yaml run.name=en1 --resume
    ray job submit --working-dir . -- python jobs/train.py --config configs/en_small.yaml
    """
    from swipe.console import table
    from swipe.train.config import TrainConfig
    from swipe.train.fit import train as fit

    cfg = _args(TrainConfig, train.__doc__, argv, resume_key="run.resume", prog=prog)
    result = fit(cfg)
    shown = ("step", "val/loss", "val/token_acc", "val/swipe_mrr", "val/acc@1")
    rows = [("run", result.run_home), ("best checkpoint", result.best_uri or "none")]
    rows += [(f"best {k}", f"{result.best_metrics[k]:.4g}") for k in shown if k in result.best_metrics]
    rows += [(name, f"swipe_mrr {m['swipe_mrr']:.4f}  acc@1 {m['acc@1']:.4f}  (n={int(m['n'])}, "
                    f"reference in lexicon: {m['reference_in_lexicon']:.1%})") for name, m in result.evals.items()]
    print("\n" + table(rows, "training result"))


def predict(argv: list[str], prog: str) -> None:
    """Batch prediction of a dataset split with a model, on a pool of Ray actors sharing one lexicon.

    swipe predict --config configs/predict_en.yaml checkpoint=models/en-small-real dataset=data/datasets/real_en_dev split=dev
    Re-running the same command after an interruption finishes the remaining shards only.
    """
    from swipe.console import table
    from swipe.evaluate.predict import PredictConfig
    from swipe.evaluate.predict import predict as run_predict
    from swipe.evaluate.predictions import prediction_metrics, read_predictions

    cfg = _args(PredictConfig, predict.__doc__, argv, prog=prog)
    r = run_predict(cfg)
    m = prediction_metrics(read_predictions(r.out))
    rows = [("predictions", r.out),
            ("shards", f"{r.shards_written} written, {r.shards_skipped} already done ({r.wall_s} s)"),
            ("rows", f"in {r.rows_in} = out {r.rows_out} + rejected {r.rows_rejected} {r.rejected or ''}".rstrip())]
    rows += [(k, f"{m[k]:.4f}") for k in ("swipe_mrr", "acc@1", "acc@2", "acc@3", "acc@4")]
    print("\n" + table(rows, "prediction result"))


def evaluate(argv: list[str], prog: str) -> None:
    """Evaluate a prediction folder: swipe_mrr, acc@1..4, breakdowns, a beam sweep; Markdown + PNG + W&B.

    swipe evaluate predictions=runs/RUN/predictions/real_dev
    """
    from swipe.evaluate.report import METRICS, EvaluateConfig
    from swipe.evaluate.report import evaluate as run_evaluate

    cfg = _args(EvaluateConfig, evaluate.__doc__, argv, prog=prog)
    r = run_evaluate(cfg)
    o = r["overall"]
    print("  ".join(f"{k}={o[k]:.4f}" for k in METRICS) + f"  (n={int(o['n'])})")
    for name, m in r["by_seen"].items():
        print(f"  {name:>7}: swipe_mrr={m['swipe_mrr']:.4f} acc@1={m['acc@1']:.4f} (n={int(m['n'])})")
    print(f"report: {r['report']}")


@dataclass(frozen=True)
class CompareConfig:
    """Prediction folders to put side by side."""

    predictions: tuple[str, ...] = ()  # folders written by `swipe predict` (bare words on the command line)


def compare(argv: list[str], prog: str) -> None:
    """Prediction folders side by side: swipe_mrr and accuracy overall and on the reporting half of the users.

    swipe compare runs/RUN/predictions/real_dev_template runs/RUN/predictions/real_dev
    """
    from swipe.evaluate.report import compare_predictions

    cfg = _args(CompareConfig, compare.__doc__, argv, prog=prog, positional="predictions")
    if not cfg.predictions:
        raise SystemExit(f"{prog}: name at least one prediction folder")
    print(compare_predictions(list(cfg.predictions)))


def sweep(argv: list[str], prog: str) -> None:
    """Sweep training configurations with Ray Tune (ASHA early stopping on val/swipe_mrr).

    swipe sweep --config configs/tune/quick.yaml            # ≤ 15 min on 2 CPU cores
    swipe sweep --config configs/tune/quick.yaml name=s1 --resume

    Writes runs/sweeps/NAME/: results.md and results.csv, curves.png, best_config.yaml
    (train it with `swipe train --config …/best_config.yaml`), and a run per trial under runs/.
    """
    from swipe.train.sweep import SweepConfig, run_sweep

    cfg = _args(SweepConfig, sweep.__doc__, argv, resume_key="resume", prog=prog)
    result = run_sweep(cfg)
    print()
    print((result.sweep_dir / "results.md").read_text())
    print(f"sweep: {result.sweep_home}  ({result.wall_s:.0f} s)\nbest configuration: {result.best_config}")


def serve(argv: list[str], prog: str) -> None:
    """Serve the decoders online (Ray Serve): the HTTP JSON API and the browser demo at its root.

    swipe serve --config configs/serve_en.yaml                 # http://127.0.0.1:8000
    swipe serve --config configs/serve_en.yaml replicas=2 port=8080

    It runs until interrupted (Ctrl-C). On a cluster, submit it as a job with host=0.0.0.0.
    """
    import time

    from swipe.serve.app import start
    from swipe.serve.service import ServeConfig

    cfg = _args(ServeConfig, serve.__doc__, argv, prog=prog)
    url = start(cfg)
    print(f"serving {', '.join(cfg.models)} at {url}/  (API: {url}/api/options; Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        from ray import serve as ray_serve

        ray_serve.shutdown()


@dataclass(frozen=True)
class ExportConfig:
    """What to export, and where."""

    checkpoint: str = "models/en-small"  # a checkpoint or a run (folder or URI)
    out: str = "runs/export/en-small"  # the export folder: export.json and the .onnx graphs
    int8: bool = True  # also the dynamically quantized (int8 weights) graphs
    overwrite: bool = False  # replace an export already in `out` (refused before any work otherwise)


def export(argv: list[str], prog: str) -> None:
    """Export a model to ONNX for onnxruntime, which decodes it without torch (fp32 and int8 graphs).

    swipe export checkpoint=models/en-small out=runs/export/en-small

    The graphs: an encoder with its point features, a one-step decoder with its cache, the
    teacher-forced score and attention graphs. An existing export in `out` is kept unless overwrite=true.
    """
    from swipe import storage
    from swipe.console import table
    from swipe.export.onnx import export_onnx
    from swipe.export.runtime import EXPORT_FILE

    cfg = _args(ExportConfig, export.__doc__, argv, prog=prog)
    storage.refuse_existing(f"{cfg.out.rstrip('/')}/{EXPORT_FILE}", cfg.overwrite)
    info = export_onnx(cfg.checkpoint, cfg.out, cfg.int8)
    print("\n" + table([("out", cfg.out), ("graphs", ", ".join(info["files"])), ("seconds", info["export_s"])],
                       "export"))


@dataclass(frozen=True)
class BenchConfig:
    """Which benchmark to run."""

    name: str = ""  # a benchmark (a bare word; `swipe bench list=true` names them)
    list: bool = False  # print the benchmark names, one per line, and exit


def from_checkout(folder: str, command: str) -> None:
    """Make `folder` of the source checkout beside the package (bench/, tests/support/: what only
    benchmarks and tests use, kept out of the installed package) importable, or say why not."""
    root = Path(__file__).resolve().parents[1]
    if not (root / folder / "__init__.py").exists():
        raise SystemExit(f"{command}: no {folder}/ beside {root / 'swipe'}: it comes with a source checkout "
                         "(and `make setup`'s dev extra)")
    if sys.path[:1] != [str(root)]:  # first: `python jobs/bench.py` has jobs/ (and its bench.py) before it
        sys.path.insert(0, str(root))
    # and in the Ray workers this process starts (they inherit its environment, not its sys.path)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(root) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(root)] + [p for p in paths if p])


def benchmarks() -> dict[str, Callable[[], dict]]:
    """The benchmarks, which live in bench/ beside the package (a source checkout), not in it."""
    from_checkout("bench", "swipe bench")
    from bench import BENCHMARKS

    return BENCHMARKS


def bench(argv: list[str], prog: str) -> None:
    """Run one benchmark and print its figures as one JSON object (the last line printed).

    swipe bench decode      # swipes/s of every decoder, torch and onnxruntime, one thread each
    swipe bench export      # one swipe at a time: p50/p95 ms of torch, onnxruntime fp32 and int8; parity
    swipe bench serve       # the Serve app under a bounded load: requests_per_s, p50_ms, p99_ms, errors
    swipe bench list=true   # every name (make bench runs them all; docs/benchmarks.md says what each measures)
    """
    argv = ["list=true" if a == "--list" else a for a in argv]  # the older spelling, kept for scripts
    cfg = _args(BenchConfig, bench.__doc__, argv, prog=prog, positional="name")
    table = benchmarks()
    if cfg.list:
        print("\n".join(table))
        return
    if cfg.name not in table:
        raise SystemExit(f"{prog}: name one of {', '.join(table)} (got {cfg.name!r})")
    figures = table[cfg.name]()
    import ray

    ray.shutdown()  # first, so that no late worker log line follows the figures
    print(json.dumps(figures))


# ---- maintainer tools: `swipe dev <tool>` ----

def calibrate(argv: list[str], prog: str) -> None:
    """Tune the template matcher's weights on half of the dev users; report on the other half.

    swipe dev calibrate                                  # data/datasets/real_en_dev, 307k words
    swipe dev calibrate rows=500 out=/tmp/t.yaml         # a quick look

    Writes a prediction config (configs/predict_template_en.yaml) with decoder: template, the
    tuned weights, and the procedure and both halves' figures in its header.
    """
    from swipe.dev.calibrate import CalibrateConfig, calibrate_template

    cfg = _args(CalibrateConfig, calibrate.__doc__, argv, prog=prog)
    _say_tuned(calibrate_template(cfg), "template", cfg.out)


def tune_fused(argv: list[str], prog: str) -> None:
    """Tune the fused decoder's weights on half of the dev users; report on the other half.

    swipe dev tune-fused checkpoint=models/en-small      # → configs/decode_en.yaml

    Both decoders' candidates are collected once for every dev swipe, each measured in every
    channel; coordinate ascent on the tuning half's swipe_mrr then re-weights them, widening a
    grid until its optimum is inside (swipe/dev/calibrate.py).
    """
    from swipe.dev.calibrate import FusedCalibrateConfig, calibrate_fused

    cfg = _args(FusedCalibrateConfig, tune_fused.__doc__, argv, prog=prog)
    _say_tuned(calibrate_fused(cfg), "fused", cfg.out)


def _say_tuned(r: dict, decoder: str, out: str) -> None:
    """What a tuning job prints: both halves' figures, the tuned weights, their final grid, where they went."""
    from swipe.dev.calibrate import halves_summary

    print(halves_summary(r))
    print(f"{decoder}: {r[decoder]}\ngrid: {r['grid']}\n({r['wall_s']} s; candidates collected in "
          f"{r['collect_s']} s)  → {out}")
    if "ctc" in r:  # a key-head model: its CTC trie beam alone, tuned on the same half
        c = r["ctc"]
        print(f"ctc alone: tuned_on swipe_mrr={c['tuned_on']['swipe_mrr']:.4f}  reported_on "
              f"swipe_mrr={c['reported_on']['swipe_mrr']:.4f} acc@1={c['reported_on']['acc@1']:.4f}\nctc: {c['config']}")


def fit_synth(argv: list[str], prog: str) -> None:
    """Fit the parametric synthesizer to real people's swipes; write the dataset config that uses the fit.

    swipe dev fit-synth real=PATH/howweswipe_en_train.jsonl.gz    # → configs/synth_en_fitted.yaml

    `real` holds people outside the dev set. Coordinate descent on the mean KS statistic over
    every realism statistic (swipe/dev/fit_synth.py); realism before and after on other real swipes.
    """
    from swipe.dev.fit_synth import FitJobConfig, write_fitted_config

    r = write_fitted_config(_args(FitJobConfig, fit_synth.__doc__, argv, prog=prog))
    print(r.pop("table_before"), "\n\nafter the fit:\n" + r.pop("table_after"))
    print(json.dumps(r, indent=1, default=str))


def fit_generator(argv: list[str], prog: str) -> None:
    """Fit the generators learned from real people, and report how real each generator looks.

    swipe dev fit-generator real=PATH/howweswipe_en_train.jsonl.gz   # → models/generators/*

    A tenth of `real`'s people are kept out of every fit; every generator's realism is measured on them.
    """
    from swipe.dev.fit_generators import FitGeneratorConfig, fit_generators

    result = fit_generators(_args(FitGeneratorConfig, fit_generator.__doc__, argv, prog=prog))
    print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=1, default=str))


def ship(argv: list[str], prog: str) -> None:
    """Copy a run's best checkpoint into a model folder kept in the repository (checked first).

    swipe dev ship run=runs/en-small-gpu out=models/en-small overwrite=true
    """
    from swipe.dev.ship import ShipConfig
    from swipe.dev.ship import ship as run_ship

    print(json.dumps(run_ship(_args(ShipConfig, ship.__doc__, argv, prog=prog)), indent=1))


def ensemble(argv: list[str], prog: str) -> None:
    """Ensemble predictors: fit on a validation split, apply to a test split, record a new row.

    swipe dev ensemble method=weighted 'members=[{val: runs/A/predictions/val, test: runs/A/predictions/test}, …]'
    """
    from swipe.dev.ensemble import EnsembleConfig, run_ensemble

    cfg = _args(EnsembleConfig, ensemble.__doc__, argv, prog=prog)
    r = run_ensemble(cfg)
    print(f"members' val swipe_mrr: {[round(v, 4) for v in r['member_val_swipe_mrr']]}; "
          f"ensemble val swipe_mrr: {r['val_swipe_mrr']:.4f}")
    print(f"test: swipe_mrr={r['test']['swipe_mrr']:.4f} acc@1={r['test']['acc@1']:.4f}  → {r['out']}")


def results(argv: list[str], prog: str) -> None:
    """Measure the shipped models on real people and run the benchmarks: docs/results.md and benchmarks.md.

    Both pages come from that one run and say the commit and machine they came from.

    swipe dev results                      # what `make results` runs
    """
    from swipe.dev.results import ResultsConfig, write_results

    cfg = _args(ResultsConfig, results.__doc__, argv, prog=prog)
    print(json.dumps(write_results(cfg), indent=1))


@dataclass(frozen=True)
class SubmitLocalConfig:
    """A training and a prediction job submitted to a Ray head started on this machine."""

    dataset: str = "data/datasets/synth_en"  # the dataset to train on and predict
    split: str = "test"  # the split the prediction job decodes
    out: str = "runs/submit_local"  # runs, predictions and job logs
    train_config: str = "configs/quickstart.yaml"  # the training job's config file
    train: tuple[str, ...] = ()  # training overrides, key=value each
    predict: tuple[str, ...] = ("lexicon.top_n=20000",)  # prediction overrides, key=value each


def submit_local(argv: list[str], prog: str) -> None:
    """`ray job submit` on this machine: start a head, submit training and prediction, stop it.

    swipe dev submit-local
    swipe dev submit-local dataset=D "train=[model.preset=tiny, run.max_steps=40]"

    The prediction job is stopped once its first shard is written and submitted again: the re-run
    must finish with every input row exactly once. Prints one JSON object; exits 1 if a check failed.
    """
    cfg = _args(SubmitLocalConfig, submit_local.__doc__, argv, prog=prog)
    from_checkout("tests/support", "swipe dev submit-local")
    from tests.support.submission import submit_train_and_predict

    r = submit_train_and_predict(cfg.dataset, cfg.out, cfg.train_config, list(cfg.train), list(cfg.predict), cfg.split)
    print(json.dumps(asdict(r) | {"ok": r.ok()}, indent=1))
    sys.exit(0 if r.ok() else 1)


@dataclass(frozen=True)
class S3LocalConfig:
    """A local S3-protocol server."""

    port: int = 9000  # the port it listens on (127.0.0.1)
    buckets: tuple[str, ...] = ("swipe",)  # buckets to make


def s3_local(argv: list[str], prog: str) -> None:
    """A local S3-protocol server (moto) with a bucket `swipe`, to try object storage with no cloud account.

    swipe dev s3-local port=9000 &
    export AWS_ENDPOINT_URL=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    """
    import threading

    cfg = _args(S3LocalConfig, s3_local.__doc__, argv, prog=prog)
    from_checkout("tests/support", "swipe dev s3-local")  # moto: the dev extra
    from tests.support.s3 import LocalS3, s3_env

    with LocalS3(cfg.port, cfg.buckets):
        print("export " + " ".join(f"{k}={v}" for k, v in s3_env(cfg.port).items()), flush=True)
        threading.Event().wait()  # until interrupted


Command = Callable[[list[str], str], None]
USER: dict[str, Command] = {"data": data, "report": report, "train": train, "predict": predict,
                            "evaluate": evaluate, "compare": compare, "sweep": sweep, "serve": serve,
                            "export": export, "bench": bench}
DEV: dict[str, Command] = {"calibrate": calibrate, "tune-fused": tune_fused, "fit-synth": fit_synth,
                           "fit-generator": fit_generator, "ship": ship, "ensemble": ensemble, "results": results,
                           "submit-local": submit_local, "s3-local": s3_local}


def _summary(table: dict[str, Command], prefix: str) -> str:
    return "\n".join(f"  {prefix}{name:<14} {(fn.__doc__ or '').strip().splitlines()[0]}" for name, fn in table.items())


USAGE = f"""usage: swipe <command> [--config FILE] [key=value …]   (swipe <command> --help: every key explained)

In the order of a project (each step's output is the next one's input):
{_summary(USER, "")}

Maintainer tools (swipe dev <tool> --help):
{_summary(DEV, "dev ")}
"""


def main(argv: list[str] | None = None) -> None:
    """The console script `swipe` (pyproject.toml); `python jobs/<name>.py …` calls it too."""
    argv = list(sys.argv[1:] if argv is None else argv)
    table, prefix = USER, "swipe"
    if argv[:1] == ["dev"]:
        table, prefix, argv = DEV, "swipe dev", argv[1:]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        sys.exit(0 if argv else 2)
    name, rest = argv[0], argv[1:]
    if name not in table:
        print(f"{prefix}: unknown command {name!r}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    table[name](rest, f"{prefix} {name}")


if __name__ == "__main__":
    main()
