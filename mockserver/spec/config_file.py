"""Load a `MockSpec` from a TOML, YAML or JSON file, with errors that name the offending key.

The file is read as `textfile` reads any file a person names (a regular file, UTF-8, at most
`MAX_CONFIG_BYTES`), parsed by the format its name ends in, checked to be plain data (`plaindata`:
no YAML alias bombs or cycles, no dates, string keys), then validated as the model. Every way this
can fail is a `ConfigFileError` whose message starts with the path.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from mockserver import jsonio
from mockserver.files import safe_yaml
from mockserver.files.plaindata import NotPlainData, check_plain
from mockserver.files.textfile import MEBIBYTE, UnreadableFile, read_text
from mockserver.spec.errors import SpecError, validate
from mockserver.spec.models import MockSpec

MAX_CONFIG_BYTES = 16 * MEBIBYTE  # a config is written by hand; a larger file is a mistake, or not a config
FORMATS = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}


class ConfigFileError(ValueError):
    """The config file cannot be used; the message says where and why, for a person to fix."""


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = next((key for index, key in enumerate(keys) if key in keys[:index]), None)
    if repeated is not None:
        raise ValueError(f"the key {repeated!r} is given twice in one object")
    return dict(pairs)


def _parse(text: str, kind: str) -> Any:
    if kind == "TOML":
        return tomllib.loads(text)
    if kind == "YAML":
        return safe_yaml.load(text)
    return jsonio.stdlib_loads(text, object_pairs_hook=_json_object)  # (worded alike on every Python)


def _parse_error(bad: Exception) -> str:
    if isinstance(bad, yaml.YAMLError):
        return str(bad)
    return str(bad) if str(bad) else type(bad).__name__


def spec_from_data(data: Any, source: Path | str = "<config>") -> MockSpec:
    """Validate already-parsed data (a dict from any format) as a `MockSpec`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{source}: the top level must be a table/mapping with a 'projects' key")
    try:
        check_plain(data)
    except NotPlainData as bad:
        raise ConfigFileError(f"{source}: {bad}") from None
    try:
        return validate(MockSpec, data)
    except SpecError as invalid:
        raise ConfigFileError(f"{source}: invalid humanloop-mock config:\n  " + "\n  ".join(invalid.problems)) from None


def load_spec(path: str | Path) -> MockSpec:
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:  # (known before the file is opened: a FIFO or /dev/zero is never read for nothing)
        raise ConfigFileError(f"{path}: unknown config format {path.suffix!r}; use .toml, .yaml, .yml or .json")
    try:
        data = _parse(read_text(path, MAX_CONFIG_BYTES), kind)
    except UnreadableFile as unreadable:
        raise ConfigFileError(str(unreadable)) from None
    except RecursionError:
        raise ConfigFileError(f"{path}: cannot parse: nested too deeply ({kind})") from None
    except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError) as bad:
        raise ConfigFileError(f"{path}: cannot parse as {kind}: {_parse_error(bad)}") from None
    return spec_from_data(data, path)
