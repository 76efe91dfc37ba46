"""The first step of every journaled request: read its body (within the limits), count its values, take its
keys out, and open its journal entry, before anything parses it.

Whatever happens, the request is journaled: a body over the limit (cut there), one with too many values, one
the client stopped sending (and, if the connection layer answered it, with that answer). What the door should
answer instead of running the route comes back with the entry as a refusal (a 413).
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


async def take_in(request: Request, scope: Scope, receive: Receive, settings: MockSettings
                  ) -> tuple[JournalEntry, ApiError | None]:
    """The request's journal entry (`client_left` set if the client left before its body ended), and the 413
    to answer instead of the route, if any. Sets `request.body` and `request.entry`."""
    world = request.world
    if request.declared_over(settings.max_body_bytes):  # refused before a byte is read (no `100 Continue`)
        body, cut, left = b"", True, False
    else:
        body, cut, left = await read_body(receive, settings.max_body_bytes)
    whole = not (cut or left)
    if len(body) > HEAVY_BODY_BYTES:  # looking at a large body takes turns (`heavy`): its keys go in steps
        values = await world.turns.run(world, count_values, body, settings.max_body_values, whole)
        secrets: list[str] = []
        kept = await world.turns.steps(world, provider_keys.redaction(body, secrets))
        entry = world.journal.open(scope, body, cut or left, kept, secrets)
    else:
        values = count_values(body, settings.max_body_values, whole)
        entry = world.journal.open(scope, body, cut or left)
    request.entry, request.body = entry, body
    if left:
        entry.client_left = True
        entry.error = request.closed_by or CLIENT_LEFT
        if request.answered_by is not None:  # the connection layer answered it (a body timeout, bad bytes)
            entry.note_error_answer(*request.answered_by)
        return entry, None
    if cut:  # cut at the limit: the rest of it is never read
        return entry, too_large(settings.max_body_bytes)
    if values is not None:
        entry.error = too_many_values(values, settings.max_body_values).detail
        return entry, ApiError(413, entry.error)
    return entry, None
