"""The command line every job shares: `--config FILE key=value …`, and `--help` listing keys."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TypeVar

from swipe.config import ConfigError, config_to_dict, load_config
from swipe.console import quiet

T = TypeVar("T")


def _flat_keys(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.extend(_flat_keys(v, f"{prefix}{k}."))
        else:
            out.append(f"  {prefix}{k} = {v!r}")
    return out


def parse_job_args(cls: type[T], description: str, argv: list[str] | None = None, resume_key: str | None = None) -> T:
    """Parse `--config FILE key=value …` into a config of type `cls` (exit 2 on a bad key).

    With `resume_key` (the dotted key of a bool), the job also takes `--resume`, which is
    that key set to true: continue the named run or sweep."""
    defaults = config_to_dict(cls())  # type: ignore[call-arg]
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config keys (defaults; set in the YAML or as key=value, nested with dots):\n"
        + "\n".join(_flat_keys(defaults)))
    parser.add_argument("--config", help="YAML config file (defaults apply where it is silent)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="overrides applied after the config file, e.g. n_swipes=1000")
    parser.add_argument("--verbose", action="store_true",
                        help="show every warning and Ray's INFO logs (swipe.console filters them otherwise)")
    if resume_key:
        parser.add_argument("--resume", action="store_true", help=f"continue the named run ({resume_key}=true)")
    args = parser.parse_intermixed_args(argv)
    quiet(args.verbose)  # the edge: before Ray or Lightning say anything
    overrides = args.overrides + ([f"{resume_key}=true"] if resume_key and args.resume else [])
    try:
        cfg = load_config(cls, args.config, overrides)
    except (ConfigError, FileNotFoundError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    assert dataclasses.is_dataclass(cfg)
    return cfg

