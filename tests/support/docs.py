"""Commands quoted in the README and docs/: read them out of a page, and the files, configs and
`make` targets a page names, for the tests that run or check them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

COMMAND = re.compile(r"^(swipe |python jobs/|(\.venv/bin/)?ray job submit .*-- python jobs/)")


def fenced_lines(text: str) -> list[str]:
    """Every line inside ``` fences (not ```text: a diagram), continuations (`\\` at the end) joined,
    `# comments` and a trailing `&` dropped."""
    blocks, block, kind = [], None, ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if block is None:
                block, kind = [], line.strip()[3:]
            else:
                if kind != "text":
                    blocks.append("\n".join(block))
                block = None
        elif block is not None:
            block.append(line)
    lines = []
    for body in blocks:
        for line in re.sub(r"\\\n\s*", " ", body).splitlines():
            line = re.split(r"\s+#\s", line, maxsplit=1)[0].strip().rstrip("&").strip()
            if line:
                lines.append(line)
    return lines


def commands_in(page: str | Path, marker: str | None = None) -> list[str]:
    """The `swipe …` / `python jobs/…` lines of a page's fenced blocks (with `marker`, of the block after it)."""
    text = Path(page).read_text()
    if marker is not None:
        assert marker in text, f"{page} lost its block marked {marker!r}"
        text = "```" + text.split(marker, 1)[1].split("```", 2)[1] + "```"
    return [ln for ln in fenced_lines(text) if COMMAND.match(ln)]


def swipe_argv(line: str) -> list[str]:
    """The `swipe` arguments a command line stands for: `swipe train …`, `python jobs/train.py …` and
    `ray job submit … -- python jobs/train.py …` all give ["train", …]."""
    from swipe.commands import DEV, USER

    words = shlex.split(line)
    if "--" in words and words[0].endswith("ray"):
        words = words[words.index("--") + 1:]
    if words[0] == "swipe":
        return words[1:]
    assert words[0] == "python" and words[1].startswith("jobs/"), line
    job = Path(words[1]).stem
    shims = {"make_dataset": "data", "data_report": "report"}
    name = shims.get(job, job)
    if name in USER:
        return [name, *words[2:]]
    dev = name.replace("_", "-")
    assert dev in DEV, f"{line}: no command {name}"
    return ["dev", dev, *words[2:]]
