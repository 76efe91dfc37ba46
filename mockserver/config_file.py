"""Load a `MockSpec` from a TOML, YAML or JSON file, with errors that name the offending key."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mockserver import jsonio
from mockserver.spec import MockSpec


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
        data = json.loads(text)
    else:
        raise ConfigFileError(f"{path}: unknown config format {suffix!r}; use .toml, .yaml, .yml or .json")
    bad = jsonio.lone_surrogate_path(data)  # YAML and JSON escapes can make one; nothing can write it back
    if bad is not None:
        raise ConfigFileError(f"{path}: {_key_path(tuple(bad))}: a lone UTF-16 surrogate (\\ud800-\\udfff) is not "
                              "valid Unicode")
    return data


def _key_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif not ("[" in part or part in {"str", "list"}):
            parts.append(("." if parts else "") + part)
    return "".join(parts) or "(top level)"


def describe_errors(path: Path | str, error: ValidationError) -> str:
    lines = [f"{path}: invalid humanloop-mock config:"]
    for item in error.errors(include_url=False):
        key = _key_path(item["loc"])
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            lines.append(f"  {key}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def _check_unique_ids(spec: MockSpec, path: Path) -> None:
    seen: dict[str, str] = {}
    for p_index, project in enumerate(spec.projects):
        for e_index, experiment in enumerate(project.experiments):
            if experiment.id is None:
                continue
            where = f"projects[{p_index}].experiments[{e_index}].id"
            if experiment.id in seen:
                raise ConfigFileError(f"{path}: {where}: experiment id {experiment.id!r} is also used at "
                                      f"{seen[experiment.id]}")
            seen[experiment.id] = where


def spec_from_data(data: Any, source: Path | str = "<config>") -> MockSpec:
    """Validate already-parsed data (a dict from any format) as a `MockSpec`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{source}: the top level must be a table/mapping with a 'projects' key")
    try:
        spec = MockSpec.model_validate(data)
    except ValidationError as invalid:
        raise ConfigFileError(describe_errors(source, invalid)) from None
    _check_unique_ids(spec, Path(str(source)))
    return spec


def load_spec(path: str | Path) -> MockSpec:
    path = Path(path)
    try:
        data = _parse(path)
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError) as bad:
        raise ConfigFileError(f"{path}: cannot parse: {bad}") from None
    return spec_from_data(data, path)
