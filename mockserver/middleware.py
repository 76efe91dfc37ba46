"""ASGI middleware that picks the request's tenant, reads each body once (enforcing the size limit)
and journals the exchange in that tenant's journal.

It sits outside routing, so requests to unknown paths, with wrong methods or over the size limit are
journaled too: nothing a client sends is lost. The mock's own control paths (`/__admin`, the root
`/healthz`) are not part of what a client sent to the API, and are not journaled.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.errors import ApiError, error_response
from mockserver.routes.common import BODY_SCOPE_KEY, CONTEXT_SCOPE_KEY, JOURNAL_SCOPE_KEY
from mockserver.tenants import Tenants

UNJOURNALED_PREFIXES = ("/__admin",)
UNJOURNALED_PATHS = frozenset({"/healthz"})


async def _read_body(scope: Scope, receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole body, or (what fits, True) once it passes `limit` bytes."""
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return b"", True
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: max(0, limit - (size - len(chunk)))])
            return b"".join(chunks), True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


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
        body, too_large = await _read_body(scope, receive, self.max_body_bytes)
        entry = context.journal.open(scope, body, too_large)
        scope[JOURNAL_SCOPE_KEY] = entry
        scope[BODY_SCOPE_KEY] = body

        async def journaling_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        entry.content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if chunk:
                    entry.add_response_chunk(chunk)
                if not message.get("more_body", False):
                    entry.completed = True
            await send(message)

        if too_large:
            error = ApiError(413, f"Request body is larger than this server's limit of {self.max_body_bytes} bytes.")
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
