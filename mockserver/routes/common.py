"""What every route shares: the auth check, error translation, JSON bodies, and the journal entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mockserver import jsonio
from mockserver.auth import check_api_key
from mockserver.context import MockContext
from mockserver.errors import ApiError, error_response
from mockserver.journal import JournalEntry

JOURNAL_SCOPE_KEY = "humanloop_mock.journal_entry"
BODY_SCOPE_KEY = "humanloop_mock.body"

Handler = Callable[[Request, MockContext], Awaitable[Response]]


def context_of(request: Request) -> MockContext:
    return request.app.state.mock


def journal_entry(request: Request) -> JournalEntry | None:
    return request.scope.get(JOURNAL_SCOPE_KEY)


async def request_body(request: Request) -> bytes:
    """The body the journal middleware already read (read again only if it did not run)."""
    body = request.scope.get(BODY_SCOPE_KEY)
    return body if body is not None else await request.body()


def json_response(body: Any, status: int = 200) -> Response:
    return Response(jsonio.dumps(body), status_code=status, media_type="application/json")


def api_endpoint(handler: Handler, *, secured: bool = True) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: check `X-API-KEY`, turn `ApiError` into its JSON answer, note errors in the journal."""

    async def endpoint(request: Request) -> Response:
        context = context_of(request)
        try:
            if secured:
                check_api_key(request.headers, context.settings.api_keys)
            return await handler(request, context)
        except ApiError as error:
            entry = journal_entry(request)
            if entry is not None:
                entry.error = error.detail
            return error_response(error)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint
