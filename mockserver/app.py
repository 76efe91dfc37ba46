"""`create_app`: the Starlette application, its routes and its error handlers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from contracts.openapi import OPERATIONS
from mockserver import logsafe
from mockserver.control.routes import admin_routes
from mockserver.errors import ApiError, error_response
from mockserver.http.access_log import AccessLog
from mockserver.http.connection import CONNECTION_SCOPE_KEY
from mockserver.http.middleware import Journaling, JournalMiddleware
from mockserver.routes import chat, experiments, feedback, meta, model_configs
from mockserver.routes.common import CONTEXT_SCOPE_KEY, Endpoint, Handler, request_headers
from mockserver.settings import MockSettings
from mockserver.world.tenants import Tenants, TenantsFull

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


def _endpoints() -> dict[str, Endpoint]:
    """The API's endpoints by path template: one per path (so a 405's `Allow` lists every method)."""
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
    return {API_PREFIX + path: Endpoint(handlers, secured=secured[path]) for path, handlers in by_path.items()}


def _routes(endpoints: dict[str, Endpoint]) -> list[BaseRoute]:
    routes: list[BaseRoute] = [Route(path, endpoint, methods=list(endpoint.handlers))
                               for path, endpoint in endpoints.items()]
    routes.append(Route("/healthz", Endpoint({"GET": meta.healthz}, secured=False), methods=["GET"]))
    return routes + admin_routes()


def _direct_routes(endpoints: dict[str, Endpoint]) -> dict[tuple[str, str], Endpoint]:
    """(method, path) -> endpoint for every API path without parameters: what `MockApp` serves itself."""
    return {(method, path): endpoint for path, endpoint in endpoints.items() if "{" not in path
            for method in endpoint.handlers}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(ApiError(exc.status_code, exc.detail, exc.headers))


UNEXPECTED = ApiError(500, "Internal error in humanloop-mock; please report it with the log.")


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug in the mock: logged with its traceback, answered as JSON (never an HTML page)."""
    log.exception("Unexpected error handling %s %s", request.method, request.url.path)  # escaped: logsafe
    return error_response(UNEXPECTED)


class MockApp(Starlette):
    """Starlette for the mock's own pages, unknown paths and paths with parameters; the API's fixed
    paths (`POST /v4/chat-experiment` above all) are served directly, without Starlette's middleware
    stack and router on their way: the same journaling (`Journaling`), the same endpoint, the same
    error answers, about half the cost per request. Outermost, it also keeps the server's request
    cycle, so the reset fault can drop the connection and the journal can tell whether the client is
    still there (Starlette wraps `send` before any middleware)."""

    def __init__(self, *, tenants: Tenants, journaling: Journaling, direct: dict[tuple[str, str], Endpoint],
                 **starlette: Any) -> None:
        super().__init__(**starlette)
        self.tenants = tenants
        self.journaling = journaling
        self.direct = direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        connection = getattr(send, "__self__", None)
        if connection is not None and hasattr(connection, "disconnected"):  # uvicorn's request cycle
            scope[CONNECTION_SCOPE_KEY] = connection
        try:
            endpoint = self.direct.get((scope["method"], scope["path"]))
            if endpoint is not None:
                await self._direct(endpoint, scope, receive, send)
            else:
                await super().__call__(scope, receive, send)
        finally:
            # The cycle points at this scope: left in it, the two would form a reference cycle, and
            # every request would leave garbage for the collector (which cost more than the rest of
            # the app put together) and keep its body and answer alive until then.
            scope.pop(CONNECTION_SCOPE_KEY, None)

    async def _direct(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        journaling = self.journaling
        try:
            context = scope[CONTEXT_SCOPE_KEY] = self.tenants.for_key(request_headers(scope).get("x-api-key") or None)
        except TenantsFull as full:
            await journaling.refuse(full.error(), self.tenants.shared, scope, receive, send)
            return
        entry = await journaling.open(scope, receive, context)
        if entry is None:
            return  # the client left before its body ended
        try:
            if entry.body_truncated or entry.error is not None:  # (`journaling.refused`, inline: every call)
                response = journaling.refusal(entry)
            else:  # the body was read: what the route may still receive is the server's own messages
                response = await endpoint.respond(Request(scope, receive))
            await journaling.deliver(response, entry, scope, receive, send)
        except asyncio.CancelledError:  # the server stopped the answer
            if not entry.completed:
                entry.client_left = True
            raise
        except Exception:
            # What Starlette's error middleware and `_unexpected_error` do for routed paths.
            log.exception("Unexpected error handling %s %s", scope["method"], scope["path"])  # escaped: logsafe
            if entry.status is not None:
                raise  # the answer has started: only dropping the connection is left
            await journaling.deliver(error_response(UNEXPECTED), entry, scope, receive, send)
        finally:
            journaling.finish(entry, scope, context)


def create_app(settings: MockSettings | None = None) -> Starlette:
    """A new mock application. `app.state.tenants` holds its worlds; `app.state.mock` is the shared one
    (the only one without `isolate_keys`); `app.state.access_log` is `serve`'s access log, if on."""
    logsafe.install()
    tenants = Tenants(settings or MockSettings())
    access_log = AccessLog() if tenants.settings.access_log else None
    journaling = Journaling(tenants.settings.max_body_bytes, access_log, tenants.settings.max_body_values)
    endpoints = _endpoints()
    app = MockApp(
        tenants=tenants,
        journaling=journaling,
        direct=_direct_routes(endpoints),
        routes=_routes(endpoints),
        middleware=[Middleware(JournalMiddleware, tenants=tenants, journaling=journaling)],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected_error},
    )
    app.state.tenants = tenants
    app.state.mock = tenants.shared
    app.state.access_log = access_log
    return app
