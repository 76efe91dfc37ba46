"""Requests the connection layer answered itself, journaled like every other request.

A request whose headers are too large (431), never finish (408) or cannot be parsed as HTTP (400) is
answered by `connection.GuardedHttpProtocol` before any app code runs, and one with a `Host` this
server does not answer (400) by `hostcheck.HostCheck`. The client still sent it, so it still belongs
in the journal: `RefusalJournal` records it in the world of its `X-API-KEY` (for the connection
layer, from what arrived of its head: request line and headers, as far as they go), with the status,
the reason and the JSON error body the client got, and prints its access-log line.

A connection refused before it sent a byte (too many open connections, or silent until the header
timeout) has no request to journal.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from mockserver.access_log import AccessLog
from mockserver.connection import Refusal, error_body
from mockserver.tenants import Tenants

KEPT_HEAD_BYTES = 16 * 1024  # of a refused head, what the journal keeps (a 431 head can be far larger)
_METHOD_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")


def parse_head(head: bytes) -> dict[str, Any]:
    """An ASGI-like scope of what arrived of a request head: as much as can be read, never an error.

    The request line gives the method and target when it has their shape; each later line with a
    colon is a header (name lower-cased). A line cut short, or bytes that are not HTTP, are left out."""
    head = head[:KEPT_HEAD_BYTES].split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\n")
    parts = lines[0].rstrip(b"\r").split(b" ")
    method = parts[0] if parts[0] and len(parts[0]) <= 32 and set(parts[0]) <= _METHOD_CHARS else b""
    target = parts[1] if method and len(parts) > 1 else b""
    path, _, query = target.partition(b"?")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.rstrip(b"\r").partition(b":")
        name = name.strip()
        if colon and name and b" " not in name:
            headers.append((name.lower(), value.strip()))
    version = parts[2].rstrip(b"\r").removeprefix(b"HTTP/") if method and len(parts) > 2 else b"1.1"
    return {
        "type": "http",
        "method": method.decode("latin-1"),
        "path": unquote_to_bytes(path).decode("latin-1"),
        "query_string": query,
        "headers": headers,
        "http_version": version.decode("latin-1")[:8],
    }


class RefusalJournal:
    """Journals requests answered before the app saw them, in a mock app's worlds and access log."""

    def __init__(self, tenants: Tenants, access_log: AccessLog | None) -> None:
        self.tenants = tenants
        self.access_log = access_log

    def record(self, scope: dict[str, Any], status: int, detail: str) -> None:
        """Journal a request (its scope, without a body: none was read) answered `status` with `detail`."""
        key = next((value for name, value in scope["headers"] if name == b"x-api-key"), b"")
        journal = self.tenants.for_key(key.decode("latin-1") or None).journal
        entry = journal.open(scope, b"", False)
        entry.status = status
        entry.content_type = "application/json"
        entry.error = detail
        entry.add_response_chunk(error_body(detail))
        entry.completed = True
        journal.finish(entry)
        if self.access_log is not None:
            self.access_log.request(scope, status, detail)

    def connection_refused(self, refusal: Refusal) -> None:
        """What the connection layer refused (see the module doc). Nothing arrived: nothing to journal."""
        if refusal.head:
            scope = parse_head(refusal.head)
            scope["client"] = refusal.client
            self.record(scope, refusal.status, refusal.detail)


def refusal_journal(app: Any) -> RefusalJournal | None:
    """The `RefusalJournal` of a mock app (`create_app`); None for another ASGI app."""
    state = getattr(app, "state", None)
    tenants = getattr(state, "tenants", None)
    if not isinstance(tenants, Tenants):
        return None
    return RefusalJournal(tenants, getattr(state, "access_log", None))
