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
strings they already hold, plus a fixed overhead, never a walk over the objects. Finding the world
using the most is cheap too: a heap of worlds by bytes used, told when a world grows (one push) and
checked lazily when room is made; the payer goes on paying while it still uses the most, so making
room costs at most a few heap operations per item dropped, however many worlds there are.
"""

from __future__ import annotations

import threading
from collections import deque
from heapq import heapify, heappop, heappush
from typing import Any, Protocol

from mockserver.errors import DomainError

KEPT_KINDS = ("journal", "memo", "logs")
HELD_KINDS = ("world", "spec", "rules", "state", "cassette")
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

    __slots__ = ("by_kind", "closed", "held", "items", "order", "ranked", "used")

    def __init__(self) -> None:
        self.closed = False
        self.ranked = -1  # the number of its one valid entry in the budget's heap (-1: none)
        self.used = 0  # held and kept bytes together
        self.held = 0
        self.by_kind: dict[str, int] = dict.fromkeys(HELD_KINDS, 0)  # held bytes by kind (kept: from `items`)
        # Droppable items, oldest first: token -> (size, kind). (A plain dict keeps insertion order.)
        self.items: dict[int, tuple[int, str]] = {}
        # Their tokens, oldest first, with some already released (skipped, and cleared now and then):
        # the oldest is found at once, where a dict would walk past every item dropped before it.
        self.order: deque[int] = deque()

    def oldest(self) -> int:
        """The token of its oldest item (it has one)."""
        order, items = self.order, self.items
        while order[0] not in items:
            order.popleft()
        return order[0]

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
        # How the cap is reckoned, as the 413 says it: worlds share the budget only with `--isolate-keys`.
        self._share_formula = "--max-kept-bytes / (--max-tenants + 1) / 2" if slots > 1 else "--max-kept-bytes / 2"
        self._items: dict[int, tuple[int, Keeper, Any, Account]] = {}
        self._accounts: list[Account] = []
        self.common = self.account()  # for keepers charged without an account of their own
        self._next_token = 0
        self._newest = -1
        self._lock = threading.Lock()
        # Worlds by bytes used, largest first: (-used when pushed, push number, account). An account is
        # pushed whenever it grows; an entry that no longer says what it uses is fixed when it reaches
        # the top (`_payer`), so the top is always right, and the heap is rebuilt when stale entries pile up.
        self._by_use: list[tuple[int, int, Account]] = []
        self._pushes = 0

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
                account.closed = True

    # --- held bytes -------------------------------------------------------------------------------

    def check(self, account: Account, size: int) -> None:
        """`OverShare` if the world would hold more than `held_cap` with `size` more bytes."""
        if size > 0 and account.held + size > self.held_cap:
            raise OverShare(f"this would make the tenant hold {account.held + size} bytes of specs, scripts, "
                            f"faults, experiments, configs and cassettes, over its share of {self.held_cap} bytes "
                            f"({self._share_formula}); reset it, remove some, or start the "
                            "server with a larger --max-kept-bytes")

    def hold(self, account: Account, kind: str, size: int, *, force: bool = False) -> None:
        """Count `size` more bytes the world holds (negative: gives them back). Past `held_cap`, raises
        `OverShare` and counts nothing, unless `force` (what the server's own spec makes a world hold).
        Never drops anything itself (the caller may hold a world's lock): the next `charge` makes room. A
        closed account (its world was dropped while a request for it waited) holds nothing more."""
        with self._lock:
            if account.closed:
                return
            if not force:
                self.check(account, size)
            account.held += size
            account.used += size
            account.by_kind[kind] += size
            self.used += size
            if size > 0 and account.items:
                self._grew(account)

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
            account.order.append(token)
            account.used += size
            self.used += size
            self._grew(account)
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
        if len(account.order) > 2 * len(account.items) + 32:  # released ones pile up: start again (amortised)
            account.order = deque(account.items)
        account.used -= size
        self.used -= size
        return keeper, key

    def _grew(self, account: Account) -> None:
        """Rank the account anew (its older entries in the heap are left there, stale, and skipped)."""
        self._pushes += 1
        account.ranked = self._pushes
        heappush(self._by_use, (-account.used, self._pushes, account))
        if len(self._by_use) > 2 * len(self._accounts) + 64:  # mostly stale entries: start again (amortised)
            self._by_use = [(-known.used, known.ranked, known) for known in self._accounts if known.ranked >= 0]
            heapify(self._by_use)

    def _droppable(self, account: Account) -> bool:
        return len(account.items) > (self._newest in account.items)

    def _payer(self, waiting: list[Account]) -> Account | None:
        """The world using the most bytes that has an item to drop (an account that has none but the
        newest is put in `waiting`, to be ranked again afterwards)."""
        heap = self._by_use
        while heap:
            used, number, account = heap[0]
            if number != account.ranked:
                heappop(heap)  # an older entry of an account ranked since
            elif account.closed or not account.items:
                heappop(heap)
                account.ranked = -1  # ranked again when it next grows
            elif -used != account.used:  # it shrank since: ranked by what it uses now
                heappop(heap)
                self._grew(account)
            elif not self._droppable(account):
                heappop(heap)
                account.ranked = -1
                waiting.append(account)
            else:
                return account
        return None

    def _make_room(self) -> list[tuple[Keeper, Any]]:
        """Drop the oldest items of the world using the most bytes until the total fits (never the item
        charged last). The payer goes on paying while it still uses the most (compared with the runner-up
        once), so this costs about one heap operation per change of payer, not per item. Called with the
        lock held; the keepers are told after it is released."""
        evicted: list[tuple[Keeper, Any]] = []
        waiting: list[Account] = []
        while self.used > self.limit:
            payer = self._payer(waiting)
            if payer is None:
                break
            heappop(self._by_use)  # out of the heap while it pays
            payer.ranked = -1
            rival = self._payer(waiting)
            floor = rival.used if rival is not None else float("-inf")  # (a world's use may be below 0 here)
            while self.used > self.limit and payer.used >= floor and self._droppable(payer):
                evicted.append(self._drop_oldest(payer))
            if payer.items:
                self._grew(payer)  # ranked again by what it uses now
        for account in waiting:
            self._grew(account)
        return evicted

    def _drop_oldest(self, payer: Account) -> tuple[Keeper, Any]:
        """Drop the payer's oldest item (never the newest: a payer has another, and the newest is last)."""
        self.dropped += 1
        return self._pop(payer.oldest())  # type: ignore[return-value]

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
