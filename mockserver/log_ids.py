"""The log ids of answers, remembered so `POST /v4/feedback` can name them: bounded by count and by bytes.

Every chat answer makes one log id per sample, and feedback may name any of them later, so a world
remembers each (with its experiment and config) until `--log-limit` newer ones exist. That bounds
their number per world, not the memory of a server with many worlds (`--isolate-keys`), so each
world's logs are also charged to the server's byte budget (`budget`), in blocks of `BLOCK` logs: one
charge per 1,024 logs keeps the cost off the request path. When the budget drops a block to make
room, its logs are forgotten, oldest first, as the count limit forgets them. What feedback on a
forgotten log added to the statistics stays.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from mockserver.budget import ByteBudget

BLOCK = 1024  # logs charged to the byte budget together
# One remembered log: its 26-character id string, its dict slot and the (experiment, config) tuple
# (CPython 3.11, measured with tracemalloc over 100,000 logs: 166 bytes each; counted generously).
ENTRY_BYTES = 200


class LogBook:
    """One world's remembered logs (log id → (experiment id, config id)) and the rated ones.

    Callers hold `lock` (the world's state lock) around `remember`, lookups and `clear`; `charge`
    must run without it, because the budget may call `forget` on any keeper while it charges."""

    def __init__(self, limit: int, budget: ByteBudget | None, lock: threading.RLock) -> None:
        self.limit = limit
        self.budget = budget
        self.entries: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self.rated: dict[str, Any] = {}  # log id -> its feedback record (`state.Log`), for logs that got feedback
        self._lock = lock
        self._tokens: OrderedDict[int, int] = OrderedDict()  # charged blocks, oldest first: number -> token
        self._next_block = 0
        self._uncharged = 0  # logs added since the last block was counted
        self._trimmed = 0  # logs of the oldest charged block already forgotten by the count limit
        self._generation = 0  # bumped by `clear`: a late charge or forget of an older generation is void

    def __contains__(self, log_id: str) -> bool:
        return log_id in self.entries

    def __getitem__(self, log_id: str) -> tuple[str, str]:
        return self.entries[log_id]

    def __len__(self) -> int:
        return len(self.entries)

    def remember(self, log_ids: list[str], experiment_id: str, config_ids: list[str]) -> int:
        """Keep new logs, forgetting the oldest past `limit`; the number of blocks to `charge` now."""
        entries = self.entries
        for log_id, config_id in zip(log_ids, config_ids, strict=True):
            entries[log_id] = (experiment_id, config_id)
        while self.limit and len(entries) > self.limit:
            self.rated.pop(entries.popitem(last=False)[0], None)
            self._trimmed += 1
        self._uncharged += len(log_ids)
        blocks, self._uncharged = divmod(self._uncharged, BLOCK)
        self._settle()
        return blocks

    def charge(self, blocks: int) -> None:
        """Charge `blocks` full blocks to the budget (without the lock held; see the class doc)."""
        if self.budget is None:
            return
        for _ in range(blocks):
            with self._lock:
                number, generation = self._next_block, self._generation
                self._next_block += 1
            token = self.budget.charge(self, (generation, number), BLOCK * ENTRY_BYTES)
            with self._lock:
                if generation != self._generation:  # cleared meanwhile: these logs are gone already
                    self.budget.release(token)
                    continue
                self._tokens[number] = token
                self._settle()

    def forget(self, key: tuple[int, int]) -> None:
        """The budget dropped a block (the oldest charged one): forget the oldest logs it stood for."""
        generation, number = key
        with self._lock:
            if generation != self._generation or self._tokens.pop(number, None) is None:
                return
            for _ in range(max(0, BLOCK - self._trimmed)):
                if not self.entries:
                    break
                self.rated.pop(self.entries.popitem(last=False)[0], None)
            self._trimmed = 0

    def clear(self) -> None:
        """Forget every log and give their bytes back to the budget."""
        self.entries.clear()
        self.rated.clear()
        if self.budget is not None and self._tokens:
            self.budget.release_many(list(self._tokens.values()))
        self._tokens.clear()
        self._uncharged = self._trimmed = 0
        self._generation += 1

    def _settle(self) -> None:
        """Give back the blocks whose logs the count limit has already forgotten, oldest first."""
        while self._trimmed >= BLOCK and self._tokens:
            _, token = self._tokens.popitem(last=False)
            if self.budget is not None:
                self.budget.release(token)
            self._trimmed -= BLOCK
