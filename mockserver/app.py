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

from mockserver.access_log import AccessLog
from mockserver.context import MockContext
from mockserver.errors import ApiError, error_response
from mockserver.faults import ABORT_SCOPE_KEY, uvicorn_abort
from mockserver.middleware import JournalMiddleware
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
    log.exception("Unexpected error handling %s %s", request.method, request.url.path)
    return error_response(ApiError(500, "Internal error in humanloop-mock; please report it with the log."))


class MockApp(Starlette):
    """Starlette, plus one thing only the outermost layer can do: keep hold of the server's own
    `send`, so the reset fault can drop the connection (Starlette wraps `send` before middleware)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ABORT_SCOPE_KEY not in scope:
            abort = uvicorn_abort(send)
            if abort is not None:
                scope[ABORT_SCOPE_KEY] = abort
        await super().__call__(scope, receive, send)


def create_app(settings: MockSettings | None = None) -> Starlette:
    """A new mock application; its `MockContext` is at `app.state.mock`."""
    context = MockContext(settings or MockSettings())
    access_log = AccessLog() if context.settings.access_log else None
    app = MockApp(
        routes=_routes(),
        middleware=[Middleware(JournalMiddleware, journal=context.journal,
                               max_body_bytes=context.settings.max_body_bytes,
                               access_log=access_log)],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected_error},
    )
    app.state.mock = context
    app.state.access_log = access_log
    return app
