"""Tenants: which world a request belongs to.

Without `--isolate-keys` every request shares one world. With it, each `X-API-KEY` value gets its own
(`MockContext`), started from the same spec, so parallel CI jobs and xdist workers sharing one server
never see each other's scripts, faults, counters or journal, and a tenant's answers depend only on the
seed and its own requests. Requests with no usable key (refused or missing) belong to the shared world.
At most `max_tenants` worlds are kept; the least recently used is dropped and starts afresh from the
spec if its key comes back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from starlette.types import Scope

from mockserver.auth import key_matches
from mockserver.budget import ByteBudget
from mockserver.context import MockContext
from mockserver.determinism import SeededFaker
from mockserver.memo import Memo
from mockserver.settings import MockSettings

API_KEY_HEADER = b"x-api-key"


def api_key_of(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == API_KEY_HEADER:
            return value.decode("latin-1") or None
    return None


class Tenants:
    """The worlds of one server: `shared`, and one per key when keys are isolated."""

    def __init__(self, settings: MockSettings) -> None:
        self.settings = settings
        # One byte budget for everything the server keeps after a request: every world's journal and
        # the shared memo tables (see `budget`).
        self.budget = ByteBudget(settings.max_kept_bytes)
        self.memo = Memo(budget=self.budget)
        self.faker = SeededFaker()
        self.shared = MockContext(settings, memo=self.memo, faker=self.faker, budget=self.budget)
        self._by_key: OrderedDict[str, MockContext] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0

    def for_key(self, key: str | None) -> MockContext:
        """The world of this key (created from the spec on first use)."""
        settings = self.settings
        if not settings.isolate_keys or not key or (settings.api_keys and not key_matches(key, settings.api_keys)):
            return self.shared
        with self._lock:
            context = self._by_key.get(key)
            if context is not None:
                self._by_key.move_to_end(key)
                return context
            context = MockContext(settings, memo=self.memo, faker=self.faker, budget=self.budget)
            self._by_key[key] = context
            while len(self._by_key) > max(1, settings.max_tenants):
                self._by_key.popitem(last=False)[1].release()
                self.evicted += 1
            return context

    def existing(self, key: str | None) -> MockContext:
        """The world of this key if it exists already, else the shared one; nothing is created, and
        no world's place in the least-recently-used order changes (for requests the server refused)."""
        settings = self.settings
        if not settings.isolate_keys or not key or (settings.api_keys and not key_matches(key, settings.api_keys)):
            return self.shared
        with self._lock:
            return self._by_key.get(key) or self.shared

    def for_scope(self, scope: Scope) -> MockContext:
        return self.for_key(api_key_of(scope))

    def count(self) -> int:
        with self._lock:
            return len(self._by_key)

    def reset_all(self) -> None:
        """Every world back to the spec; isolated worlds are dropped (they start afresh on next use)."""
        with self._lock:
            dropped = list(self._by_key.values())
            self._by_key.clear()
        for context in dropped:
            context.release()
        self.shared.reset()
