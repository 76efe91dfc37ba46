"""`create_app`: the Starlette application, its routes and its error handlers."""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mockserver import logsafe
from mockserver.context import MockContext
from mockserver.errors import ApiError, error_response
from mockserver.faults import ABORT_SCOPE_KEY, uvicorn_abort
from mockserver.middleware import CONNECTION_SCOPE_KEY, JournalMiddleware
from mockserver.routes import chat, experiments, meta, model_configs
from mockserver.routes.common import Endpoint
from mockserver.settings import MockSettings

log = logging.getLogger("humanloop_mock")
API_PREFIX = "/v4"


# path -> {method: handler}; one Route per path, so a 405's `Allow` lists every method of the path.
_HANDLERS: dict[str, dict[str, Any]] = {
    "/chat-experiment": {"POST": chat.chat_experiment},
    "/model-configs": {"POST": model_configs.register_model_config},
    "/projects/{project_id}/experiments": {
        "GET": experiments.list_experiments,
        "POST": experiments.create_experiment,
    },
    "/experiments/{experiment_id}": {
        "PATCH": experiments.update_experiment,
        "DELETE": experiments.delete_experiment,
    },
    "/experiments/{experiment_id}/model-config": {"GET": experiments.sample_config},
    "/healthz": {"GET": meta.healthz},
    "/openapi.json": {"GET": meta.openapi},
}
_UNSECURED = {"/healthz", "/openapi.json"}


def _routes() -> list[Route]:
    return [
        Route(API_PREFIX + path, Endpoint(by_method, secured=path not in _UNSECURED), methods=list(by_method))
        for path, by_method in _HANDLERS.items()
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(ApiError(exc.status_code, exc.detail, exc.headers))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug in the mock: logged with its traceback, answered as JSON (never an HTML page)."""
    log.exception("Unexpected error handling %s %s", request.method, request.url.path)  # escaped: logsafe
    return error_response(ApiError(500, "Internal error in humanloop-mock; please report it with the log."))


class MockApp(Starlette):
    """Starlette, plus what only the outermost layer can do: keep hold of the server's own `send`,
    so the reset fault can drop the connection and the journal can tell whether the client is still
    there (Starlette wraps `send` before middleware)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or ABORT_SCOPE_KEY in scope:
            await super().__call__(scope, receive, send)
            return
        abort = uvicorn_abort(send)
        if abort is None:
            await super().__call__(scope, receive, send)
            return
        scope[ABORT_SCOPE_KEY] = abort
        scope[CONNECTION_SCOPE_KEY] = send.__self__  # type: ignore[attr-defined]  # uvicorn's request cycle
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Both point back at the connection, which points at this scope: a reference cycle that
            # would keep the request's body and answer alive until the next full garbage collection.
            del scope[ABORT_SCOPE_KEY], scope[CONNECTION_SCOPE_KEY]


def create_app(settings: MockSettings | None = None) -> Starlette:
    """A new mock application; its `MockContext` is at `app.state.mock`."""
    logsafe.install()
    context = MockContext(settings or MockSettings())
    app = MockApp(
        routes=_routes(),
        middleware=[Middleware(JournalMiddleware, journal=context.journal,
                               max_body_bytes=context.settings.max_body_bytes)],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected_error},
    )
    app.state.mock = context
    return app
