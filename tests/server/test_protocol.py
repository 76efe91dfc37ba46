"""The served protocol writes what one event-loop pass produced with one call: same bytes, same order."""

from __future__ import annotations

import asyncio
from typing import Any

from mockserver import MockSettings, create_app
from mockserver.http.connection import GuardedHttpProtocol
from mockserver.http.protocol import GatheringTransport
from mockserver.http.server import uvicorn_config


class FakeTransport:
    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []
        self.closed = False
        self.aborted = False

    def writelines(self, data: list[bytes]) -> None:
        self.calls.append(list(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str) -> Any:
        return f"info:{name}"


def run(scenario: Any) -> FakeTransport:
    async def main() -> FakeTransport:
        real = FakeTransport()
        await scenario(GatheringTransport(real, asyncio.get_running_loop()))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        return real

    return asyncio.run(main())


def test_writes_of_one_pass_go_out_together_in_order() -> None:
    async def scenario(transport: GatheringTransport) -> None:
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"body")
        await asyncio.sleep(0)  # the end of the pass
        transport.write(b"next")

    assert run(scenario).calls == [[b"HTTP/1.1 200 OK\r\n\r\n", b"body"], [b"next"]]


def test_writes_separated_by_a_wait_stay_separate() -> None:
    async def scenario(transport: GatheringTransport) -> None:
        for event in (b"a", b"b", b"c"):
            transport.write(event)
            await asyncio.sleep(0.001)  # a timed stream: each event in its own pass

    assert run(scenario).calls == [[b"a"], [b"b"], [b"c"]]


def test_close_and_abort_both_write_what_they_hold_first() -> None:
    """A close ends the answer after its last bytes; an abort drops the connection after them: a cut answer's
    last piece, handed over in the same pass as the cut, reaches the client (and the journal says it was sent)."""
    async def closing(transport: GatheringTransport) -> None:
        transport.write(b"last words")
        transport.close()

    closed = run(closing)
    assert closed.calls == [[b"last words"]] and closed.closed

    async def aborting(transport: GatheringTransport) -> None:
        transport.write(b"last piece")
        transport.abort()

    aborted = run(aborting)
    assert aborted.calls == [[b"last piece"]] and aborted.aborted


def test_everything_else_is_the_real_transports() -> None:
    async def scenario(transport: GatheringTransport) -> None:
        assert transport.get_extra_info("socket") == "info:socket"
        assert not transport.is_closing()

    run(scenario)


def test_the_server_uses_it_over_the_connection_guard() -> None:
    config = uvicorn_config(create_app(MockSettings()))
    assert isinstance(config.http, type) and issubclass(config.http, GuardedHttpProtocol)
    assert config.http.__name__ == "GatheringGuardedHttpProtocol"
