"""Work that grows with a client's input takes turns, so no request holds the event loop for long.

The server is one event loop: while Python runs one request's code, nothing else is answered. Most
requests take well under a millisecond; a few take as long as their input is large (a body of
megabytes parsed and answered, a spec loaded, a large journal listed or filtered). Each of those is
done in steps of bounded size (the body limits, `MAX_SPEC_ITEMS`, `SLICE_SECONDS`), and each step waits
for its `turn`: one step at a time across the server, tenants in rotation (a tenant with many steps
queued waits behind one step of each other tenant, not the reverse), and other requests answered
between any two steps. So `/healthz` and every light call wait for at most about one step, however
many large ones are queued (each step is followed by a few milliseconds' pause, long enough for a
light request's few passes of the event loop), and a shutdown can cancel the queue at any step.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")

# Bodies larger than this take turns (a smaller one is parsed and answered within about a millisecond).
HEAVY_BODY_BYTES = 256 * 1024
# How long one step of a sliced loop (a journal listing) runs before it lets others in.
SLICE_SECONDS = 0.01
# The pause after each step: a light request needs a few passes of the event loop (read, answer,
# write); after a bare `sleep(0)` the next step would run between each of them.
GAP_SECONDS = 0.005


class Turns:
    """One step of heavy work at a time across the server, tenants served in rotation."""

    def __init__(self) -> None:
        self._threads: Turns | None = None  # the queue for `in_thread`
        self._busy = False
        self._waiting: OrderedDict[int, deque[asyncio.Future[None]]] = OrderedDict()

    @asynccontextmanager
    async def turn(self, tenant: object) -> AsyncIterator[None]:
        """Wait for this tenant's turn, run the block (which must not await), then let the next one in
        after a pass of the event loop."""
        await self._acquire(id(tenant))
        try:
            yield
        finally:
            self._release()
        await asyncio.sleep(GAP_SECONDS)  # requests that arrived meanwhile are answered before this one goes on

    async def run(self, tenant: object, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in the tenant's turn."""
        async with self.turn(tenant):
            return work(*args)

    async def in_thread(self, tenant: object, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` in a thread of its own, for C code that lets the interpreter go (RE2 matching):
        one such thread at a time across the server, tenants in rotation, in a queue apart from the
        event loop's turns. The turn is held until the thread ends, even when the caller is cancelled
        meanwhile, so two never run at once; the thread is a daemon: it never holds up an exit."""
        threads = self._threads
        if threads is None:
            threads = self._threads = Turns()
        await threads._acquire(id(tenant))
        loop = asyncio.get_running_loop()
        result: asyncio.Future[T] = loop.create_future()

        def settle(outcome: tuple[bool, Any]) -> None:
            threads._release()
            if not result.done():
                result.set_result(outcome[1]) if outcome[0] else result.set_exception(outcome[1])

        def run() -> None:
            try:
                outcome: tuple[bool, Any] = (True, work(*args))
            except BaseException as error:  # (handed to the caller)
                outcome = (False, error)
            with contextlib.suppress(RuntimeError):  # the loop is gone (a shutdown): nobody waits
                loop.call_soon_threadsafe(settle, outcome)

        try:
            threading.Thread(target=run, name="humanloop-mock-match", daemon=True).start()
        except BaseException:
            threads._release()
            raise
        return await result

    async def map(self, tenant: object, items: Iterable[T], work: Callable[[T], Any]) -> list[Any]:
        """`[work(item) for item in items]`, in turns of at most about `SLICE_SECONDS` each."""
        results: list[Any] = []
        iterator: Iterator[T] = iter(items)
        finished = False
        while not finished:
            async with self.turn(tenant):
                deadline = time.perf_counter() + SLICE_SECONDS
                for item in iterator:
                    results.append(work(item))
                    if time.perf_counter() > deadline:
                        break
                else:
                    finished = True
        return results

    async def steps(self, tenant: object, steps: Generator[Any, Any, T]) -> T:
        """What `steps` returns, running it in turns of at most about `SLICE_SECONDS` each (it yields None
        between steps: `control.service`'s listings, `provider_keys.redaction`). A step may yield a
        callable instead: work for a thread of its own (`in_thread`: RE2 matching a long text), whose
        result is sent back into the generator."""
        result: Any = None
        while True:
            work = None
            async with self.turn(tenant):
                deadline = time.perf_counter() + SLICE_SECONDS
                try:
                    while work is None and time.perf_counter() <= deadline:
                        work, result = steps.send(result), None
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
            if work is not None:
                result = await self.in_thread(tenant, work)

    async def _acquire(self, key: int) -> None:
        if not self._busy and not self._waiting:
            self._busy = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, deque()).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the turn was given just as the wait was cancelled: pass it on
            else:
                queue = self._waiting.get(key)
                if queue is not None and waiter in queue:
                    queue.remove(waiter)
                    if not queue:
                        del self._waiting[key]
            raise

    def _release(self) -> None:
        while self._waiting:
            key, queue = next(iter(self._waiting.items()))
            waiter = queue.popleft()
            del self._waiting[key]
            if queue:
                self._waiting[key] = queue  # back of the rotation
            if not waiter.done():
                waiter.set_result(None)
                return
        self._busy = False
