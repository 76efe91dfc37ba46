"""JSON in and out: strict in (what the mock can always write back), fast out.

Out: orjson writes the same compact bytes as `json.dumps(..., ensure_ascii=False, separators=(",", ":"))`
about 15 times faster, which is most of a chat response's cost. It refuses integers beyond 64 bits,
so those (rare) bodies fall back to the standard library.

In: the standard library (orjson reads huge integers as floats, which would change what a client
sent), made strict about the two things it accepts but nothing can write back as UTF-8 JSON: a lone
surrogate escape (`"\\ud800"`) and a number too large for a double (`1e400`, read as infinity).
Both are refused with `JsonRejected` naming where they are, so no later step meets them, and so is a
document nested deeper than `MAX_DEPTH` (how deep the standard library's decoder reaches depends on the
Python version: about 990 levels in 3.11, 1,500 in 3.12, 10,000 in 3.13). A syntax error reads the same
on every Python: 3.13 names a trailing comma (`Illegal trailing comma ...` at the comma), and `loads` and
`stdlib_loads` report it as earlier versions do (what was expected, at the closing bracket).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

# Only a body holding one of these escapes can decode to a lone surrogate; checking for it first keeps
# the usual body (no such escape) to one fast byte scan.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


_STRUCTURE = (b"{", b"[", b",", b":")
MAX_DEPTH = 512  # arrays and objects inside each other; deeper is refused on every Python (see above)
_STRING_OR_BRACKET = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]')
_JSON_SPACE = " \t\n\r"


def over_values(body: bytes, limit: int) -> int | None:
    """About how many values and keys `body` holds (its `{`, `[`, `,` and `:` outside strings), if that is
    over `limit`; else None. Parsing and validating JSON costs about a microsecond per value, so this
    bounds a body's work before it is parsed: a few byte scans for the usual body, then, only when
    commas and colons inside strings could be what passed the limit, one step per string."""
    if len(body) <= limit:
        return None  # (each value takes at least one byte)
    count = sum(map(body.count, _STRUCTURE))
    if count <= limit:
        return None
    quotes = body.count(b'"')
    if quotes > 2 * limit + 2 or body.count(b'\\"') > limit:
        return count  # that many strings are values or keys themselves (or hide too many quotes to walk)
    end = -1
    while True:  # take out what lies inside each string (at most about `limit` of them)
        start = body.find(b'"', end + 1)
        if start < 0:
            break
        end = start
        while True:
            end = body.find(b'"', end + 1)
            if end < 0:
                end = len(body)
                break
            before = end - 1
            while body[before] == 92:  # a backslash: escaped if there is an odd run of them
                before -= 1
            if (end - 1 - before) % 2 == 0:
                break
        count -= sum(body.count(char, start, end) for char in _STRUCTURE)
    return count if count > limit else None


class JsonRejected(ValueError):
    """Valid JSON syntax the mock refuses: `loc` is the path inside the document, `msg` says why, and
    `kind` is the 422 item type (pydantic v1 style)."""

    def __init__(self, loc: list[str | int], msg: str, kind: str = "value_error.jsondecode") -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg
        self.kind = kind


def _reject_constant(name: str) -> Any:
    raise JsonRejected([], f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise JsonRejected([], f"number {text[:40]} is out of range (larger than a double can hold)")
    return value


def lone_surrogate_path(value: Any, path: list[str | int] | None = None) -> list[str | int] | None:
    """The path to the first string (or key) holding a lone surrogate, or None."""
    path = path or []
    if isinstance(value, str):
        return None if value.isascii() or _encodes(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            if not _encodes(key):
                return [*path, key.encode("utf-8", "backslashreplace").decode("ascii")]
            found = lone_surrogate_path(item, [*path, key])
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = lone_surrogate_path(item, [*path, index])
            if found is not None:
                return found
    return None


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def too_deep(raw: bytes) -> bool:
    """Whether `raw` nests arrays and objects more than `MAX_DEPTH` deep (brackets inside strings do not count)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    depth = 0
    for found in _STRING_OR_BRACKET.finditer(raw):
        token = found.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def portable_error(error: json.JSONDecodeError) -> json.JSONDecodeError:
    """`error` as Python 3.11 and 3.12 word it: 3.13 says `Illegal trailing comma before end of object`
    (or `array`) at the comma, where they said what they expected at the closing bracket."""
    if not error.msg.startswith("Illegal trailing comma before end of "):
        return error
    closing = error.pos + 1
    while closing < len(error.doc) and error.doc[closing] in _JSON_SPACE:
        closing += 1
    expected = "Expecting property name enclosed in double quotes" if error.msg.endswith("object") else \
        "Expecting value"
    return json.JSONDecodeError(expected, error.doc, closing)


def stdlib_loads(text: bytes | str, **options: Any) -> Any:
    """`json.loads`, with a syntax error worded the same on every Python (`portable_error`)."""
    try:
        return json.loads(text, **options)
    except json.JSONDecodeError as bad:
        raise portable_error(bad) from None


def loads(body: bytes | str) -> Any:
    """Parse JSON, refusing NaN/Infinity, numbers beyond a double, lone surrogates and nesting deeper than
    `MAX_DEPTH` (`JsonRejected`).

    Raises `json.JSONDecodeError` for bad syntax (worded as in `portable_error`) and `ValueError` for the rest.
    """
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if too_deep(raw):
        raise JsonRejected([], f"arrays and objects nested more than {MAX_DEPTH} deep")
    value = stdlib_loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    if b"\\u" in raw and _SURROGATE_ESCAPE.search(raw):
        path = lone_surrogate_path(value, [])
        if path is not None:
            raise JsonRejected(path, "string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not "
                                     "valid Unicode", "value_error.unicode")
    return value


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinities are refused (they are not JSON)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def canonical(value: Any) -> bytes:
    """JSON with sorted keys: equal values, equal bytes (used as cache and seed keys)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
