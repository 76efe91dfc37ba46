"""What a YAML, JSON or TOML document a person wrote must be before a model reads it: plain data.

Plain means what JSON can hold (objects with string keys, arrays, strings, numbers, true/false/null),
within bounds on nesting and on the number of values. The parsers give more: YAML reads `1: x` and
`on: x` with an int or bool key, `2024-01-01` as a date, and its aliases share one value between many
places, so a file of a kilobyte can stand for a billion values ("billion laughs") or hold itself
(`&a [*a]`); TOML reads dates too. A model would fail on these with a traceback, or walk forever.
`check_plain` walks the document once, iteratively, and stops at the first thing that is not plain,
naming where it is.
"""

from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 100  # nesting of objects and arrays; a config's deepest (a tool's JSON Schema) is far less
MAX_VALUES = 1_000_000  # values and keys in all, counting each use of a YAML alias
_SCALARS = (str, int, float, bool, type(None))
_SURROGATE = re.compile("[\ud800-\udfff]")


class NotPlainData(ValueError):
    """The document is not plain data; `where` is its path (`projects[0].name`) and the message says why."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


def _where(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _describe(value: Any) -> str:
    name = type(value).__name__
    if name in ("date", "datetime", "time"):
        return f"a {name} ({value}), not a string; quote it"
    return f"a {name} value, which JSON cannot hold"


def check_plain(data: Any, *, allow_bytes: bool = False, max_depth: int = MAX_DEPTH,
                max_values: int = MAX_VALUES) -> None:
    """Raise `NotPlainData` unless `data` is plain (bytes allowed if `allow_bytes`: a vcrpy body)."""
    scalars = (*_SCALARS, bytes) if allow_bytes else _SCALARS
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    count = 0
    while stack:
        value, path = stack.pop()
        count += 1
        if count > max_values:
            raise NotPlainData("", f"holds more than {max_values:,} values (YAML aliases count once per use)")
        if isinstance(value, scalars):
            if isinstance(value, str) and not value.isascii() and _has_lone_surrogate(value):
                raise NotPlainData(_where(path), "a lone UTF-16 surrogate (\\ud800-\\udfff) is not valid Unicode")
            continue
        if len(path) >= max_depth:
            shown = _where(path[:6]) + "..."  # (the whole path would be `max_depth` parts long)
            raise NotPlainData(shown, f"nested more than {max_depth} levels deep (or a YAML alias that holds itself)")
        if isinstance(value, dict):
            for key, item in reversed(value.items()):  # (reversed: the first is looked at first)
                if not isinstance(key, str):
                    raise NotPlainData(_where(path), f"the key {key!r} ({type(key).__name__}) is not a "
                                                     "string; quote it")
                if not key.isascii() and _has_lone_surrogate(key):
                    raise NotPlainData(_where(path), "a key holds a lone UTF-16 surrogate (\\ud800-\\udfff), "
                                                     "which is not valid Unicode")
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((value[index], (*path, index)) for index in range(len(value) - 1, -1, -1))
        else:
            raise NotPlainData(_where(path), _describe(value))


def _has_lone_surrogate(text: str) -> bool:
    """Whether `text` holds a UTF-16 surrogate on its own (YAML and JSON escapes can make one), which no
    UTF-8 writer can write back."""
    return _SURROGATE.search(text) is not None
