"""`create_app`: the Starlette application, its routes and its error handlers."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from contracts.openapi import OPERATIONS
from mockserver.admin.routes import admin_routes
from mockserver.errors import ApiError, error_response
from mockserver.faults import ABORT_SCOPE_KEY, uvicorn_abort
from mockserver.middleware import JournalMiddleware
from mockserver.routes import chat, experiments, feedback, meta, model_configs
from mockserver.routes.common import Endpoint, Handler
from mockserver.settings import MockSettings
from mockserver.tenants import Tenants

log = logging.getLogger("humanloop_mock")
API_PREFIX = "/v4"


# The contract's operations (contracts.openapi.OPERATIONS) are the route table; this maps each
# operation id to its handler, and `_routes` refuses to start if the two disagree.
HANDLERS: dict[str, Handler] = {
    "Chats_createExperiment": chat.chat_experiment,
    "ModelConfigs_register": model_configs.register_model_config,
    "Experiments_list": experiments.list_experiments,
    "Experiments_create": experiments.create_experiment,
    "Experiments_update": experiments.update_experiment,
    "Experiments_delete": experiments.delete_experiment,
    "Experiments_sample": experiments.sample_config,
    "Feedback_feedback": feedback.submit_feedback,
    "Mock_health": meta.healthz,
}


def _routes() -> list[BaseRoute]:
    """One Route per path (so a 405's `Allow` lists every method of the path), plus the mock's own."""
    operation_ids = {op.operation_id for op in OPERATIONS}
    if operation_ids != set(HANDLERS):
        raise RuntimeError(f"route table and contract disagree: {sorted(operation_ids ^ set(HANDLERS))}")
    by_path: dict[str, dict[str, Handler]] = {}
    secured: dict[str, bool] = {}
    for op in OPERATIONS:
        by_path.setdefault(op.path, {})[op.method.upper()] = HANDLERS[op.operation_id]
        secured[op.path] = op.secured
    by_path["/openapi.json"] = {"GET": meta.openapi}
    secured["/openapi.json"] = False
    routes: list[BaseRoute] = [
        Route(API_PREFIX + path, Endpoint(handlers, secured=secured[path]), methods=list(handlers))
        for path, handlers in by_path.items()
    ]
    routes.append(Route("/healthz", Endpoint({"GET": meta.healthz}, secured=False), methods=["GET"]))
    return routes + admin_routes()


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
    """A new mock application. `app.state.tenants` holds its worlds; `app.state.mock` is the shared one
    (the only one without `isolate_keys`)."""
    tenants = Tenants(settings or MockSettings())
    app = MockApp(
        routes=_routes(),
        middleware=[Middleware(JournalMiddleware, tenants=tenants, max_body_bytes=tenants.settings.max_body_bytes)],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected_error},
    )
    app.state.tenants = tenants
    app.state.mock = tenants.shared
    return app
