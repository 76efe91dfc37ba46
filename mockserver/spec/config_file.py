"""Load a `MockSpec` from a TOML, YAML or JSON file, with errors that name the offending key."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml

from mockserver import jsonio
from mockserver.spec.errors import SpecError, key_path, validate
from mockserver.spec.models import MockSpec


class ConfigFileError(ValueError):
    """The config file cannot be used; the message says where and why, for a person to fix."""


def _parse(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        data = tomllib.loads(text)
    elif suffix in (".yaml", ".yml"):
        data = yaml.safe_load(text)
    elif suffix == ".json":
        data = jsonio.stdlib_loads(text)
    else:
        raise ConfigFileError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml, .yml or .json")
    bad = jsonio.lone_surrogate_path(data)  # YAML and JSON escapes can make one; nothing can write it back
    if bad is not None:
        raise ConfigFileError(f"{path}: {key_path(bad)}: a lone UTF-16 surrogate (\\ud800-\\udfff) is not "
                              "valid Unicode")
    return data


def spec_from_data(data: Any, source: Path | str = "<config>") -> MockSpec:
    """Validate already-parsed data (a dict from any format) as a `MockSpec`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{source}: the top level must be a table/mapping with a 'projects' key")
    try:
        return validate(MockSpec, data)
    except SpecError as invalid:
        raise ConfigFileError(f"{source}: invalid humanloop-mock config:\n  " + "\n  ".join(invalid.problems)) from None


def load_spec(path: str | Path) -> MockSpec:
    path = Path(path)
    try:
        data = _parse(path)
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as bad:
        raise ConfigFileError(f"{path}: cannot parse: {bad}") from None
    return spec_from_data(data, path)
