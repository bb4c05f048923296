"""The `swipe` command: its commands, `--help` that explains every key, and the jobs/ shims."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from swipe.cli import describe_keys, field_comments
from swipe.commands import DEV, USER, Parsed, check_command

from conftest import ROOT

SWIPE = str(Path(sys.executable).parent / "swipe")  # the console script pyproject.toml declares


def test_swipe_help_lists_the_user_commands_then_the_tools():
    out = subprocess.run([SWIPE, "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert list(USER) == ["data", "report", "train", "predict", "evaluate", "compare", "sweep", "serve", "export",
                          "bench"]
    for name in USER:
        assert f"\n  {name} " in out.stdout
    assert out.stdout.index("\n  bench ") < out.stdout.index("dev calibrate")
    bad = subprocess.run([SWIPE, "trian"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "unknown command 'trian'" in bad.stderr


@pytest.mark.parametrize("argv", [[n] for n in USER] + [["dev", n] for n in DEV], ids=" ".join)
def test_every_key_of_every_command_is_explained(argv):
    """Each key's comment (beside or above its field) is its help; a key without one fails here."""
    cfg = check_command(argv + (["decode"] if argv == ["bench"] else []))
    missing = [k.key for k in describe_keys(type(cfg)) if not k.text]
    assert not missing, f"swipe {' '.join(argv)}: keys without a comment in their dataclass: {missing}"


def test_train_help_shows_meanings_and_allowed_values():
    out = subprocess.run([sys.executable, "jobs/train.py", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.startswith("usage: swipe train")  # the shim is the command
    text = " ".join(out.stdout.split())
    assert "model.d_model = 0 [int] width of the encoder and decoder (0: the preset's)" in text
    assert "optim.schedule = 'cosine' [one of 'plateau' | 'cosine' | 'onecycle' | 'constant' | 'milestones']" in text
    assert "e.g. data.dataset=" in text and "n_swipes" not in text  # an example key of this command
    # a comment continued on the line below its field belongs to it, not to the next field
    comments = field_comments(__import__("swipe.train.config", fromlist=["RunConfig"]).RunConfig)
    assert comments["real_tune"].endswith("its reporting half is never read here")
    assert comments["real_tune_split"] == "the split of real_tune read"


def test_check_command_parses_without_running_and_bare_words_fill_a_list():
    cfg = check_command(["compare", "a", "runs/lr=0.01/b"])
    assert cfg.predictions == ("a", "runs/lr=0.01/b")
    assert check_command(["bench", "decode"]).name == "decode"
    assert dataclasses.is_dataclass(check_command(["dev", "ship", "run=x", "out=y"]))
    with pytest.raises(SystemExit):
        check_command(["train", "bare"])  # train takes no bare words
    assert issubclass(Parsed, Exception) and set(DEV) >= {"calibrate", "tune-fused", "ship", "results"}


def test_every_job_is_a_shim_over_a_command():
    from tests.support.docs import swipe_argv

    for job in sorted((ROOT / "jobs").glob("*.py")):
        argv = swipe_argv(f"python jobs/{job.name} --help")
        table = DEV if argv[0] == "dev" else USER
        assert (argv[1] if argv[0] == "dev" else argv[0]) in table, job
        assert len(job.read_text().splitlines()) <= 10, f"{job} is more than a shim"
