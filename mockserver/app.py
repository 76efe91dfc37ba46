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

from mockserver.context import MockContext
from mockserver.errors import ApiError, error_response
from mockserver.middleware import JournalMiddleware
from mockserver.routes import chat, experiments, meta, model_configs
from mockserver.routes.common import api_endpoint
from mockserver.settings import MockSettings

log = logging.getLogger("humanloop_mock")
API_PREFIX = "/v4"


def _routes() -> list[Route]:
    def route(path: str, handler: Any, method: str, *, secured: bool = True) -> Route:
        return Route(API_PREFIX + path, api_endpoint(handler, secured=secured), methods=[method])

    return [
        route("/chat-experiment", chat.chat_experiment, "POST"),
        route("/model-configs", model_configs.register_model_config, "POST"),
        route("/projects/{project_id}/experiments", experiments.list_experiments, "GET"),
        route("/projects/{project_id}/experiments", experiments.create_experiment, "POST"),
        route("/experiments/{experiment_id}", experiments.update_experiment, "PATCH"),
        route("/experiments/{experiment_id}", experiments.delete_experiment, "DELETE"),
        route("/experiments/{experiment_id}/model-config", experiments.sample_config, "GET"),
        route("/healthz", meta.healthz, "GET", secured=False),
        route("/openapi.json", meta.openapi, "GET", secured=False),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(ApiError(exc.status_code, exc.detail, exc.headers))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug in the mock: logged with its traceback, answered as JSON (never an HTML page)."""
    log.exception("Unexpected error handling %s %s", request.method, request.url.path)
    return error_response(ApiError(500, "Internal error in humanloop-mock; please report it with the log."))


def create_app(settings: MockSettings | None = None) -> Starlette:
    """A new mock application; its `MockContext` is at `app.state.mock`."""
    context = MockContext(settings or MockSettings())
    app = Starlette(
        routes=_routes(),
        middleware=[Middleware(JournalMiddleware, journal=context.journal,
                               max_body_bytes=context.settings.max_body_bytes)],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected_error},
    )
    app.state.mock = context
    return app
