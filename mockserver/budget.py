"""One byte budget for everything the mock keeps after a request: journal entries, memo entries and,
with many worlds (`--isolate-keys`), the answer log ids kept for feedback (`log_ids`).

Counting entries does not bound memory: a hundred 4 MB requests kept as many bytes as 100,000 small
ones. Each keeper (the journal, the memo tables, a world's log ids) charges the budget with the bytes an item holds
when it keeps it; when the total passes the limit, the oldest items are dropped first, whoever
keeps them, until it fits again. The newest item is always kept, so a single request larger than
the whole budget is still in the journal until the next one arrives.

Charging is cheap on purpose (it is on every request's path): keepers pass lengths of bytes and
strings they already hold, plus a fixed overhead, never a walk over the objects.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Protocol


class Keeper(Protocol):
    def forget(self, key: Any) -> None:
        """Drop the item charged under `key` (it may already be gone)."""


class ByteBudget:
    """At most `limit` bytes charged at once; past it, the oldest items are forgotten by their keepers."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.dropped = 0  # items forgotten to make room, since start
        self._items: OrderedDict[int, tuple[int, Keeper, Any]] = OrderedDict()
        self._next_token = 0
        self._lock = threading.Lock()

    def charge(self, keeper: Keeper, key: Any, size: int) -> int:
        """Count `size` bytes kept by `keeper` under `key`; the token to `release` them with."""
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._items[token] = (size, keeper, key)
            self.used += size
            evicted: list[tuple[Keeper, Any]] | tuple[()] = self._make_room() if self.used > self.limit else ()
        for old_keeper, old_key in evicted:  # outside the lock: keepers take their own locks
            old_keeper.forget(old_key)
        return token

    def release(self, token: int | None) -> None:
        """The keeper dropped the item itself (a reset, its own count limit)."""
        if token is None:
            return
        with self._lock:
            item = self._items.pop(token, None)
            if item is not None:
                self.used -= item[0]

    def release_many(self, tokens: list[int]) -> None:
        with self._lock:
            for token in tokens:
                item = self._items.pop(token, None)
                if item is not None:
                    self.used -= item[0]

    def _make_room(self) -> list[tuple[Keeper, Any]]:
        evicted = []
        while self.used > self.limit and len(self._items) > 1:
            size, keeper, key = self._items.popitem(last=False)[1]
            self.used -= size
            self.dropped += 1
            evicted.append((keeper, key))
        return evicted

    def __len__(self) -> int:
        return len(self._items)

    def snapshot(self) -> dict[str, int]:
        """For people and tests: the limit, what is charged now, how many items, how many dropped."""
        with self._lock:
            return {"limit": self.limit, "used": self.used, "items": len(self._items), "dropped": self.dropped}
