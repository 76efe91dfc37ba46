"""The first step of every request: read its body (within the limits), and for the API's paths count its
values, take its keys out, and open its journal entry, before anything parses it.

Whatever happens, an API request is journaled: a body over the limit (cut there), one with too many values,
one the client stopped sending (and, if the connection layer answered it, with that answer). What the door
should answer instead of running the route comes back as a refusal (a 413).
"""

from __future__ import annotations

from starlette.types import Receive, Scope

from mockserver.errors import ApiError
from mockserver.http.body import count_values, read_body, too_large, too_many_values
from mockserver.http.request import Request
from mockserver.settings import MockSettings
from mockserver.world import provider_keys
from mockserver.world.heavy import HEAVY_BODY_BYTES
from mockserver.world.journal import JournalEntry

CLIENT_LEFT = "The client disconnected before sending the whole body."


async def take_in(request: Request, scope: Scope, receive: Receive, settings: MockSettings, read: bool = True,
                  journal: bool = True) -> tuple[JournalEntry | None, ApiError | None, bool]:
    """(the request's journal entry, the 413 to answer instead of the route, whether the client left before its
    body ended). `read`: whether the route reads a body; `journal`: whether the path is journaled (the API's).
    Sets `request.body` and `request.entry`."""
    if not read:
        return None, None, False
    world = request.world
    body, cut, left = await read_body(receive, settings.max_body_bytes, request.content_length)
    request.body = body
    if not journal:
        return None, too_large(settings.max_body_bytes) if cut else None, left
    whole = not (cut or left)
    if len(body) > HEAVY_BODY_BYTES:  # looking at a large body takes turns (`heavy`): its keys go in steps
        values = await world.turns.run(world, count_values, body, settings.max_body_values, whole)
        secrets: list[str] = []
        kept = await world.turns.steps(world, provider_keys.redaction(body, secrets))
        entry = world.journal.open(scope, body, cut or left, kept, secrets)
    else:
        values = count_values(body, settings.max_body_values, whole)
        entry = world.journal.open(scope, body, cut or left)
    request.entry = entry
    if left:
        entry.client_left = True
        entry.error = request.closed_by or CLIENT_LEFT
        if request.answered_by is not None:  # the connection layer answered it (a body timeout, bad bytes)
            entry.note_error_answer(*request.answered_by)
        return entry, None, True
    if cut:  # cut at the limit: the rest of it is never read
        return entry, too_large(settings.max_body_bytes), False
    if values is not None:
        entry.error = too_many_values(values, settings.max_body_values).detail
        return entry, ApiError(413, entry.error), False
    return entry, None, False
