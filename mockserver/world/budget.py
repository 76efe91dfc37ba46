"""One byte budget for everything the mock keeps after a request, shared fairly between its worlds.

Counting entries does not bound memory: a hundred 4 MB requests kept as many bytes as 100,000 small
ones. So every world (`context.MockContext`) has an `Account`, and everything the world keeps is
charged to it, by kind (`KINDS`):

- what it *holds* until it is reset or dropped: its fixed overhead (`world`), its own spec (`spec`),
  scripts and faults (`rules`), and the projects, experiments and configs created at runtime or
  provisioned on first use (`state`). Held bytes are counters, never dropped by the budget; a world
  may hold at most `held_cap` (half its fair share), and an addition past that is refused
  (`OverShare`, a 413) instead of being kept;
- what it *keeps* as a cache of the past: its journal entries (`journal`), memo entries (`memo`) and
  answer log ids (`logs`). Past the limit, the oldest of these go first, from the world that uses the
  most bytes of all: the world over its fair share pays, and a world within `limit / worlds` never
  loses anything because of another's traffic (someone else always holds more). The item just
  charged is kept even when it alone is too large, until the next charge.

Charging is cheap on purpose (it is on every request's path): keepers pass lengths of bytes and
strings they already hold, plus a fixed overhead, never a walk over the objects.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from mockserver.errors import DomainError

KEPT_KINDS = ("journal", "memo", "logs")
HELD_KINDS = ("world", "spec", "rules", "state")
KINDS = KEPT_KINDS + HELD_KINDS


class Keeper(Protocol):
    def forget(self, key: Any) -> None:
        """Drop the item charged under `key` (it may already be gone)."""


class OverShare(DomainError):
    """A world would hold more than its share of the budget: nothing is kept (413). `reason` says how much;
    the client is told that the request's item was not kept, and why."""

    status = 413

    def __init__(self, reason: str) -> None:
        super().__init__(f"Not kept: {reason}.")
        self.reason = reason


class Account:
    """What one world keeps and holds: bytes by kind, and its droppable items, oldest first."""

    __slots__ = ("by_kind", "held", "items", "used")

    def __init__(self) -> None:
        self.used = 0  # held and kept bytes together
        self.held = 0
        self.by_kind: dict[str, int] = dict.fromkeys(HELD_KINDS, 0)  # held bytes by kind (kept: from `items`)
        # Droppable items, oldest first: token -> (size, kind). (A plain dict keeps insertion order.)
        self.items: dict[int, tuple[int, str]] = {}

    def kinds(self) -> dict[str, int]:
        """Bytes by kind: held ones counted as they change, kept ones summed from the items (for people)."""
        kinds = dict.fromkeys(KEPT_KINDS, 0)
        for size, kind in list(self.items.values()):
            kinds[kind] += size
        return {**kinds, **self.by_kind}

    def snapshot(self) -> dict[str, Any]:
        return {"used": self.used, "items": len(self.items), "by_kind": self.kinds()}


