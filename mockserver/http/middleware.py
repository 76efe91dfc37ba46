"""Journaling: each request's tenant, its body (read once, within the size limit) and its journal entry,
then what it was answered, as it is sent.

`JournalMiddleware` applies it to every path Starlette routes, and `MockApp` to the API's fixed paths it
serves itself: both journal alike. It sits outside routing, so requests to unknown paths, with wrong
methods or over the size limit are journaled too: nothing a client sends is lost. The mock's own
control paths (`/__admin`, the root `/healthz`) are not part of what a client sent to the API, and are
not journaled. It also notes when the client leaves: before its body arrived (or was cut off by the
body timeout), or while the answer was going out, and how much of the answer had been handed to the
connection by then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.errors import ApiError, error_response
from mockserver.http.access_log import AccessLog
from mockserver.http.connection import (
    ANSWERED_BY_SCOPE_KEY,
    CLOSED_BY_SCOPE_KEY,
    CONNECTION_SCOPE_KEY,
    ON_DROP_SCOPE_KEY,
)
from mockserver.jsonio import over_values
from mockserver.routes.common import (
    BODY_SCOPE_KEY,
    CONTEXT_SCOPE_KEY,
    JOURNAL_SCOPE_KEY,
    JSONBytes,
    request_headers,
)
from mockserver.settings import DEFAULT_MAX_BODY_VALUES
from mockserver.world.context import MockContext
from mockserver.world.heavy import HEAVY_BODY_BYTES
from mockserver.world.journal import JournalEntry
from mockserver.world.tenants import Tenants, TenantsFull, api_key_of

UNJOURNALED_PREFIXES = ("/__admin",)
UNJOURNALED_PATHS = frozenset({"/healthz"})
# Responses whose whole body is known when they are returned (Starlette's base class, and ours).
_PLAIN_RESPONSES = frozenset({Response, JSONBytes})

CLIENT_LEFT = "The client disconnected before sending the whole body."


async def _read_body(scope: Scope, receive: Receive, limit: int) -> tuple[bytes, bool, bool]:
    """(the body, whether it passed `limit` bytes, whether the client left before it ended)."""
    first = await receive()
    if first["type"] == "http.request" and not first.get("more_body", False):
        body = first.get("body", b"")
        if len(body) <= limit:
            return body, False, False  # the common case: the whole body in one message
    return await _read_rest(scope, first, receive, limit)


async def _read_rest(scope: Scope, first: Message, receive: Receive, limit: int) -> tuple[bytes, bool, bool]:
    chunks: list[bytes] = []
    size = 0
    message = first
    while True:
        if message["type"] != "http.request":
            return b"".join(chunks), False, True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: max(0, limit - (size - len(chunk)))])
            return b"".join(chunks), True, False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False, False
        message = await receive()


class Journaling:
    """What every journaled request goes through (see the module doc)."""

    def __init__(self, max_body_bytes: int, access_log: AccessLog | None = None,
                 max_body_values: int = DEFAULT_MAX_BODY_VALUES) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_body_values = max_body_values
        self.access_log = access_log

    async def open(self, scope: Scope, receive: Receive, context: MockContext) -> JournalEntry | None:
        """Read the body (up to the limit) and journal the request; routes find both in the scope.
        None when the client left before its body ended (journaled as such; nothing to answer)."""
        journal = context.journal
        # A body declared over the limit is refused before a byte of it is read, so a client sending
        # `Expect: 100-continue` never gets `100 Continue`.
        declared = request_headers(scope).get("content-length")  # (`declared_over`, inline: every request)
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            body, too_large, left = b"", True, False
        else:
            body, too_large, left = await _read_body(scope, receive, self.max_body_bytes)
        if len(body) > HEAVY_BODY_BYTES:  # scanning it (provider keys, values) takes a turn (`heavy`)
            entry = await context.turns.run(context, journal.open, scope, body, too_large or left)
        else:
            entry = journal.open(scope, body, too_large or left)
        if left:
            entry.client_left = True
            entry.error = scope.get(CLOSED_BY_SCOPE_KEY) or CLIENT_LEFT
            answered = scope.get(ANSWERED_BY_SCOPE_KEY)
            if answered is not None:  # the connection layer answered it (a body timeout, an unreadable body)
                entry.note_error_answer(*answered)
                if self.access_log is not None:
                    self.access_log.request(scope, *answered)
            journal.finish(entry)
            return None
        values = None
        if not too_large and len(body) > self.max_body_values:  # (a smaller body cannot hold more values)
            if len(body) > HEAVY_BODY_BYTES:
                values = await context.turns.run(context, over_values, body, self.max_body_values)
            else:
                values = over_values(body, self.max_body_values)
        if values is not None:  # refused (`refusal`) before anything parses it
            entry.error = (f"Request body holds about {values} JSON values and keys, over this server's limit of "
                           f"{self.max_body_values} (--max-body-values).")
        scope[JOURNAL_SCOPE_KEY] = entry
        scope[BODY_SCOPE_KEY] = body
        scope[ON_DROP_SCOPE_KEY] = entry.mark_dropped
        return entry

    async def refuse(self, error: ApiError, context: MockContext, scope: Scope, receive: Receive, send: Send
                     ) -> None:
        """Answer `error` before any route runs (no tenant slot free), journaled in `context`."""
        entry = await self.open(scope, receive, context)
        if entry is None:
            return
        entry.error = error.detail
        try:
            await self.deliver(error_response(error), entry, scope, receive, send)
        finally:
            self.finish(entry, scope, context)

    @staticmethod
    def refused(entry: JournalEntry) -> bool:
        """Whether `open` refused the body: too large (cut at the limit), or too many values in it."""
        return entry.body_truncated or entry.error is not None

    def refusal(self, entry: JournalEntry) -> Response:
        """The 413 for a refused body; a body cut at the limit also closes the connection (the rest of
        it was never read)."""
        if not entry.body_truncated:
            return error_response(ApiError(413, entry.error))
        error = ApiError(413, f"Request body is larger than this server's limit of {self.max_body_bytes} bytes.",
                         {"Connection": "close"})
        entry.error = error.detail
        return error_response(error)

    def _started(self, scope: Scope, entry: JournalEntry, status: int, headers: Sequence[tuple[bytes, bytes]]
                 ) -> None:
        entry.note_response_start(status, headers)
        if self.access_log is not None:
            self.access_log.request(scope, status, entry.error)

    def recording(self, scope: Scope, entry: JournalEntry, send: Send) -> Send:
        """`send`, noting in the entry what is sent (status, content type, body or events, the end)."""
        connection = scope.get(CONNECTION_SCOPE_KEY)

        async def journaling_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._started(scope, entry, message["status"], message.get("headers", ()))
            elif message["type"] == "http.response.body":
                if connection is not None and connection.disconnected:
                    entry.client_left = True  # the server drops what is sent now: do not record it as sent
                else:
                    chunk = message.get("body", b"")
                    if chunk:
                        entry.add_response_chunk(chunk)
                    if not message.get("more_body", False):
                        entry.completed = True
            await send(message)

        return journaling_send

    async def deliver(self, response: Response, entry: JournalEntry, scope: Scope, receive: Receive, send: Send
                      ) -> None:
        """Send `response`, journaled. A plain response (its whole body known) is noted and sent in two
        messages straight to the server; anything else (streams, a dropped connection) through
        `recording`."""
        if type(response) not in _PLAIN_RESPONSES or response.background is not None:
            await response(scope, receive, self.recording(scope, entry, send))
            return
        self._started(scope, entry, response.status_code, response.raw_headers)
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
        connection = scope.get(CONNECTION_SCOPE_KEY)
        if connection is not None and connection.disconnected:
            entry.client_left = True
        else:
            body = response.body
            if body:
                entry.add_response_chunk(bytes(body))
            entry.completed = True
        await send({"type": "http.response.body", "body": response.body})

    def finish(self, entry: JournalEntry, scope: Scope, context: MockContext) -> None:
        """The exchange is over: note a client that left, and close the entry."""
        connection = scope.get(CONNECTION_SCOPE_KEY)
        if not entry.completed and connection is not None and connection.disconnected:
            entry.client_left = True
        if entry.client_left and entry.error is None:
            entry.error = scope.get(CLOSED_BY_SCOPE_KEY)
        context.journal.finish(entry)

    async def serve(self, app: ASGIApp, entry: JournalEntry, scope: Scope, receive: Receive, send: Send,
                    context: MockContext) -> None:
        """Run `app` for a journaled request (or answer 413), recording its answer."""
        try:
            if self.refused(entry):
                await self.deliver(self.refusal(entry), entry, scope, receive, send)
            else:
                await app(scope, replaying(entry.raw_body, receive), self.recording(scope, entry, send))
        except asyncio.CancelledError:  # the server or an in-process client stopped the answer
            if not entry.completed:
                entry.client_left = True
            raise
        finally:
            self.finish(entry, scope, context)

    def logged(self, scope: Scope, send: Send) -> Send:
        """`send`, noting the answer in the access log only (for the mock's own, unjournaled paths)."""
        access_log = self.access_log
        if access_log is None:
            return send

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                access_log.request(scope, message["status"])
            await send(message)

        return logging_send


def replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for an app behind the journal: the body it already read, then the server's messages."""
    delivered = False

    async def replay_receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return replay_receive


class JournalMiddleware:
    def __init__(self, app: ASGIApp, tenants: Tenants, journaling: Journaling) -> None:
        self.app = app
        self.tenants = tenants
        self.journaling = journaling

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in UNJOURNALED_PATHS:  # a probe: it never creates a world, nor keeps one in use
            scope[CONTEXT_SCOPE_KEY] = self.tenants.existing(api_key_of(scope))
            await self.app(scope, receive, self.journaling.logged(scope, send))
            return
        try:
            context = scope[CONTEXT_SCOPE_KEY] = self.tenants.for_scope(scope)
        except TenantsFull as full:
            await self.journaling.refuse(full.error(), self.tenants.shared, scope, receive, send)
            return
        if path.startswith(UNJOURNALED_PREFIXES):
            await self.app(scope, receive, self.journaling.logged(scope, send))
            return
        entry = await self.journaling.open(scope, receive, context)
        if entry is not None:
            await self.journaling.serve(self.app, entry, scope, receive, send, context)
