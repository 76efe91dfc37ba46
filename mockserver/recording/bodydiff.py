"""Where two JSON documents differ, field by field: what a replay miss shows about its nearest recordings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class _Absent:
    def __repr__(self) -> str:
        return "absent"


ABSENT: Any = _Absent()  # a field one side has and the other has not


def show(value: Any, limit: int = 40) -> str:
    """A value as short JSON for a message (`absent` for a missing field)."""
    if value is ABSENT:
        return "absent"
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass(frozen=True)
class Difference:
    """One place where a recorded request and the received one differ (`where` as `body.messages[0].role`)."""

    where: str
    recorded: Any
    received: Any

    def describe(self) -> str:
        return f"{self.where} recorded {show(self.recorded)}, received {show(self.received)}"


def _child(where: str, key: str | int) -> str:
    return f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}"


def differences(recorded: Any, received: Any, where: str = "body", limit: int = 1000) -> list[Difference]:
    """Every leaf-level difference (at most `limit`), in a stable order: keys sorted, list items by index.
    Walks with a stack, so documents nested deeper than Python's recursion limit are fine."""
    found: list[Difference] = []
    pending: list[tuple[str, Any, Any]] = [(where, recorded, received)]
    while pending and len(found) < limit:
        at, left, right = pending.pop()
        if isinstance(left, dict) and isinstance(right, dict):
            keys = sorted(set(left) | set(right))
            pending.extend((_child(at, k), left.get(k, ABSENT), right.get(k, ABSENT)) for k in reversed(keys))
        elif isinstance(left, list) and isinstance(right, list):
            pairs = [(left[i] if i < len(left) else ABSENT, right[i] if i < len(right) else ABSENT)
                     for i in range(max(len(left), len(right)))]
            pending.extend((_child(at, i), a, b) for i, (a, b) in reversed(list(enumerate(pairs))))
        elif type(left) is not type(right) or left != right:
            found.append(Difference(at, left, right))
    return found
