"""The sender: writes a `Delivery` to the server, after noting in the request's journal entry what the plan
said (`events_planned`, `delays`, the error's detail, a route's own notes). What goes out is noted by the
`send` it is given (`http.sent.NotingSend`), so its ways of cutting an answer only send.

Every answer the app gives goes out here, whatever made it (a route, the error mapping, the router), and
however it is cut (`Whole`, `Batched`, `Paced`, `Relayed`); a dropped connection too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable
from time import monotonic
from typing import Any

from starlette.types import Receive, Scope, Send

from mockserver.errors import UNEXPECTED
from mockserver.http.request import Request
from mockserver.pipeline.delivery import Batched, Delivery, Paced, Relayed, Whole, error_answer
from mockserver.world.journal import JournalEntry

log = logging.getLogger("humanloop_mock")


async def deliver(delivery: Delivery, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
    """Send `delivery` (see the module doc) with `send`, a `NotingSend` (it sets `request.sent` at the head);
    a failure before its first byte is answered as a 500, one after it drops the connection (all that is
    left to do)."""
    try:
        await _send_delivery(delivery, request, receive, send)
    except Exception:
        log.exception("Unexpected error handling %s %s", scope["method"], scope["path"])  # escaped: logsafe
        if request.sent is not None:
            raise  # the answer has started
        await _send_delivery(error_answer(UNEXPECTED), request, receive, send)


async def _send_delivery(delivery: Delivery, request: Request, receive: Receive, send: Send) -> None:
    entry = request.entry
    if entry is not None:
        note_plan(entry, delivery)
    if delivery.wait:
        await asyncio.sleep(delivery.wait)
    if delivery.drop:
        await _drop(request, receive)
        return
    await send({"type": "http.response.start", "status": delivery.status, "headers": delivery.headers})
    if type(delivery) is Whole:  # (the usual answer: one send)
        await send({"type": "http.response.body", "body": delivery.body})
    elif isinstance(delivery, Paced):
        await _paced(delivery, request, receive, send)
    elif isinstance(delivery, Relayed):
        await _relayed(delivery, request, receive, send)
    else:
        await _batched(delivery, send)


def note_plan(entry: JournalEntry, delivery: Delivery) -> None:
    """What the journal notes of the plan before anything is sent (what is sent, `http.sent` notes)."""
    if delivery.notes is not None:
        delivery.notes.write(entry)
    if delivery.error is not None:
        entry.error = delivery.error
    if delivery.events_planned is not None:
        entry.events_planned = delivery.events_planned
    if delivery.delays is not None:
        entry.delays = delivery.delays


async def _relayed(delivery: Relayed, request: Request, receive: Receive, send: Send) -> None:
    """Each chunk as it comes; a client that left stops the reading (the source is closed at once)."""
    try:
        async for chunk in delivery.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if request.client_gone:
                return
    finally:
        close = getattr(delivery.chunks, "aclose", None)
        if close is not None:
            await close()
    if delivery.cut is not None and delivery.cut():  # the source broke off: so does the answer
        await _cut(delivery.cut() or "", request, receive)
        return
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _paced(delivery: Paced, request: Request, receive: Receive, send: Send) -> None:
    """One send per event after its pause; a client that leaves during a pause ends the stream there.
    Each event is due when the pauses before it add up (from the head), so a late wake-up or a slow send
    shortens the next pause instead of delaying every later event (no drift over a long stream)."""
    gone: asyncio.Future[Any] | None = None
    due = monotonic()
    try:
        for event, pause in zip(delivery.events, delivery.pauses, strict=True):
            due += pause
            if pause and (left := due - monotonic()) > 0:
                if gone is None:
                    gone = asyncio.ensure_future(_until_disconnect(receive))
                done, _ = await asyncio.wait((gone,), timeout=left)
                if done:
                    return
            await send({"type": "http.response.body", "body": event, "more_body": True})
        if delivery.broken_off is not None:  # the answer broke off here (as recorded): so does this one
            await _cut(delivery.broken_off, request, receive)
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        if gone is not None and not gone.done():
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone


async def _batched(delivery: Batched, send: Send) -> None:
    """A few sends of whole events (an empty body: one empty send)."""
    pieces = delivery.pieces()
    last = len(pieces) - 1
    for number, piece in enumerate(pieces):
        await send({"type": "http.response.body", "body": piece, "more_body": number < last})
    if last < 0:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _cut(reason: str, request: Request, receive: Receive) -> None:
    """End an answer whose source broke off in the middle: the connection is dropped (the client sees an
    incomplete answer, as from the source itself), or, where it cannot be, the answer just ends."""
    request.closed_by = request.broken_off = reason  # (the door notes it in the journal entry, not complete)
    if request.abort is not None or transport_abort(getattr(request.connection, "transport", None)) is not None:
        await _drop(request, receive)


async def _drop(request: Request, receive: Receive) -> None:
    """Drop the connection, then wait for the server to notice."""
    abort = request.abort or transport_abort(getattr(request.connection, "transport", None))
    if abort is None:
        raise RuntimeError("the reset fault needs uvicorn or the plugin's in-process transport")
    abort()
    await _until_disconnect(receive)


def transport_abort(transport: Any) -> Callable[[], None] | None:
    """How to drop the connection of `transport` (None if it cannot be dropped)."""
    if transport is None or not hasattr(transport, "abort"):
        return None

    def abort() -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # linger 0: the peer sees a reset, not a polite close
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    return abort
