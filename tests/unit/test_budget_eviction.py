"""Making room in the byte budget costs about one heap operation per item dropped, however many worlds
there are (review of issue 16, finding 7).

Before, each item dropped rescanned every world for the one using the most: one 8 MiB charge that
pushed out 6,118 small items over 257 worlds made 1.6 million account visits, under the budget's lock,
on the event loop. Work is counted here (heap operations), never timed.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from mockserver.world import budget as budget_module
from mockserver.world.budget import Account, ByteBudget

WORLDS = 257
ITEMS_EACH = 24


class Keeper:
    def __init__(self) -> None:
        self.forgotten: list[Any] = []

    def forget(self, key: Any) -> None:
        self.forgotten.append(key)


class CheckedBudget(ByteBudget):
    """A budget that checks, at every item it drops, that it drops it from the world using the most."""

    def _drop_oldest(self, payer: Account) -> Any:
        assert payer.used == max(a.used for a in self._accounts if self._droppable(a)), "not the world using the most"
        return super()._drop_oldest(payer)


@pytest.fixture
def heap_operations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    count = [0]
    for name in ("heappush", "heappop", "heapify"):
        original = getattr(budget_module, name)

        def counted(*args: Any, original: Any = original) -> Any:
            count[0] += 1
            return original(*args)

        monkeypatch.setattr(budget_module, name, counted)
    return count


def _full_of_small_items(budget: ByteBudget, keeper: Keeper) -> list[Account]:
    accounts = [budget.account() for _ in range(WORLDS)]
    for round_number in range(ITEMS_EACH):
        for number, account in enumerate(accounts):
            budget.charge(keeper, (number, round_number), 1200, account)
    return accounts


def test_one_large_charge_costs_a_few_heap_operations_per_item_dropped(heap_operations: list[int]) -> None:
    keeper = Keeper()
    budget = ByteBudget(WORLDS * ITEMS_EACH * 1200)
    accounts = _full_of_small_items(budget, keeper)
    heap_operations[0] = 0
    budget.charge(keeper, "large", 8 << 20, accounts[0])  # 8 MiB: about 7,000 small items must go
    dropped = len(keeper.forgotten)
    assert dropped > 6000 and budget.used <= budget.limit + (8 << 20)
    # The old loop visited every world per item dropped: WORLDS * dropped, 1.8 million here.
    assert heap_operations[0] <= 3 * dropped + 2 * WORLDS + 64, (heap_operations[0], dropped)


def test_charging_costs_one_heap_push_and_the_heap_stays_small(heap_operations: list[int]) -> None:
    keeper = Keeper()
    budget = ByteBudget(1 << 40)  # never full
    account = budget.account()
    heap_operations[0] = 0
    for number in range(10_000):
        budget.release(budget.charge(keeper, number, 100, account))
    assert heap_operations[0] <= 10_000 + 10_000 // 60  # a push each, and a rebuild now and then
    assert len(budget._by_use) <= 2 * len(budget._accounts) + 64


def test_the_world_using_the_most_always_pays_whatever_the_order_of_events() -> None:
    """Random charges, releases, held bytes and closed worlds: at every item dropped, the payer is the
    world using the most bytes among those with an item to drop (`CheckedBudget`)."""
    chooser = random.Random(16)
    keeper = Keeper()
    budget = CheckedBudget(200_000)
    accounts = [budget.account() for _ in range(12)]
    tokens: list[int] = []
    for step in range(6000):
        account = chooser.choice(accounts)
        action = chooser.random()
        if action < 0.6:  # (only a charge makes room: holding more never drops anything itself)
            tokens.append(budget.charge(keeper, step, chooser.randint(1, 9000), account))
            assert budget.used <= budget.limit or not any(budget._droppable(a) for a in budget._accounts)
        elif action < 0.8 and tokens:
            budget.release(tokens.pop(chooser.randrange(len(tokens))))
        elif action < 0.95:
            budget.hold(account, "rules", chooser.randint(-500, 900), force=True)
        else:
            budget.close(account)
            accounts.remove(account)
            accounts.append(budget.account())
    assert budget.dropped > 100  # the check above ran on many drops
