"""One request as the mock handles it: the one object each layer reads and notes things in, carried under
one key of the ASGI scope (`SCOPE_KEY`).

The first layer that needs it makes it (`request_of`): the Host check in front of the app, the door, or
the connection layer when it ends a request before the app ran. It reads the headers every layer needs
once (`X-API-KEY`, `Content-Type`, `Content-Length`, `Host`); the door adds the world the request belongs
to, its body, its route's path parameters and its journal entry; the connection layer says when and why
the client is gone, and what it answered itself. A route handler gets it and nothing else.

It must never point back at the scope (the scope points at it): the server's own per-request object
(`connection`, uvicorn's request cycle) does, so the door lets go of it when the request ends. Without
that, every request would leave a reference cycle for the garbage collector, which once cost more than
the rest of the app put together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.types import Scope

if TYPE_CHECKING:
    from mockserver.recording import ExchangeCapture
    from mockserver.world.context import MockContext
    from mockserver.world.journal import JournalEntry

SCOPE_KEY = "humanloop_mock"
# Why an answer already under way ended early when the server stopped it (its shutdown timeout passed).
SHUTDOWN_CUT = "the server stopped before the answer ended (shutdown)"
_READ = {b"x-api-key": 0, b"content-type": 1, b"content-length": 2, b"host": 3}


class Request:
    """See the module doc. Slotted: one is made per request, and nothing in it is tracked by the collector
    longer than the request."""

    __slots__ = ("abort", "answered_by", "api_key", "body", "broken_off", "capture", "closed_by", "connection",
                 "content_length", "content_type", "entry", "host", "key_problem", "method", "path_params",
                 "query_string", "raw_headers", "repeated_host", "sent", "world")

    def __init__(self, scope: Scope) -> None:
        self.method: str = scope.get("method", "GET")
        self.query_string: bytes = scope.get("query_string", b"")
        self.read_headers(scope.get("headers", ()))
        # Set by the door before a handler runs: the world it belongs to, its body, its journal entry (None
        # off the journaled paths: `/__admin` and the root `/healthz`) and its path's parameters.
        self.world: MockContext = None  # type: ignore[assignment]
        self.body: bytes = b""
        self.entry: JournalEntry | None = None
        self.path_params: dict[str, str] = {}
        self.key_problem: str | None = None  # why its key would be refused (`world.auth.key_problem`), if it would
        # The server's request cycle while the request runs (uvicorn's: its `disconnected` flag, its transport).
        self.connection: Any = None
        # How to drop the connection without uvicorn (the plugin's in-process transport sets it).
        self.abort: Callable[[], None] | None = None
        self.closed_by: str | None = None  # why the connection was ended early (by its layer, or a cut relay)
        self.broken_off: str | None = None  # why its answer's source broke off mid-answer (a cut relay), if it did
        self.answered_by: tuple[int, str] | None = None  # (status, detail) it answered itself, if it did
        self.sent: tuple[int, Any] | None = None  # (status, error detail) of the answer the app began to send
        # `--record`: the exchange's capture, told the answer's head and every piece sent (`http.sent`).
        self.capture: ExchangeCapture | None = None

    def read_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """The first `X-API-KEY`, `Content-Type`, `Content-Length` and `Host` (a second `Host` line is kept
        apart: such a request is refused, `hostcheck`). The one place a request's headers are read."""
        found: list[str | None] = [None, None, None, None]
        repeated = None
        for name, value in headers:
            index = _READ.get(name)
            if index is not None:
                if found[index] is None:
                    found[index] = value.decode("latin-1")
                elif index == 3:
                    repeated = value.decode("latin-1")
        self.raw_headers = headers
        self.api_key, self.content_type, self.content_length, self.host = found
        self.repeated_host = repeated

    @property
    def key(self) -> str | None:
        """The `X-API-KEY` sent, if any and not empty."""
        return self.api_key or None

    @property
    def client_gone(self) -> bool:
        """Whether the server says the client has left (never, without a server that tells)."""
        connection = self.connection
        return connection is not None and connection.disconnected

    def query(self) -> list[tuple[str, str]]:
        """The query's parameters, in order."""
        return parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True)

    def dropped(self, reason: str) -> None:
        """The connection was dropped with part of the answer unsent (the client read nothing for too long)."""
        self.closed_by = reason
        if self.entry is not None:
            self.entry.mark_dropped(reason)


def request_of(scope: Scope) -> Request:
    """The scope's `Request`, made now if no layer made it yet. A layer in front that handed on a copy of the
    scope with other headers (a test's wrapper) gets them read anew, on the same request."""
    request = scope.get(SCOPE_KEY)
    if request is None:
        request = scope[SCOPE_KEY] = Request(scope)
    elif request.raw_headers is not scope["headers"]:
        request.read_headers(scope["headers"])
    return request
