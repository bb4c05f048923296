"""The command line every job shares: `--config FILE key=value …`, and `--help` explaining every key.

A key's explanation is the comment beside (or just above) its field in the config dataclass,
and its allowed values come from the field's `Literal` type: the code is the one place both live.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import types
import typing
from functools import cache
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from swipe.config import ConfigError, load_config
from swipe.console import quiet

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class KeyHelp:
    """One config key as `--help` shows it."""

    key: str  # dotted; `[]` marks a list's items (eval[].split)
    default: Any
    kind: str  # the type in words, with the allowed values of a Literal
    text: str  # the field's comment (empty where it has none)


@cache
def field_comments(cls: type) -> dict[str, str]:
    """Each field's comment in `cls`'s source: the `# …` on its line, else the comment lines just above it."""
    try:
        lines, _ = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return {}
    source = textwrap.dedent("".join(lines))
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    code_lines = source.splitlines()
    alone = {i for i in comments if code_lines[i - 1].lstrip().startswith("#")}  # comment-only lines
    # Comment lines between two fields describe the next one, unless it has its own comment beside
    # it: then they continue the comment beside the field above.
    out: dict[str, list[str]] = {}
    previous = None
    for node in ast.parse(source).body[0].body:  # type: ignore[attr-defined]
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        beside = [comments[i] for i in range(node.lineno, (node.end_lineno or node.lineno) + 1) if i in comments]
        above, i = [], node.lineno - 1
        while i in alone:
            above.insert(0, comments[i])
            i -= 1
        if beside and above and previous is not None and out[previous]:
            out[previous] += above
        out[node.target.id] = beside or above
        previous = node.target.id
    return {name: " ".join(lines) for name, lines in out.items()}


def _dataclass_of(tp: Any) -> type | None:
    """The dataclass `tp` is, or is an optional of."""
    if dataclasses.is_dataclass(tp):
        return tp  # type: ignore[return-value]
    if get_origin(tp) in (typing.Union, types.UnionType):
        found = [a for a in get_args(tp) if dataclasses.is_dataclass(a)]
        return found[0] if found else None
    return None


def type_words(tp: Any) -> str:
    """A field's type in words: `one of a | b`, `int or null`, `list of str`."""
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + " | ".join(repr(a) if isinstance(a, str) else str(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        parts = [type_words(a) for a in get_args(tp) if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in get_args(tp) else "")
    if origin in (tuple, list):
        (item,) = get_args(tp)[:1] or (Any,)
        return "list of " + ("mappings" if dataclasses.is_dataclass(item) else type_words(item))
    if origin is dict:
        return "mapping"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def describe_keys(cls: type, prefix: str = "", default: Any = None) -> list[KeyHelp]:
    """Every key of config dataclass `cls`, nested ones dotted, with its default, type and comment."""
    hints = get_type_hints(cls)
    comments = field_comments(cls)
    if default is None:
        try:
            default = cls()
        except TypeError:  # a dataclass with required fields (a list item): no defaults to show
            default = None
    rows = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        tp, key = hints[f.name], prefix + f.name
        value = getattr(default, f.name) if default is not None else dataclasses.MISSING
        inner = _dataclass_of(tp)
        if inner is not None and (value is None or dataclasses.is_dataclass(value)):
            rows.append(KeyHelp(key, value, type_words(tp), comments.get(f.name, "") or _purpose(inner)))
            rows += describe_keys(inner, key + ".", value if value is not None else None)
            continue
        rows.append(KeyHelp(key, value, type_words(tp), comments.get(f.name, "")))
        if get_origin(tp) in (tuple, list):
            (item,) = get_args(tp)[:1] or (Any,)
            if dataclasses.is_dataclass(item):
                rows += describe_keys(item, key + "[].")  # type: ignore[arg-type]
    return rows


def keys_help(cls: type) -> str:
    """The `--help` epilog: every key, its default and allowed values, and what it means."""
    out = ["config keys (set in the YAML file, or as key=value after it; nested keys with dots):"]
    for k in describe_keys(cls):
        default = "" if k.default is dataclasses.MISSING else (
            " (a mapping)" if dataclasses.is_dataclass(k.default) else f" = {_plain(k.default)!r}")
        out.append(f"  {k.key}{default}   [{k.kind}]")
        if k.text:
            out += textwrap.wrap(k.text, 96, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(out)


def _purpose(cls: type) -> str:
    """A dataclass's own docstring (not the signature dataclasses writes where there is none)."""
    doc = (cls.__doc__ or "").strip()
    return "" if doc.startswith(cls.__name__ + "(") else " ".join(doc.split("\n\n")[0].split())


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def parse_job_args(cls: type[T], description: str, argv: list[str] | None = None, resume_key: str | None = None,
                   prog: str | None = None, positional: str | None = None) -> T:
    """Parse `--config FILE key=value …` into a config of type `cls` (exit 2 on a bad key).

    With `resume_key` (the dotted key of a bool), the job also takes `--resume`, which is
    that key set to true: continue the named run or sweep. With `positional` (a key), bare
    words (no `=`) are that key's value, a list where the key is one."""
    example = next((k for k in describe_keys(cls) if k.default is not dataclasses.MISSING
                    and not dataclasses.is_dataclass(k.default)), None)
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=keys_help(cls))
    parser.add_argument("--config", help="YAML config file (the defaults below apply where it is silent)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="overrides applied after the config file"
                        + (f", e.g. {example.key}={_plain(example.default)!r}" if example else "")
                        + (f"; a bare word is a value of {positional}" if positional else ""))
    parser.add_argument("--verbose", action="store_true",
                        help="show every warning and Ray's INFO logs (swipe.console filters them otherwise)")
    if resume_key:
        parser.add_argument("--resume", action="store_true", help=f"continue the named run ({resume_key}=true)")
    args = parser.parse_intermixed_args(argv)
    quiet(args.verbose)  # the edge: before Ray or Lightning say anything
    # a bare word: no `=`, or a path with one in it (runs/lr=0.01/…), which no key has
    bare = [o for o in args.overrides if "=" not in o or "/" in o.split("=", 1)[0]]
    overrides = [o for o in args.overrides if o not in bare]
    if bare:
        if positional is None:
            parser.exit(2, f"{parser.prog}: error: {bare[0]!r} is not of the form key=value\n")
        many = get_origin(get_type_hints(cls)[positional]) in (tuple, list)
        if not many and len(bare) > 1:
            parser.exit(2, f"{parser.prog}: error: one {positional} only, got {bare}\n")
        overrides.append(f"{positional}=" + (repr(bare) if many else bare[0]))
    overrides += [f"{resume_key}=true"] if resume_key and args.resume else []
    try:
        cfg = load_config(cls, args.config, overrides)
    except (ConfigError, FileNotFoundError) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    assert dataclasses.is_dataclass(cfg)
    return cfg
