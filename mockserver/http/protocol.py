"""The server's HTTP protocol writes what one pass of the event loop produced with one system call.

uvicorn writes a response's status line and headers, then its body, each with its own `send` system
call the moment the app hands it over. On loopback each of those calls also runs the receiving side's
network stack, so a small JSON answer costs two of them where one would do. `gathering(protocol)`
gives the protocol a transport that collects what is written during one pass of the event loop and
writes it with a single call at the end of the pass: the same bytes, in the same order, never later
than the pass that produced them (a timed stream's events still leave one by one, at their own time).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class GatheringTransport:
    """A transport that writes what one event-loop pass gave it in one call (see the module doc)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self.is_closing = transport.is_closing  # asked on every read and write: no Python frame for it

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            if not self.is_closing():
                self._transport.writelines(pending)  # one system call for all of them

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._flush()  # what was written goes first (a cut answer's last bytes), then the connection
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # get_extra_info, pause_reading, set_protocol, ...
        return getattr(self._transport, name)


def gathering(protocol: type[HttpToolsProtocol]) -> type[HttpToolsProtocol]:
    """`protocol` (uvicorn's httptools protocol or a subclass) writing through a `GatheringTransport`."""

    class Gathering(protocol):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if not transport.is_closing():  # not refused at once (e.g. too many connections)
                self.transport = GatheringTransport(transport, self.loop)

    Gathering.__name__ = Gathering.__qualname__ = f"Gathering{protocol.__name__}"
    return Gathering
