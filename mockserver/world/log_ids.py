"""The log ids of answers, remembered so `POST /v4/feedback` can name them: bounded by count and by bytes.

Every chat answer makes one log id per sample, and feedback may name any of them later, so a world
remembers each (with its experiment and config) until `--log-limit` newer ones exist: about 17 MB at
the default. That bounds one world; a server with many (`--isolate-keys`) could hold that much per
world, so there each world's logs are also charged to the server's byte budget (`budget`), in blocks
(one charge per block keeps the cost off the request path; a block is at most 1/64 of the budget).
When the budget drops a block to make room, its logs are forgotten, oldest first, as the count limit
forgets them. What feedback on a forgotten log added to the statistics stays.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from mockserver.world.budget import Account, ByteBudget

MAX_BLOCK = 1024  # logs charged to the byte budget together, at most
MIN_BLOCK = 16
# One remembered log: its 26-character id string, its dict slot and the (experiment, config) tuple
# (CPython 3.11, measured with tracemalloc over 100,000 logs: 166 bytes each; counted generously).
ENTRY_BYTES = 200
_PENDING = -1  # a block being charged: its token is not known yet


def block_size(budget: ByteBudget | None) -> int:
    """Logs per charge: `MAX_BLOCK`, or fewer so that a block is at most 1/64 of a small budget."""
    if budget is None:
        return MAX_BLOCK
    return max(MIN_BLOCK, min(MAX_BLOCK, budget.limit // (64 * ENTRY_BYTES)))


class LogBook:
    """One world's remembered logs (log id → (experiment id, config id)) and the rated ones.

    Callers hold `lock` (the world's state lock) around `remember`, lookups and `clear`; `charge`
    must run without it, because the budget may call `forget` on any keeper while it charges."""

    def __init__(self, limit: int, budget: ByteBudget | None, lock: threading.RLock,
                 account: Account | None = None) -> None:
        self.limit = limit
        self.budget = budget
        self.account = account
        self.block = block_size(budget)
        self.entries: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self.rated: dict[str, Any] = {}  # log id -> its feedback record (`state.Log`), for logs that got feedback
        self.on_forget: Callable[[str], None] | None = None  # told of each rated log forgotten (not on `clear`)
        self._lock = lock
        # Charged blocks, oldest first: block number -> budget token (`_PENDING` while being charged).
        # Block numbers are never reused, so a drop the budget decided for a block already gone is void.
        self._tokens: OrderedDict[int, int] = OrderedDict()
        self._next_block = 0
        self._uncharged = 0  # logs added since the last block was counted
        self._trimmed = 0  # logs of the oldest charged block already forgotten by the count limit

    def __contains__(self, log_id: str) -> bool:
        return log_id in self.entries

    def __getitem__(self, log_id: str) -> tuple[str, str]:
        return self.entries[log_id]

    def __len__(self) -> int:
        return len(self.entries)

    def remember(self, log_ids: list[str], experiment_id: str, config_ids: list[str]) -> int:
        """Keep new logs, forgetting the oldest past `limit`; the number of blocks to `charge` now."""
        entries = self.entries
        for log_id, config_id in zip(log_ids, config_ids):  # noqa: B905 (one id per config, by construction)
            entries[log_id] = (experiment_id, config_id)
        if self.limit and len(entries) > self.limit:
            while len(entries) > self.limit:
                self._forget_rated(entries.popitem(last=False)[0])
                self._trimmed += 1
            if self._trimmed >= self.block:
                self._settle()
        if self.budget is None:
            return 0
        self._uncharged += len(log_ids)
        if self._uncharged < self.block:
            return 0
        blocks, self._uncharged = divmod(self._uncharged, self.block)
        return blocks

    def charge(self, blocks: int) -> None:
        """Charge `blocks` full blocks to the budget (without the lock held; see the class doc)."""
        budget = self.budget
        if budget is None:
            return
        for _ in range(blocks):
            with self._lock:
                number = self._next_block
                self._next_block += 1
                self._tokens[number] = _PENDING
            token = budget.charge(self, number, self.block * ENTRY_BYTES, self.account, "logs")
            with self._lock:
                if self._tokens.get(number) == _PENDING:
                    self._tokens[number] = token
                else:  # dropped (by the budget, the count limit or a clear) while it was being charged
                    budget.release(token)  # (nothing to give back if the budget dropped it itself)

    def forget(self, number: int) -> None:
        """The budget dropped a block (the oldest charged one): forget the oldest logs it stood for."""
        with self._lock:
            if self._tokens.pop(number, None) is None:
                return  # gone already (counted out, or cleared)
            for _ in range(max(0, self.block - self._trimmed)):
                if not self.entries:
                    break
                self._forget_rated(self.entries.popitem(last=False)[0])
            self._trimmed = 0

    def _forget_rated(self, log_id: str) -> None:
        if self.rated.pop(log_id, None) is not None and self.on_forget is not None:
            self.on_forget(log_id)

    def clear(self) -> None:
        """Forget every log and give their bytes back to the budget."""
        self.entries.clear()
        self.rated.clear()
        tokens = [token for token in self._tokens.values() if token != _PENDING]
        if self.budget is not None and tokens:
            self.budget.release_many(tokens)
        self._tokens.clear()
        self._uncharged = self._trimmed = 0

    def _settle(self) -> None:
        """Give back the blocks whose logs the count limit has already forgotten, oldest first."""
        while self._trimmed >= self.block and self._tokens:
            _, token = self._tokens.popitem(last=False)
            if self.budget is not None and token != _PENDING:
                self.budget.release(token)
            self._trimmed -= self.block
