"""Remembered log ids (for feedback) are bounded by count and charged to the byte budget in blocks."""

from __future__ import annotations

import threading

from mockserver import MockSettings
from mockserver.budget import ByteBudget
from mockserver.log_ids import BLOCK, ENTRY_BYTES, LogBook
from mockserver.tenants import Tenants

BLOCK_BYTES = BLOCK * ENTRY_BYTES


def add(book: LogBook, count: int, start: int = 0) -> list[str]:
    """`count` new logs, named by number, added one answer at a time as the state does."""
    ids = [f"data_{n}" for n in range(start, start + count)]
    for log_id in ids:
        with book._lock:
            blocks = book.remember([log_id], "exp", ["config"])
        book.charge(blocks)
    return ids


def test_one_charge_per_block_of_logs() -> None:
    budget = ByteBudget(10 * BLOCK_BYTES)
    book = LogBook(0, budget, threading.RLock())
    add(book, 2 * BLOCK + 5)
    assert len(book) == 2 * BLOCK + 5
    assert budget.snapshot()["items"] == 2 and budget.used == 2 * BLOCK_BYTES


def test_the_budget_forgets_the_oldest_block_of_logs_and_their_feedback() -> None:
    budget = ByteBudget(2 * BLOCK_BYTES)
    book = LogBook(0, budget, threading.RLock())
    ids = add(book, 2 * BLOCK)
    book.rated[ids[0]] = "rated"
    book.rated[ids[BLOCK]] = "rated"
    assert len(book) == 2 * BLOCK and budget.used == 2 * BLOCK_BYTES
    ids += add(book, BLOCK, start=2 * BLOCK)  # a third block: over the budget
    assert len(book) == 2 * BLOCK and budget.used == 2 * BLOCK_BYTES
    assert ids[0] not in book and ids[BLOCK - 1] not in book and ids[BLOCK] in book  # the first block went
    assert list(book.rated) == [ids[BLOCK]]


def test_the_count_limit_gives_its_blocks_back() -> None:
    budget = ByteBudget(100 * BLOCK_BYTES)
    book = LogBook(BLOCK, budget, threading.RLock())
    add(book, 10 * BLOCK + 7)
    assert len(book) == BLOCK
    assert budget.used <= 2 * BLOCK_BYTES  # what is kept, plus at most the block being forgotten


def test_clear_gives_everything_back_and_a_late_forget_is_void() -> None:
    budget = ByteBudget(100 * BLOCK_BYTES)
    book = LogBook(0, budget, threading.RLock())
    add(book, 3 * BLOCK)
    with book._lock:
        book.clear()
    assert budget.used == 0 and len(book) == 0
    new = add(book, 5)
    book.forget((0, 0))  # a drop the budget decided before the clear
    assert all(log_id in book for log_id in new)


def test_every_worlds_logs_share_the_one_budget() -> None:
    limit = 4 * BLOCK_BYTES
    tenants = Tenants(MockSettings(isolate_keys=True, max_kept_bytes=limit, journal_limit=0))
    worlds = [tenants.for_key(f"key-{n}") for n in range(3)]
    for _ in range(3 * BLOCK):
        for world in worlds:
            world.state.new_logs("exp_demo", ["config_a"])
    assert tenants.budget.used <= limit  # 9 blocks charged in all, the oldest dropped
    assert sum(len(world.state.logs) for world in worlds) <= 9 * BLOCK - 5 * BLOCK
    assert all(len(world.state.logs) >= BLOCK for world in worlds)  # each world keeps its newest
