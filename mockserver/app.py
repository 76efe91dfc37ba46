"""`create_app`, and the door every request comes through: `MockApp`, a plain ASGI app.

One way through for every HTTP request: its `Request` (`http.request`), its route (`http.router`), the
world it belongs to (`world.tenants`), its body, read once (`http.body`), its journal entry, the route's
handler (`routes/` for the API, `control/` for `/__admin`), the one mapping from errors to answers
(`errors.answer_for`), and the sender (`http.deliver`), which writes the answer and journals it. The
API's paths are journaled, known or not; `/__admin` and the root `/healthz` are not (they are the
mock's own, not part of what a client sent to the API). docs/architecture.md draws the whole path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from types import SimpleNamespace

from starlette.datastructures import URL
from starlette.responses import RedirectResponse
from starlette.routing import get_route_path
from starlette.types import Receive, Scope, Send

from mockserver import logsafe
from mockserver.control.door import admin_routes
from mockserver.errors import UNEXPECTED, ApiError, answer_for
from mockserver.http.access_log import AccessLog
from mockserver.http.body import count_values, read_body, too_large, too_many_values
from mockserver.http.deliver import deliver
from mockserver.http.request import Request, request_of
from mockserver.http.router import Found, Handler, Key, Missed, Router
from mockserver.pipeline.delivery import Delivery, Whole, error_answer
from mockserver.proxy.traffic import Traffic
from mockserver.routes.api import api_routes
from mockserver.settings import MockSettings
from mockserver.world import provider_keys
from mockserver.world.auth import check_api_key
from mockserver.world.heavy import HEAVY_BODY_BYTES
from mockserver.world.journal import JournalEntry
from mockserver.world.tenants import Tenants, TenantsFull

log = logging.getLogger("humanloop_mock")
PROBE = "/healthz"  # never journaled, never makes a world
CONTROL_PREFIX = "/__admin"  # the mock's own paths: not journaled
CLIENT_LEFT = "The client disconnected before sending the whole body."


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
        request = request_of(scope)
        cycle = getattr(send, "__self__", None)
        if cycle is not None and hasattr(cycle, "disconnected"):  # uvicorn's request cycle
            request.connection = cycle
        try:
            await self._serve(request, scope, receive, send)
        finally:
            request.connection = None  # (it points at the scope, which points at the request: see `Request`)

    async def _serve(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        path = get_route_path(scope)
        found = self.router.find(scope["method"], path)
        if path == PROBE:
            request.world = self.tenants.existing(request.key)
            await self._unjournaled(found, request, scope, receive, send)
            return
        try:
            request.world = self.tenants.for_key(request.key)
        except TenantsFull as full:  # journaled in the shared world, whatever the path
            request.world = self.tenants.shared
            await self._journaled(error_answer(answer_for(full)), request, scope, receive, send)
            return
        if path.startswith(CONTROL_PREFIX):
            await self._unjournaled(found, request, scope, receive, send)
        else:
            await self._journaled(found, request, scope, receive, send)

    async def _journaled(self, found: Found | Missed | Delivery, request: Request, scope: Scope, receive: Receive,
                         send: Send) -> None:
        """Read and journal the request, answer it, journal the answer. `found` may be the answer already."""
        entry = await self._take_in(request, scope, receive)
        if entry is None:
            return  # the client left before its body ended (journaled as such; nothing to answer)
        traffic, taken = self.traffic, None
        watched = traffic.active or request.world.replay is not None
        if traffic.records:
            request.capture = traffic.capture(request, scope["path"])
        try:
            if isinstance(found, Delivery):
                answer = found
            elif entry.body_truncated:  # cut at the limit: the rest of it is never read
                answer = error_answer(too_large(self.settings.max_body_bytes))
            elif entry.error is not None:  # too many values to parse
                answer = error_answer(ApiError(413, entry.error))
            else:
                if watched:  # a cassette or the upstream may answer instead of the generator
                    taken = await traffic.take(request, scope["path"])
                answer = taken.delivery if taken is not None else await self._answer(found, request, scope)
            await self._deliver(answer, request, scope, receive, send)
        except asyncio.CancelledError:  # the server or an in-process client stopped the answer
            if not entry.completed:
                entry.client_left = True
            raise
        finally:
            if not entry.completed and request.client_gone:
                entry.client_left = True
            if entry.client_left and entry.error is None:
                entry.error = request.closed_by
            if watched:
                traffic.finished(request, entry, taken, request.capture)
            request.world.journal.finish(entry)

    async def _unjournaled(self, found: Found | Missed, request: Request, scope: Scope, receive: Receive,
                           send: Send) -> None:
        if isinstance(found, Found) and found.method in found.route.reads_body:
            limit = self.settings.max_body_bytes
            if request.declared_over(limit):
                await self._deliver(error_answer(too_large(limit)), request, scope, receive, send)
                return
            body, cut, left = await read_body(receive, limit)
            if left:
                return
            if cut:
                await self._deliver(error_answer(too_large(limit)), request, scope, receive, send)
                return
            request.body = body
        await self._deliver(await self._answer(found, request, scope), request, scope, receive, send)

    async def _take_in(self, request: Request, scope: Scope, receive: Receive) -> JournalEntry | None:
        """Read the body (within the limit), count its values and take its keys out, and journal it."""
        world, settings = request.world, self.settings
        if request.declared_over(settings.max_body_bytes):  # refused before a byte is read (no `100 Continue`)
            body, cut, left = b"", True, False
        else:
            body, cut, left = await read_body(receive, settings.max_body_bytes)
        whole = not (cut or left)
        if len(body) > HEAVY_BODY_BYTES:  # looking at a large body takes turns (`heavy`): its keys go in steps
            values = await world.turns.run(world, count_values, body, settings.max_body_values, whole)
            secrets: list[str] = []
            kept = await world.turns.steps(world, provider_keys.redaction(body, secrets))
            entry = request.entry = world.journal.open(scope, body, cut or left, kept, secrets)
        else:
            values = count_values(body, settings.max_body_values, whole)
            entry = request.entry = world.journal.open(scope, body, cut or left)
        if left:
            entry.client_left = True
            entry.error = request.closed_by or CLIENT_LEFT
            if request.answered_by is not None:  # the connection layer answered it (a body timeout, bad bytes)
                entry.note_error_answer(*request.answered_by)
                if self.access_log is not None:
                    self.access_log.request(scope, *request.answered_by)
            world.journal.finish(entry)
            return None
        if values is not None:
            entry.error = too_many_values(values, settings.max_body_values).detail
        request.body = body
        return entry

    async def _answer(self, found: Found | Missed, request: Request, scope: Scope) -> Delivery:
        """The route's answer, or the error it ran into as an answer."""
        if isinstance(found, Missed):
            return _missed(found, scope)
        route, world = found.route, request.world
        request.path_params = found.path_params
        try:
            if route.key is Key.REQUIRED or (route.key is Key.CONFIGURED and self.settings.api_keys):
                check_api_key(request.key, self.settings.api_keys)
            if len(request.body) > HEAVY_BODY_BYTES and found.method not in route.takes_turns:
                async with world.turns.turn(world):  # a large body's parse and registration (`heavy`)
                    return await found.handler(request)
            return await found.handler(request)
        except Exception as failed:
            error = answer_for(failed)
            if error is UNEXPECTED:  # a bug in the mock: logged with its traceback, answered as JSON
                log.exception("Unexpected error handling %s %s", scope["method"], scope["path"])  # escaped: logsafe
            try:
                return error_answer(error)
            finally:
                del error  # it may be the exception itself, whose traceback holds this frame: no cycle left

    async def _deliver(self, answer: Delivery, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the answer; a failure before its first byte is a 500, after it the connection is dropped."""
        try:
            await deliver(answer, request, scope, receive, send, self.access_log)
        except Exception:
            log.exception("Unexpected error handling %s %s", scope["method"], scope["path"])  # escaped: logsafe
            started = request.entry.status is not None if request.entry is not None else True
            if started:
                raise  # the answer has started: only dropping the connection is left
            await deliver(error_answer(UNEXPECTED), request, scope, receive, send, self.access_log)


def _missed(missed: Missed, scope: Scope) -> Delivery:
    """The router's own answers, as Starlette's router gives them: 307 to the other spelling of the path, 405
    with `Allow`, else 404 (not journaled as errors: no route ran)."""
    if missed.redirect is not None:
        path = scope["path"]
        other = path.rstrip("/") if path.endswith("/") else path + "/"
        redirect = RedirectResponse(url=str(URL(scope={**scope, "path": other})))
        return Whole(redirect.status_code, redirect.raw_headers, bytes(redirect.body))
    if missed.allowed is not None:
        answer = error_answer(ApiError(405, "Method Not Allowed", {"Allow": missed.allowed}))
    else:
        answer = error_answer(ApiError(404, "Not Found"))
    answer.error = None
    return answer


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
