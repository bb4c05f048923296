"""Typed, frozen dataclass configs: defaults in code, then YAML, then `key=value` flags.

Every module owns its config dataclass; jobs compose them. Unknown keys are an error that
lists the valid ones, so a misspelt option never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Sequence, TypeVar, get_args, get_origin, get_type_hints

import yaml

T = TypeVar("T")


SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class ConfigError(ValueError):
    """A config file or override that does not fit its dataclass."""


def build_config(cls: type[T], values: dict[str, Any] | None, where: str = "") -> T:
    """Build dataclass `cls` from a (nested) dict, checking keys and literal choices."""
    values = dict(values or {})
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(where + k for k in unknown)}; "
            f"valid keys{' under ' + where.rstrip('.') if where else ''}: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(hints[name], value, where + name)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Convert a YAML value to the declared field type, or raise a ConfigError naming it."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):  # type: ignore[arg-type]
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return build_config(tp, value, where + ".")  # type: ignore[arg-type]
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not one of {list(get_args(tp))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: {value!r} fits none of {args}: {'; '.join(errors)}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = get_args(tp)[:1] or (Any,)
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str) and SCIENTIFIC.fullmatch(value):
        return float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise ConfigError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`["a.b=3", "c=x"]` → `{"a": {"b": 3}, "c": "x"}`; values are parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r} is not of the form key=value")
        key, raw = pair.split("=", 1)
        node = out
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(raw) if raw != "" else ""
    return out


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; `extra` wins."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(cls: type[T], path: str | Path | None, overrides: Sequence[str] = ()) -> T:
    """Defaults of `cls`, updated by the YAML file at `path`, updated by `key=value` overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        values = loaded
    return build_config(cls, merge(values, parse_overrides(list(overrides))))


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The resolved config as plain YAML-able data (tuples become lists)."""

    def plain(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))
