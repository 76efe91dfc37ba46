"""Client-controlled text made safe to log: control characters escaped, so one value is one log line."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(value: object, limit: int = 200) -> str:
    """`value` as text with control characters written as escapes (`\\n`, `\\x00`), cut to `limit` characters."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
