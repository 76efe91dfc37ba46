"""Tenants: which world a request belongs to, and how many worlds a server keeps.

Without `--isolate-keys` every request shares one world. With it, each `X-API-KEY` value gets its own
(`MockContext`), started from the same spec, so parallel CI jobs and xdist workers sharing one server
never see each other's scripts, faults, counters, journal or memo tables, and a tenant's answers depend
only on the seed and its own requests. Requests with no usable key (refused or missing) belong to the
shared world.

At most `max_tenants` worlds are kept. A new key when they are all taken drops the least recently used
world only if it has been idle for `tenant_idle_timeout` seconds (minutes, by default); otherwise the
new key is refused with 503 and `Retry-After` (`TenantsFull`), so no tenant in use loses its world to
another's fresh keys. Every world is charged a fixed overhead in the byte budget; `max_tenants` is
lowered at start when that overhead would take more than a quarter of what each world may hold.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Any

from mockserver.determinism import SeededFaker
from mockserver.errors import DomainError
from mockserver.settings import MockSettings
from mockserver.sizes import estimate
from mockserver.world.budget import ByteBudget
from mockserver.world.context import WORLD_BYTES, MockContext
from mockserver.world.heavy import Turns


class TenantsFull(DomainError):
    """Every tenant slot is taken by a world in use: a new key must wait (`retry_after` seconds)."""

    status = 503

    def __init__(self, max_tenants: int, retry_after: int) -> None:
        super().__init__(f"This server already keeps {max_tenants} tenants (--max-tenants), all used within "
                         "--tenant-idle-timeout: a new X-API-KEY gets a world when one of them has been idle "
                         f"that long; retry in {retry_after} s.", {"Retry-After": str(retry_after)})
        self.max_tenants = max_tenants
        self.retry_after = retry_after


def fitting_tenants(settings: MockSettings, world_bytes: int) -> int:
    """`max_tenants`, lowered so that every world's overhead (and the shared one's) takes at most a quarter
    of what a world may hold (half its share of `--max-kept-bytes`): the rest is room for its spec,
    scripts, faults and runtime state."""
    if not settings.isolate_keys:
        return settings.max_tenants
    fits = settings.max_kept_bytes // (8 * max(1, world_bytes)) - 1
    return max(1, min(settings.max_tenants, fits))


class Tenants:
    """The worlds of one server: `shared`, and one per key when keys are isolated."""

    def __init__(self, settings: MockSettings) -> None:
        self.settings = settings
        # What each world holds for being there: its objects and the state the server's spec loads into it.
        self.world_bytes = WORLD_BYTES + estimate(settings.spec)
        self.max_tenants = fitting_tenants(settings, self.world_bytes)
        slots = self.max_tenants + 1 if settings.isolate_keys else 1
        # One byte budget for everything the server keeps after a request (see `budget`).
        self.budget = ByteBudget(settings.max_kept_bytes, slots)
        self.faker = SeededFaker()
        self.turns = Turns()
        self.shared = self._new_world()
        self._by_key: OrderedDict[str, MockContext] = OrderedDict()
        self._lock = threading.Lock()
        self.traffic: Any = None  # the server's cassettes and upstream (`proxy.traffic`), set by the app
        self.evicted = 0  # idle worlds dropped to make room for a new key
        self.refused = 0  # new keys refused because every slot was in use

    def _new_world(self) -> MockContext:
        return MockContext(self.settings, faker=self.faker, budget=self.budget, world_bytes=self.world_bytes,
                           turns=self.turns)

    def for_key(self, key: str | None, create: bool = True) -> MockContext:
        """The world of this key (created from the spec on first use); `TenantsFull` when no slot is free.
        With `create` false, the world only if it exists already, else the shared one: nothing is created,
        and no world's place in the least-recently-used order changes (`/healthz`, refused requests).
        `key`: one the door accepted (`auth.key_problem`), or None (the shared world): a refused key never
        gets a world (without `create`, only keys that made a world can find one)."""
        settings = self.settings  # (this runs on every request)
        if not settings.isolate_keys or not key:
            return self.shared  # (never dropped: its last use is not noted)
        if not create:
            with self._lock:
                return self._by_key.get(key) or self.shared
        now = time.monotonic()
        with self._lock:
            context = self._by_key.get(key)
            if context is not None:
                self._by_key.move_to_end(key)
                context.last_used = now
                return context
            dropped = None
            if len(self._by_key) >= self.max_tenants:
                oldest_key, oldest = next(iter(self._by_key.items()))
                idle = now - oldest.last_used
                if idle < self.settings.tenant_idle_timeout:
                    self.refused += 1
                    raise TenantsFull(self.max_tenants, max(1, math.ceil(self.settings.tenant_idle_timeout - idle)))
                dropped = self._by_key.pop(oldest_key)
                self.evicted += 1
            context = self._by_key[key] = self._new_world()
        if dropped is not None:
            dropped.release()
        return context

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
