"""What every route shares: the auth check, error translation, JSON bodies, and the journal entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mockserver import jsonio
from mockserver.errors import ApiError, error_response
from mockserver.world.auth import check_api_key
from mockserver.world.budget import OverShare
from mockserver.world.context import MockContext
from mockserver.world.heavy import HEAVY_BODY_BYTES
from mockserver.world.journal import JournalEntry

JOURNAL_SCOPE_KEY = "humanloop_mock.journal_entry"
BODY_SCOPE_KEY = "humanloop_mock.body"
CONTEXT_SCOPE_KEY = "humanloop_mock.context"
HEADERS_SCOPE_KEY = "humanloop_mock.headers"
_READ_HEADERS = {b"x-api-key": "x-api-key", b"content-type": "content-type", b"content-length": "content-length",
                 b"host": "host"}
# In `request_headers`' answer when the request has more than one `Host` line (refused: `hostcheck`).
REPEATED_HOST = "host (repeated)"

Handler = Callable[[Request, MockContext], Awaitable[Response]]
# Handlers that take turns for a large body's work themselves (they also wait, which a turn must not);
# every other handler with a body over `HEAVY_BODY_BYTES` runs in one turn (`heavy`).
TAKES_TURNS: set[Handler] = set()


def context_of(request: Request) -> MockContext:
    """The tenant's world this request belongs to (chosen once, by the journal middleware)."""
    context = request.scope.get(CONTEXT_SCOPE_KEY)
    if context is None:
        context = request.scope[CONTEXT_SCOPE_KEY] = request.app.state.tenants.for_scope(request.scope)
    return context


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's `X-API-KEY`, `Content-Type`, `Content-Length` and `Host` (the first of each), read
    once per request: the Host check, the tenant, the key check, the body reader and the body parser all
    need them (Starlette's `Headers` scans per lookup). A second `Host` line is noted as `REPEATED_HOST`."""
    headers = scope["headers"]
    cached = scope.get(HEADERS_SCOPE_KEY)
    if cached is not None and cached[0] is headers:  # (a layer that replaced the headers gets them read anew)
        return cached[1]
    found: dict[str, str] = {}
    for name, value in headers:
        wanted = _READ_HEADERS.get(name)
        if wanted is not None:
            if wanted not in found:
                found[wanted] = value.decode("latin-1")
            elif wanted == "host":
                found[REPEATED_HOST] = value.decode("latin-1")
    scope[HEADERS_SCOPE_KEY] = (headers, found)
    return found


def declared_over(scope: Scope, limit: int) -> bool:
    """Whether the request's `Content-Length` says its body is over `limit` bytes."""
    declared = request_headers(scope).get("content-length")
    return declared is not None and declared.isdigit() and int(declared) > limit


def journal_entry(request: Request) -> JournalEntry | None:
    return request.scope.get(JOURNAL_SCOPE_KEY)


async def request_body(request: Request) -> bytes:
    """The body the journal middleware already read (read again only if it did not run)."""
    body = request.scope.get(BODY_SCOPE_KEY)
    return body if body is not None else await request.body()


class JSONBytes(Response):
    """A JSON body already serialised: the status line and headers Starlette's `Response` writes
    for it (content-length, content-type), without its general-purpose header building."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]


def json_response(body: Any, status: int = 200) -> Response:
    return JSONBytes(jsonio.dumps(body), status)


class Endpoint:
    """One path's handlers, by method, as a plain ASGI app: checks `X-API-KEY`, runs the handler,
    turns `ApiError` into its JSON answer and notes it in the journal. (One layer instead of
    Starlette's function-endpoint wrappers: this is on every request's path.)"""

    def __init__(self, handlers: dict[str, Handler], *, secured: bool = True) -> None:
        self.handlers = handlers
        self.secured = secured

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        response = await self.respond(request)
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        scope = request.scope
        context = scope.get(CONTEXT_SCOPE_KEY) or context_of(request)
        try:
            if self.secured:
                check_api_key(request_headers(scope), context.settings.api_keys)
            method = scope["method"]
            if method == "HEAD":
                method = "GET"
            handler = self.handlers[method]
            body = scope.get(BODY_SCOPE_KEY)
            if body is None or len(body) <= HEAVY_BODY_BYTES or handler in TAKES_TURNS:
                return await handler(request, context)
            async with context.turns.turn(context):  # a large body's parse and registration (`heavy`)
                return await handler(request, context)
        except OverShare as full:  # a registration or provisioning past the tenant's share of the budget
            error = ApiError(413, f"Not kept: {full.detail}.")
        except ApiError as raised:
            error = raised
        entry = journal_entry(request)
        if entry is not None:
            entry.error = error.detail
        return error_response(error)
