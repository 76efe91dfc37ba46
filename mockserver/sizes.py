"""About how many bytes of memory a value holds, for what a world holds in the byte budget (`budget`).

Specs, scripts, faults and configs are pydantic models built from a client's JSON; what they cost in
memory is not their JSON length (a short field costs a whole object). `estimate` walks the value and
counts each string by its length and each object, container and slot by CPython 3.11's sizes, rounded
up (checked against tracemalloc in tests/server/test_memory_budget.py). It walks every value, so it is only
used where the value was just validated (admin calls and API registrations, bounded by the body
limits), never on a chat call's path.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

STR_HEADER = 80  # a str object's header (49 bytes for ASCII, up to 80 otherwise), plus its allocator slack
OBJECT = 72  # a small object: int, float, bool, an object's header
SLOT = 16  # a pointer to a member, plus slack
DICT = 240  # an empty dict's table
MODEL = 400  # a pydantic model instance: the object, its `__dict__` and its fields-set


def estimate(value: Any) -> int:
    """Bytes `value` holds (strings, numbers, lists, dicts, tuples, sets and pydantic models; others as
    one small object), counted generously. Shared objects are counted once."""
    seen: set[int] = set()
    stack = [value]
    total = 0
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += STR_HEADER + (len(item) if item.isascii() else 4 * len(item))
            continue
        if isinstance(item, bytes | bytearray):
            total += STR_HEADER + len(item)
            continue
        if item is None or isinstance(item, bool | int | float):
            total += OBJECT if item is not None else 0
            continue
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, BaseModel):
            total += MODEL + SLOT * len(item.__dict__)
            stack.extend(item.__dict__.values())
        elif isinstance(item, dict):
            total += DICT + 3 * SLOT * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += OBJECT + 2 * SLOT * len(item)
            stack.extend(item)
        else:
            total += OBJECT
    return total
