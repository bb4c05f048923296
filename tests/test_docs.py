"""The README and docs/ against the tree: every file, config and `make` target they name exists, every
command they quote parses its config (nothing runs, no Ray starts), and the README stays short."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from swipe.commands import check_command
from tests.support.docs import commands_in, swipe_argv

from conftest import ROOT

PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
TOP = "swipe|jobs|configs|data|docs|models|bench|tests|deploy"
# a repository path in prose or code: not inside a URI (s3://swipe/…), not an output made at run time
PATH = re.compile(rf"(?<![\w:/.~$-])(?:(?:{TOP})/[\w./*{{}},-]*[\w*}}]|Makefile|LICENSE|pyproject\.toml|cluster\.yaml|CHANGELOG\.md|\.ci/run)")
MADE = ("data/datasets", "docs/results.md", "docs/benchmarks.md")  # made by commands (or read from elsewhere)
PLACEHOLDER = re.compile(r"NAME|RUN|BUCKET|FOLDER|OUT|DIR|SPLIT|…|\*|<|\{")


def _named_paths(page: Path) -> set[str]:
    text = page.read_text()
    found = {p.rstrip(".") for p in PATH.findall(text)}
    return {p for p in found if not PLACEHOLDER.search(p) and not p.startswith(MADE)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_path_and_link_named_exists(page):
    missing = sorted(p for p in _named_paths(page) if not (ROOT / p).exists())
    links = re.findall(r"\]\(([^)#\s]+)", page.read_text())
    missing += sorted(f"link {t}" for t in links if "://" not in t and not (page.parent / t).exists())
    assert not missing, f"{page.name} names what is not in the tree: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_make_target_named_exists(page):
    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    named = set(re.findall(r"`make ([\w-]+)", page.read_text())) | set(re.findall(r"^make ([\w-]+)", page.read_text(), re.M))
    assert named <= targets, f"{page.name}: no Makefile target {sorted(named - targets)}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_quoted_parses_its_config(page, in_root):
    """Each `swipe …`, `python jobs/…` and `ray job submit … -- python jobs/…` line of the page's code
    blocks: its --config exists and loads, every key=value is a key of that command."""
    bad = []
    for line in commands_in(page):
        config = re.search(r"--config (\S+)", line)
        if "--help" in line or (config and (config[1].startswith("runs/") or PLACEHOLDER.search(config[1]))):
            continue  # help, or a config a run writes (runs/sweeps/NAME/best_config.yaml)
        try:
            check_command(swipe_argv(line))
        except SystemExit as e:  # argparse's exit: a bad key, value or config file
            bad.append(f"{line!r}: exit {e.code}")
    assert not bad, "\n".join(bad)


def test_the_readme_is_short_and_speaks_of_the_project_not_its_history():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, len(lines)
    history = [ln for ln in lines if re.search(r"\bissues? \d|#\d+\b|\b(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b", ln)]
    assert not history, history
    order = ["## Install", "## Try it", "## Results", "## The pipeline", "## Your own language",
             "## Configs and `--help`", "## Scaling out", "## Repository layout", "## Status, data and licence"]
    assert [ln for ln in lines if ln.startswith("## ")] == order
    assert "docs/demo.png" in "".join(lines[:10]) and "make demo" in "\n".join(lines) and "make quickstart" in "\n".join(lines)


def test_every_module_and_config_is_in_the_architecture_page():
    page = (ROOT / "docs/architecture.md").read_text()
    files = [p for p in sorted((ROOT / "swipe").rglob("*.py")) + sorted((ROOT / "bench").glob("*.py"))
             + sorted((ROOT / "tests/support").glob("*.py"))
             + sorted((ROOT / "configs").rglob("*.yaml")) if p.name != "__init__.py" or p.stat().st_size > 200]
    missing = [str(p.relative_to(ROOT)) for p in files if str(p.relative_to(ROOT)) not in page]
    assert not missing, f"docs/architecture.md misses {missing}"
    listed = re.findall(r"^((?:swipe|bench|tests/support)/\S+\.py) ", page, re.M)
    gone = [p for p in listed if not (ROOT / p).exists()]
    assert not gone, f"docs/architecture.md lists files that are not in the tree: {gone}"


def test_results_pages_say_where_they_came_from():
    for name in ("results.md", "benchmarks.md"):
        text = (ROOT / "docs" / name).read_text()
        assert re.search(r"at commit `[0-9a-f]{40}(-dirty)?` on \S+", text), name
        assert "make results" in text and " cores" in text, name
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- results: written by `make results`", 1)[1].split("<!-- /results -->", 1)[0]
    assert "| reporting half" in block or "swipe_mrr" in block, "the README's results table is empty: make results"
