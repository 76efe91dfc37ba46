"""Remembered log ids (for feedback) are bounded by count, and with many worlds by the byte budget."""

from __future__ import annotations

import threading
from typing import Any

from mockserver import MockSettings
from mockserver.world.budget import ByteBudget, Keeper
from mockserver.world.context import MockContext
from mockserver.world.log_ids import ENTRY_BYTES, MAX_BLOCK, MIN_BLOCK, LogBook, block_size
from mockserver.world.tenants import Tenants

BIG = 1 << 30  # a budget whose blocks are the largest


def add(book: LogBook, count: int, start: int = 0) -> list[str]:
    """`count` new logs, named by number, added one answer at a time as the state does."""
    ids = [f"data_{n}" for n in range(start, start + count)]
    for log_id in ids:
        with book._lock:
            blocks = book.remember([log_id], "exp", ["config"])
        book.charge(blocks)
    return ids


def test_block_size_is_a_small_share_of_the_budget() -> None:
    assert block_size(None) == block_size(ByteBudget(BIG)) == MAX_BLOCK
    assert block_size(ByteBudget(64 * ENTRY_BYTES * 100)) == 100
    assert block_size(ByteBudget(1000)) == MIN_BLOCK


def test_one_charge_per_block_of_logs() -> None:
    budget = ByteBudget(BIG)
    book = LogBook(0, budget, threading.RLock())
    add(book, 2 * MAX_BLOCK + 5)
    assert len(book) == 2 * MAX_BLOCK + 5
    assert budget.snapshot()["items"] == 2 and budget.used == 2 * MAX_BLOCK * ENTRY_BYTES


def test_the_budget_forgets_the_oldest_block_of_logs_and_their_feedback() -> None:
    budget = ByteBudget(64 * ENTRY_BYTES * 100)  # blocks of 100 logs
    book = LogBook(0, budget, threading.RLock())
    ids = add(book, 64 * 100)  # the budget is full
    book.rated[ids[0]] = "rated"
    book.rated[ids[100]] = "rated"
    assert len(book) == 6400 and budget.used == budget.limit
    ids += add(book, 100, start=6400)  # one more block: the oldest goes
    assert len(book) == 6400 and budget.used == budget.limit
    assert ids[0] not in book and ids[99] not in book and ids[100] in book
    assert list(book.rated) == [ids[100]]


def test_the_count_limit_gives_its_blocks_back() -> None:
    budget = ByteBudget(BIG)
    book = LogBook(MAX_BLOCK, budget, threading.RLock())
    add(book, 10 * MAX_BLOCK + 7)
    assert len(book) == MAX_BLOCK
    assert budget.used <= 2 * MAX_BLOCK * ENTRY_BYTES  # what is kept, plus at most the block being forgotten


def test_a_count_limit_below_a_block_keeps_the_charge_bounded() -> None:
    budget = ByteBudget(BIG)
    book = LogBook(10, budget, threading.RLock())
    add(book, 5 * MAX_BLOCK)
    assert len(book) == 10
    assert budget.used <= MAX_BLOCK * ENTRY_BYTES


def test_clear_gives_everything_back_and_a_late_forget_is_void() -> None:
    budget = ByteBudget(BIG)
    book = LogBook(0, budget, threading.RLock())
    add(book, 3 * MAX_BLOCK)
    with book._lock:
        book.clear()
    assert budget.used == 0 and len(book) == 0
    new = add(book, 5)
    book.forget(0)  # a drop the budget decided for a block from before the clear
    assert all(log_id in book for log_id in new)


class EvictingBudget(ByteBudget):
    """A budget that drops each new item just after charging it, as another thread's charge could
    before the keeper has noted its token."""

    def charge(self, keeper: Keeper, key: Any, size: int, account: Any = None, kind: str = "journal") -> int:
        token = super().charge(keeper, key, size, account, kind)
        self.release(token)
        keeper.forget(key)
        return token


def test_a_block_dropped_while_it_is_being_charged_is_forgotten_for_good() -> None:
    budget = EvictingBudget(BIG)
    book = LogBook(0, budget, threading.RLock())
    add(book, MAX_BLOCK + 3)
    assert len(book) == 3  # the charged block's logs are gone with it
    assert budget.used == 0 and book._tokens == {}


def test_many_worlds_share_the_one_budget_and_one_world_only_counts() -> None:
    limit = 64 * ENTRY_BYTES * 100  # blocks of 100 logs
    settings = MockSettings(isolate_keys=True, max_kept_bytes=limit, journal_limit=0)
    budget = ByteBudget(limit, slots=4)
    worlds = [MockContext(settings, budget=budget) for _ in range(3)]  # (a budget this small fits fewer tenants)
    for _ in range(3000):
        for world in worlds:
            world.state.new_logs("exp_demo", ["config_a"])
    assert budget.used <= limit
    held = sum(world.account.held for world in worlds)  # each world's fixed overhead
    kept = [len(world.state.logs) for world in worlds]
    assert sum(kept) == (limit - held) // (100 * ENTRY_BYTES) * 100  # what the budget holds, no more
    assert max(kept) - min(kept) <= 100  # shared fairly: the world holding the most gives a block first

    alone = Tenants(MockSettings(max_kept_bytes=limit, journal_limit=0, log_limit=5000)).shared
    for _ in range(9000):
        alone.state.new_logs("exp_demo", ["config_a"])
    assert len(alone.state.logs) == 5000 and alone.account.kinds()["logs"] == 0
