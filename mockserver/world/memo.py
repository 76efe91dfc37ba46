"""Memo tables for pure, deterministic results (parsed bodies, rendered prompts, generations, wire bytes).

Clients repeat requests, so what depends only on the request bytes, a config and the seed is computed
once. Every value here is a pure function of its key, so a reset never needs to clear them: a hit and
a miss give the same bytes. Each world has its own tables (`context.MockContext`): shared ones would
let a tenant learn whether another had sent a given body (a hit is faster, and adds no entry).

Each entry is charged to the world's account in the server's byte budget (`budget`), with the size its
caller estimates; past the budget the oldest entries of the world using the most go first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from mockserver.world.budget import Account, ByteBudget

MEMO_LIMIT = 4096  # entries per table; a full table is cleared, not grown
ENTRY_OVERHEAD = 512  # bytes charged per entry beyond its own estimate (dict slot, key tuple, value object)


class Memo:
    """Named tables of `key -> value`, each bounded by `limit` entries, all within `budget` bytes."""

    def __init__(self, limit: int = MEMO_LIMIT, budget: ByteBudget | None = None,
                 account: Account | None = None) -> None:
        self.limit = limit
        self.budget = budget
        self.account = account
        self._tables: dict[str, dict[Any, Any]] = {}
        self._tokens: dict[str, dict[Any, int]] = {}  # table -> key -> budget token
        self._lock = threading.Lock()

    def known(self, table: str, key: Any) -> Any:
        """What `get` would return for `key` without computing it; None when there is nothing yet. (A caller
        that would make a closure for `get` looks here first: a hit, the usual case, then makes none.)"""
        memo = self._tables.get(table)
        return memo.get(key) if memo is not None else None

    def get(self, table: str, key: Any, compute: Callable[[], Any],
            size: Callable[[Any], int] | None = None) -> Any:
        """`compute()` once per key (until the table fills up and is cleared, or the budget drops it).

        `size(value)` estimates the bytes the entry keeps beyond what the budget already counts for
        it (a fixed overhead); cheap: lengths of what the value holds, never a walk over it."""
        memo = self._tables.get(table)
        if memo is None:
            with self._lock:
                memo = self._tables.setdefault(table, {})
                self._tokens.setdefault(table, {})
        try:
            return memo[key]
        except KeyError:
            pass
        value = compute()
        if len(memo) >= self.limit:
            self._clear_table(table)
        memo[key] = value
        if self.budget is not None:
            charged = ENTRY_OVERHEAD + (size(value) if size is not None else 0)
            self._tokens[table][key] = self.budget.charge(self, (table, key), charged, self.account, "memo")
        return value

    def forget(self, key: tuple[str, Any]) -> None:
        """Drop one entry to make room in the byte budget (`budget.Keeper`)."""
        table, memo_key = key
        with self._lock:
            self._tables.get(table, {}).pop(memo_key, None)
            self._tokens.get(table, {}).pop(memo_key, None)

    def _clear_table(self, table: str) -> None:
        with self._lock:
            self._tables[table].clear()
            tokens = list(self._tokens[table].values())
            self._tokens[table].clear()
        if self.budget is not None:
            self.budget.release_many(tokens)

    def clear(self) -> None:
        with self._lock:
            tokens = [token for table in self._tokens.values() for token in table.values()]
            self._tables.clear()
            self._tokens.clear()
        if self.budget is not None:
            self.budget.release_many(tokens)

    def sizes(self) -> dict[str, int]:
        """Entries per table (for diagnostics and tests)."""
        return {name: len(table) for name, table in self._tables.items()}
