"""The package's shape: stages by folder, Ray only at the edges, a purpose on every module's first line."""

import ast
import pkgutil
import subprocess
import sys

import swipe

from conftest import ROOT

MODULES = sorted(m.name for m in pkgutil.walk_packages(swipe.__path__, "swipe."))
# the modules that run on Ray (tasks, actors, Ray Data, Train, Tune); nothing else may load it
RAY_EDGES = {"swipe.cluster.session", "swipe.data.make", "swipe.evaluate.predict", "swipe.serve.app", "swipe.train.fit",
             "swipe.train.worker",
             "swipe.train.stream", "swipe.train.sweep"}


def test_every_stage_is_a_folder():
    stages = {m.split(".")[1] for m in MODULES if m.count(".") >= 2}
    assert {"data", "model", "train", "decode", "evaluate", "serve", "export", "cluster", "dev"} <= stages


DEV_ONLY = ("moto", "hypothesis", "selenium", "pytest", "tests", "bench")  # the dev extra, and the checkout's


def test_the_package_holds_no_test_harness_and_no_user_command_imports_a_dev_only_package():
    """What only tests and benchmarks use is outside `swipe/` (tests/support/, bench/): the
    package setuptools builds has no testing folder, no fault hook, and its modules import no
    dev-only package, except the maintainer tools that say so (`swipe dev submit-local`,
    `s3-local`: from the checkout)."""
    from setuptools import find_packages

    assert not [p for p in find_packages(str(ROOT), include=["swipe", "swipe.*"]) if "test" in p]
    hits = []
    for f in sorted((ROOT / "swipe").rglob("*.py")):
        text = f.read_text()
        for node in ast.walk(ast.parse(text)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            hits += [f"{f.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] in DEV_ONLY]
        if "HOLD_AFTER" in text or "SWIPE_FAULT" in text:
            hits.append(f"{f.relative_to(ROOT)}: a fault hook")
    # `swipe bench`, `swipe dev submit-local` and `s3-local` import from the checkout (`from_checkout`)
    assert [h.split(" ")[1] for h in hits] == ["bench", "tests.support.submission", "tests.support.s3"], hits
    assert all(h.startswith("swipe/commands.py") for h in hits), hits


def test_only_the_ray_edges_load_ray():
    """In a fresh interpreter, every other module (swipe.data, swipe.model, swipe.decode among
    them) imports without loading `ray`; each is imported in turn and the first to load it is named."""
    calm = [m for m in MODULES if m not in RAY_EDGES]
    code = ("import importlib, sys\n"
            "for m in sys.argv[1:]:\n"
            "    importlib.import_module(m)\n"
            "    if 'ray' in sys.modules:\n"
            "        sys.exit(f'{m} loads ray')\n")
    out = subprocess.run([sys.executable, "-c", code, *calm], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert {"swipe.data.synth", "swipe.model.transformer", "swipe.decode.search", "swipe.evaluate.report"} <= set(calm)
    # and each edge imports ray at its top level (the list above is not stale)
    for m in sorted(RAY_EDGES):
        tree = ast.parse((ROOT / (m.replace(".", "/") + ".py")).read_text())
        tops = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names] \
            + [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module]
        assert any(t == "ray" or t.startswith("ray.") for t in tops), f"{m} does not import ray: take it out of RAY_EDGES"


def test_every_module_opens_with_its_purpose():
    files = sorted((ROOT / "swipe").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py")) \
        + sorted((ROOT / "jobs").glob("*.py"))
    missing = [str(f.relative_to(ROOT)) for f in files if not (ast.get_docstring(ast.parse(f.read_text())) or "").strip()]
    assert not missing, f"modules without an opening docstring: {missing}"


def test_private_ray_apis_only_in_the_shim():
    """Ray's private modules and attributes are reached in one place, swipe/cluster/ray_compat.py."""
    needles = ("._internal", "_experiment_analysis")
    hits = []
    for folder in ("swipe", "bench", "jobs", "tests"):
        for f in (ROOT / folder).rglob("*.py"):
            if f.name in ("ray_compat.py", "test_ray_compat.py", "test_package.py"):
                continue
            hits += [f"{f.relative_to(ROOT)}:{i}" for i, line in enumerate(f.read_text().splitlines(), 1)
                     if any(n in line for n in needles)]
    assert not hits, hits


def test_bench_lists_every_benchmark_and_make_bench_runs_the_list():
    from bench import BENCHMARKS

    out = subprocess.run([sys.executable, "jobs/bench.py", "--list"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.split() == list(BENCHMARKS)
    assert {"synth", "lexicon", "data", "train", "decode", "share", "tune", "reliability"} <= set(BENCHMARKS)
    assert "$(SWIPE) bench --list" in (ROOT / "Makefile").read_text()