class ByteBudget:
    """At most `limit` bytes charged at once over all accounts (see the module doc)."""

    def __init__(self, limit: int, slots: int = 1) -> None:
        self.limit = limit
        self.used = 0
        self.dropped = 0  # items forgotten to make room, since start
        self.held_cap = max(1, limit // max(1, slots) // 2)
        self._items: dict[int, tuple[int, Keeper, Any, Account]] = {}
        self._accounts: list[Account] = []
        self.common = self.account()  # for keepers charged without an account of their own
        self._next_token = 0
        self._newest = -1
        self._lock = threading.Lock()

    # --- accounts ---------------------------------------------------------------------------------

    def account(self) -> Account:
        """A new world's account."""
        account = Account()
        self._accounts.append(account)
        return account

    def close(self, account: Account) -> None:
        """The world is gone: what it held is given back (its keepers released their items already)."""
        with self._lock:
            for kind in HELD_KINDS:
                size, account.by_kind[kind] = account.by_kind[kind], 0
                account.used -= size
                self.used -= size
            account.held = 0
            if account in self._accounts and account is not self.common:
                self._accounts.remove(account)

    # --- held bytes -------------------------------------------------------------------------------

    def check(self, account: Account, size: int) -> None:
        """`OverShare` if the world would hold more than `held_cap` with `size` more bytes."""
        if size > 0 and account.held + size > self.held_cap:
            raise OverShare(f"this would make the tenant hold {account.held + size} bytes of specs, scripts, "
                            f"faults, experiments and configs, over its share of {self.held_cap} bytes "
                            "(--max-kept-bytes / (--max-tenants + 1) / 2); reset it, remove some, or start the "
                            "server with a larger --max-kept-bytes")

    def hold(self, account: Account, kind: str, size: int, *, force: bool = False) -> None:
        """Count `size` more bytes the world holds (negative: gives them back). Past `held_cap`, raises
        `OverShare` and counts nothing, unless `force` (what the server's own spec makes a world hold).
        Never drops anything itself (the caller may hold a world's lock): the next `charge` makes room."""
        with self._lock:
            if not force:
                self.check(account, size)
            account.held += size
            account.used += size
            account.by_kind[kind] += size
            self.used += size

    # --- kept items -------------------------------------------------------------------------------

    def charge(self, keeper: Keeper, key: Any, size: int, account: Account | None = None,
               kind: str = "journal") -> int:
        """Count `size` bytes kept by `keeper` under `key`; the token to `release` them with."""
        account = account or self.common
        with self._lock:
            token = self._newest = self._next_token
            self._next_token = token + 1
            self._items[token] = (size, keeper, key, account)
            account.items[token] = (size, kind)
            account.used += size
            self.used += size
            if self.used <= self.limit:
                return token
            evicted = self._make_room()
        self._forget(evicted)
        return token

    def release(self, token: int | None) -> None:
        """The keeper dropped the item itself (a reset, its own count limit)."""
        if token is None:
            return
        with self._lock:
            self._pop(token)

    def release_many(self, tokens: list[int]) -> None:
        with self._lock:
            for token in tokens:
                self._pop(token)

    def _pop(self, token: int) -> tuple[Keeper, Any] | None:
        item = self._items.pop(token, None)
        if item is None:
            return None
        size, keeper, key, account = item
        del account.items[token]
        account.used -= size
        self.used -= size
        return keeper, key

    def _make_room(self) -> list[tuple[Keeper, Any]]:
        """Drop the oldest items of the world using the most bytes until the total fits (never the item
        charged last). Called with the lock held; the keepers are told after it is released."""
        evicted = []
        while self.used > self.limit:
            payer = None
            for account in self._accounts:
                droppable = len(account.items) - (self._newest in account.items)
                if droppable > 0 and (payer is None or account.used > payer.used):
                    payer = account
            if payer is None:
                break
            token = next(iter(payer.items))
            if token == self._newest:
                token = next(t for t in payer.items if t != self._newest)
            dropped = self._pop(token)
            if dropped is not None:
                self.dropped += 1
                evicted.append(dropped)
        return evicted

    @staticmethod
    def _forget(evicted: list[tuple[Keeper, Any]]) -> None:
        for keeper, key in evicted:  # outside the lock: keepers take their own locks
            keeper.forget(key)

    # --- reading ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._items)

    def snapshot(self) -> dict[str, Any]:
        """For people and tests: the limit, what is charged now (in all and by kind), how many droppable
        items, how many were dropped, and what one world may hold."""
        with self._lock:
            by_kind = dict.fromkeys(KINDS, 0)
            for account in self._accounts:
                for kind, size in account.kinds().items():
                    by_kind[kind] += size
            return {"limit": self.limit, "used": self.used, "items": len(self._items), "dropped": self.dropped,
                    "held_cap": self.held_cap, "worlds": len(self._accounts) - 1, "by_kind": by_kind}
