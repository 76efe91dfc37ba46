"""The route's answer to a request, or the error it ran into as an answer: the step between reading a
request and sending what it gets.

The key check, a large body's turn (`world.heavy`), the handler, and the one mapping from errors to answers
(`errors.answer_for`) all happen here, so every route, the API's and `/__admin`'s, answers errors alike.
The router's own answers (a 404, a 405 with `Allow`, a 307 to the other spelling of the path) are made here
too, as Starlette's router gives them.
"""

from __future__ import annotations

import logging

from starlette.datastructures import URL
from starlette.responses import RedirectResponse
from starlette.types import Scope

from mockserver.errors import UNEXPECTED, ApiError, answer_for
from mockserver.http.request import Request
from mockserver.http.router import Found, Key, Missed
from mockserver.pipeline.delivery import Delivery, Whole, error_answer
from mockserver.settings import MockSettings
from mockserver.world.heavy import HEAVY_BODY_BYTES

log = logging.getLogger("humanloop_mock")


async def answer(found: Found | Missed, request: Request, scope: Scope, settings: MockSettings,
                 refusal: Exception | None = None) -> Delivery:
    """What the request gets: `refusal` answered as an error if given, else the router's or the route's answer."""
    if refusal is not None:
        return error_answer(answer_for(refusal))
    if isinstance(found, Missed):
        return missed(found, scope)
    route, world = found.route, request.world
    request.path_params = found.path_params
    try:
        needs_key = route.key is Key.REQUIRED or (route.key is Key.CONFIGURED and settings.api_keys)
        if needs_key and request.key_problem is not None:  # (`world.auth.key_problem`, asked at the door)
            raise ApiError(401, request.key_problem)
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


def missed(found: Missed, scope: Scope) -> Delivery:
    """The router's own answers, as Starlette's router gives them: 307 to the other spelling of the path, 405
    with `Allow`, else 404 (not journaled as errors: no route ran)."""
    if found.redirect is not None:
        path = scope["path"]
        other = path.rstrip("/") if path.endswith("/") else path + "/"
        redirect = RedirectResponse(url=str(URL(scope={**scope, "path": other})))
        return Whole(redirect.status_code, redirect.raw_headers, bytes(redirect.body))
    if found.allowed is not None:
        answer = error_answer(ApiError(405, "Method Not Allowed", {"Allow": found.allowed}))
    else:
        answer = error_answer(ApiError(404, "Not Found"))
    answer.error = None
    return answer
