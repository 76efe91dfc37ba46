"""ASGI middleware that picks the request's tenant, reads each body once (enforcing the size limit)
and journals the exchange in that tenant's journal.

It sits outside routing, so requests to unknown paths, with wrong methods or over the size limit are
journaled too: nothing a client sends is lost. The mock's own control paths (`/__admin`, the root
`/healthz`) are not part of what a client sent to the API, and are not journaled. It also notes when
the client leaves: before its body arrived (or was cut off by the body timeout), or while the answer
was going out, and how much of the answer had been handed to the connection by then.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.connection import CLOSED_BY_SCOPE_KEY, ON_DROP_SCOPE_KEY
from mockserver.errors import ApiError, error_response
from mockserver.routes.common import BODY_SCOPE_KEY, CONTEXT_SCOPE_KEY, JOURNAL_SCOPE_KEY
from mockserver.tenants import Tenants

UNJOURNALED_PREFIXES = ("/__admin",)
UNJOURNALED_PATHS = frozenset({"/healthz"})

# The server's own per-request object, when it has a `disconnected` flag (uvicorn's request cycle);
# set by the outermost app layer, the only one that sees the server's own `send`.
CONNECTION_SCOPE_KEY = "humanloop_mock.connection"
CLIENT_LEFT = "The client disconnected before sending the whole body."


async def _read_body(scope: Scope, receive: Receive, limit: int) -> tuple[bytes, bool, bool]:
    """(the body, whether it passed `limit` bytes, whether the client left before it ended)."""
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return b"", True, False
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
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


class JournalMiddleware:
    def __init__(self, app: ASGIApp, tenants: Tenants, max_body_bytes: int) -> None:
        self.app = app
        self.tenants = tenants
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = scope[CONTEXT_SCOPE_KEY] = self.tenants.for_scope(scope)
        path = scope["path"]
        if path in UNJOURNALED_PATHS or path.startswith(UNJOURNALED_PREFIXES):
            await self.app(scope, receive, send)
            return
        journal = context.journal
        body, too_large, left = await _read_body(scope, receive, self.max_body_bytes)
        entry = journal.open(scope, body, too_large or left)
        if left:
            entry.client_left = True
            entry.error = scope.get(CLOSED_BY_SCOPE_KEY) or CLIENT_LEFT
            journal.finish(entry)
            return
        scope[JOURNAL_SCOPE_KEY] = entry
        scope[BODY_SCOPE_KEY] = body
        scope[ON_DROP_SCOPE_KEY] = entry.mark_dropped
        connection = scope.get(CONNECTION_SCOPE_KEY)

        async def journaling_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        entry.content_type = value.decode("latin-1")
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

        try:
            if too_large:
                error = ApiError(413, f"Request body is larger than this server's limit of "
                                      f"{self.max_body_bytes} bytes.")
                entry.error = error.detail
                await error_response(error)(scope, receive, journaling_send)
                return

            delivered = False

            async def replay_receive() -> dict[str, Any]:
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return dict(await receive())

            await self.app(scope, replay_receive, journaling_send)
        except asyncio.CancelledError:  # the server or an in-process client stopped the answer
            if not entry.completed:
                entry.client_left = True
            raise
        finally:
            if not entry.completed and connection is not None and connection.disconnected:
                entry.client_left = True
            if entry.client_left and entry.error is None:
                entry.error = scope.get(CLOSED_BY_SCOPE_KEY)
            journal.finish(entry)
