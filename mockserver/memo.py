"""Memo tables for pure, deterministic results (parsed bodies, rendered prompts, generations, wire bytes).

Clients repeat requests, so what depends only on the request bytes, a config and the seed is computed
once. Every value here is a pure function of its key, so the tables are shared by all tenants and a
reset never needs to clear them: a hit and a miss give the same bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

MEMO_LIMIT = 4096  # entries per table; a full table is cleared, not grown


class Memo:
    """Named tables of `key -> value`, each bounded by `limit` entries."""

    def __init__(self, limit: int = MEMO_LIMIT) -> None:
        self.limit = limit
        self._tables: dict[str, dict[Any, Any]] = {}
        self._lock = threading.Lock()

    def get(self, table: str, key: Any, compute: Callable[[], Any]) -> Any:
        """`compute()` once per key (until the table fills up and is cleared)."""
        memo = self._tables.get(table)
        if memo is None:
            with self._lock:
                memo = self._tables.setdefault(table, {})
        try:
            return memo[key]
        except KeyError:
            pass
        value = compute()
        if len(memo) >= self.limit:
            memo.clear()
        memo[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._tables.clear()

    def sizes(self) -> dict[str, int]:
        """Entries per table (for diagnostics and tests)."""
        return {name: len(table) for name, table in self._tables.items()}
