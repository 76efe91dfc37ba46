"""Requests the connection layer answered itself, journaled like every other request.

A request whose headers are too large (431), never finish (408) or cannot be parsed as HTTP (400) is
answered by `connection.GuardedHttpProtocol` before any app code runs, and one with a `Host` this
server does not answer (400) by `hostcheck.HostCheck`. The client still sent it, so it still belongs
in the journal: `RefusalJournal` records it in the world of its `X-API-KEY` (for the connection
layer, from what arrived of its head: request line and headers, as far as they go), with the status,
the reason and the JSON error body the client got, and prints its access-log line.

A connection refused before it sent a byte (too many open connections, or silent until the header
timeout) has no request to journal; nor has a malformed request that arrived in the same read as a
well-formed one before it (pipelined), whose bytes the parser had already taken as the first's.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

from mockserver.http.access_log import AccessLog
from mockserver.http.connection import Refusal
from mockserver.http.request import Request, request_of
from mockserver.world.tenants import Tenants

KEPT_HEAD_BYTES = 16 * 1024  # of a refused head, what the journal keeps (a 431 head can be far larger)
_METHOD_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")
_VERSION = re.compile(rb"HTTP/(\d\.\d)")


def head_lines(head: bytes) -> list[bytes]:
    """The complete lines of a request head (without their line ends), up to its blank line: a body
    after it is never read as headers, and a last line cut short (no line end yet) is left out."""
    lines = []
    start = 0
    while True:
        end = head.find(b"\n", start)
        if end < 0:
            return lines  # the rest has no line end: cut short
        line = head[start:end].removesuffix(b"\r")
        if not line and lines:
            return lines  # the blank line ending the head
        if line or lines:  # (blank lines before a request line are skipped, as parsers do)
            lines.append(line)
        start = end + 1


def api_key_of_head(head: bytes) -> str | None:
    """The `X-API-KEY` a whole head carries (its first complete one), wherever it is in the head."""
    return Request(parse_head(head, len(head))).key


def parse_head(head: bytes, kept: int = KEPT_HEAD_BYTES) -> dict[str, Any]:
    """An ASGI-like scope of what arrived of a request head: as much as can be read, never an error.

    Of the first `kept` bytes, the request line gives the method, target and version when it has their
    shape; each later complete line with a colon is a header (name lower-cased)."""
    lines = head_lines(head[:kept])
    parts = lines[0].split(b" ") if lines else [b""]
    method = parts[0] if parts[0] and len(parts[0]) <= 32 and set(parts[0]) <= _METHOD_CHARS else b""
    target = parts[1] if method and len(parts) > 1 else b""
    version = _VERSION.fullmatch(parts[2]) if method and len(parts) > 2 else None
    path, _, query = target.partition(b"?")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        name = name.strip()
        if colon and name and b" " not in name:
            headers.append((name.lower(), value.strip()))
    return {
        "type": "http",
        "method": method.decode("latin-1"),
        "path": unquote_to_bytes(path).decode("latin-1"),
        "query_string": query,
        "headers": headers,
        "http_version": version.group(1).decode("ascii") if version else "1.1",
    }


class RefusalJournal:
    """Journals requests answered before the app saw them, in a mock app's worlds and access log."""

    def __init__(self, tenants: Tenants, access_log: AccessLog | None) -> None:
        self.tenants = tenants
        self.access_log = access_log

    def record(self, scope: dict[str, Any], status: int | None, detail: str, key: str | None = None) -> None:
        """Journal a request (its scope, without a body: none was read) answered `status` with `detail`
        (None: nothing could be answered). It goes to the world of `key` (else of the scope's
        `X-API-KEY`) only if that world exists already: a refused request never creates a world, nor
        keeps one from being the next dropped, so a hostile page cannot push out a test's world."""
        if key is None:
            key = request_of(scope).key
        journal = self.tenants.for_key(key, create=False).journal
        entry = journal.open(scope, b"", False)
        if status is not None:
            entry.note_error_answer(status, detail)
            entry.completed = True
        else:
            entry.error = detail
            entry.client_left = True
        journal.finish(entry)
        if self.access_log is not None and status is not None:
            self.access_log.request(scope, status, detail)

    def connection_refused(self, refusal: Refusal) -> None:
        """What the connection layer refused (see the module doc). Nothing arrived: nothing to journal."""
        if refusal.head:
            scope = parse_head(refusal.head)
            scope["client"] = refusal.client
            self.record(scope, refusal.status, refusal.detail, api_key_of_head(refusal.head))


def refusal_journal(app: Any) -> RefusalJournal | None:
    """The `RefusalJournal` of a mock app (`create_app`); None for another ASGI app."""
    state = getattr(app, "state", None)
    tenants = getattr(state, "tenants", None)
    if not isinstance(tenants, Tenants):
        return None
    return RefusalJournal(tenants, getattr(state, "access_log", None))
