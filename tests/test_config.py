"""Configs: unknown keys and bad types are errors; YAML then key=value overrides."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from swipe.config import ConfigError, build_config, load_config, parse_overrides


@dataclass(frozen=True)
class Inner:
    rate: float = 0.1
    kind: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    n: int = 3
    inner: Inner = field(default_factory=Inner)
    tags: tuple[str, ...] = ()
    maybe: int | None = None


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) nmae.*valid keys: inner, maybe, n, name, tags"):
        build_config(Outer, {"nmae": "y"})
    with pytest.raises(ConfigError, match=r"inner\.rat.*valid keys under inner: kind, rate"):
        build_config(Outer, {"inner": {"rat": 1}})


def test_types_and_literals_are_checked():
    with pytest.raises(ConfigError, match="inner.kind"):
        build_config(Outer, {"inner": {"kind": "c"}})
    with pytest.raises(ConfigError, match="n: expected int"):
        build_config(Outer, {"n": "three"})
    cfg = build_config(Outer, {"inner": {"rate": 1}, "tags": ["p", "q"], "maybe": None})
    assert cfg.inner.rate == 1.0 and isinstance(cfg.inner.rate, float)
    assert cfg.tags == ("p", "q")


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: from_yaml\ninner:\n  rate: 0.5\n")
    cfg = load_config(Outer, path, ["inner.kind=b", "n=7"])
    assert (cfg.name, cfg.n, cfg.inner.rate, cfg.inner.kind) == ("from_yaml", 7, 0.5, "b")
    assert parse_overrides(["a.b.c=1", "d=[1, 2]"]) == {"a": {"b": {"c": 1}}, "d": [1, 2]}
    assert load_config(Outer, None, ["inner.rate=1e-3"]).inner.rate == 0.001  # YAML 1.1 reads 1e-3 as text
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["oops"])
