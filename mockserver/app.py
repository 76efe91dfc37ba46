"""`create_app`, and the door every request comes through: `MockApp`, a plain ASGI app.

One way through for every HTTP request, in `MockApp._serve`: its `Request` (`http.request`), its route
(`http.router`), its key's verdict (`world.auth`) and the world it belongs to (`world.tenants`), its body,
read once and journaled (`http.intake`), the route's handler or the error it ran into as an answer
(`http.dispatch`: `routes/` for the API, `control/` for `/__admin`, `errors.answer_for` for errors), the
sender (`http.deliver`), which writes the answer through a `send` that journals it as it goes
(`http.sent`), and the access-log line. The API's paths are journaled, known or not; `/__admin` and the
root `/healthz` are not (they are the mock's own, not part of what a client sent to the API).
docs/architecture.md draws the whole path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import SimpleNamespace

from starlette.routing import get_route_path
from starlette.types import Receive, Scope, Send

from mockserver import logsafe
from mockserver.control.door import admin_routes
from mockserver.http.access_log import AccessLog
from mockserver.http.deliver import deliver
from mockserver.http.dispatch import answer
from mockserver.http.intake import take_in
from mockserver.http.request import SHUTDOWN_CUT, Request, request_of
from mockserver.http.router import Found, Handler, Router
from mockserver.http.sent import NotingSend
from mockserver.proxy.traffic import Traffic
from mockserver.routes.api import api_routes
from mockserver.settings import MockSettings
from mockserver.world.auth import key_problem
from mockserver.world.tenants import Tenants, TenantsFull

PROBE = "/healthz"  # never journaled, never makes a world
CONTROL_PREFIX = "/__admin"  # the mock's own paths: not journaled


class MockApp:
    """The mock (see the module doc). `state.tenants` holds its worlds, `state.mock` is the shared one (the
    only one without `isolate_keys`), `state.access_log` is `serve`'s access log, if on."""

    def __init__(self, settings: MockSettings, sources: Mapping[str, Handler] | None = None) -> None:
        self.settings = settings
        self.tenants = Tenants(settings)
        self.access_log = AccessLog() if settings.access_log else None
        self.router = Router([*api_routes(sources), *admin_routes(self.tenants)])
        # Cassettes, an upstream and the passive checker (`proxy.traffic`): idle unless a flag or a fixture
        # loads a cassette.
        self.traffic = self.tenants.traffic = Traffic.from_settings(settings)
        self.state = SimpleNamespace(tenants=self.tenants, mock=self.tenants.shared, access_log=self.access_log,
                                     traffic=self.traffic)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await _not_http(scope, receive, send)
            return
        await self._serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Make the request's object; find the route and the world; read (and journal) the request; answer it;
        send and journal the answer; log it."""
        request = request_of(scope)
        cycle = getattr(send, "__self__", None)
        if cycle is not None and hasattr(cycle, "disconnected"):  # uvicorn's request cycle
            request.connection = cycle
        entry, watched, taken = None, False, None
        try:
            path = get_route_path(scope)
            found = self.router.find(scope["method"], path, scope.get("raw_path"))
            refusal: Exception | None = None
            journaled = path != PROBE and not path.startswith(CONTROL_PREFIX)
            key = request.api_key or None
            request.key_problem = key_problem(key, self.settings.api_keys)
            if request.key_problem is not None:
                key = None  # (a refused key has no world of its own)
            try:  # (`/healthz` makes no world, and moves none in the least-recently-used order)
                request.world = self.tenants.for_key(key, create=path != PROBE)
            except TenantsFull as full:  # journaled in the shared world, whatever the path
                request.world, refusal, journaled = self.tenants.shared, full, True
            reads_body = journaled or (isinstance(found, Found) and found.method in found.route.reads_body)
            entry, refused, left = await take_in(request, scope, receive, self.settings, reads_body, journaled)
            if left:
                return  # the client left before its body ended (journaled as such; nothing to answer)
            traffic = self.traffic
            watched = entry is not None and (traffic.active or request.world.replay is not None)
            if watched and traffic.records:
                request.capture = traffic.capture(request, scope["path"])
            refusal = refusal or refused
            send = NotingSend(request, send)  # (what goes out is noted in the journal entry as it goes)
            if watched and refusal is None:  # a cassette or the upstream may answer instead of the generator
                taken = await traffic.take(request, scope["path"])
            delivery = taken.delivery if taken is not None else await answer(found, request, scope, self.settings,
                                                                             refusal)
            await deliver(delivery, request, scope, receive, send)
        except asyncio.CancelledError as cancelled:  # the server or an in-process client stopped the answer
            if entry is not None and not entry.completed:
                entry.client_left = True
                if "graceful shutdown" in str(cancelled) and request.sent is not None:  # (uvicorn's words)
                    request.closed_by = request.closed_by or SHUTDOWN_CUT
            raise
        finally:
            if entry is not None:
                if not entry.completed and (request.client_gone or request.closed_by is not None):
                    entry.client_left = True  # (it left, or the connection was dropped before the end)
                if entry.client_left and entry.error is None:
                    entry.error = request.closed_by
                if watched:
                    self.traffic.finished(request, entry, taken, request.capture)
                request.world.journal.finish(entry)
            self._log(request, scope)
            request.connection = None  # (it points at the scope, which points at the request: see `Request`)

    def _log(self, request: Request, scope: Scope) -> None:
        """The access-log line of a request that is over: what it was answered, by the app or the connection
        layer (nothing, if the connection was dropped unanswered)."""
        answered = request.sent or request.answered_by
        if self.access_log is not None and answered is not None:
            status, error = answered
            self.access_log.request(scope, status, request.entry.hidden(error) if request.entry else error)


async def _not_http(scope: Scope, receive: Receive, send: Send) -> None:
    """Lifespan events are acknowledged (there is nothing to start or stop); a WebSocket is closed (the
    server answers upgrade requests as plain HTTP, so only another server would send one)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1000})


def create_app(settings: MockSettings | None = None, *, sources: Mapping[str, Handler] | None = None) -> MockApp:
    """A new mock application (see `MockApp`). `sources`: handlers that answer API operations (by operation
    id, e.g. `"Chats_createExperiment"`) instead of the generator, each returning a `Delivery` (the delivery
    seam: docs/architecture.md); the door reads, journals and sends their answers as it does its own."""
    logsafe.install()
    return MockApp(settings or MockSettings(), sources)
