"""How a stream goes out: in a few sends of whole events, or one send per event when timed.

A stream with no per-event timing is known in full before its first byte is sent, so it is written
in pieces of whole events (`whole_event_batches`): two or three sends instead of one per event, and
no background task listening for a disconnect. With pauses (a config's timing profile, or an event
delay fault), each event is its own send at its own time, through Starlette's `StreamingResponse`.
The bytes, the status and the headers are the same either way (tests hold them to it); only how they
are cut into sends differs.
"""

from __future__ import annotations

from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from mockserver.pipeline.stream import SEND_LIMIT, whole_event_batches
from mockserver.spec.faults import FaultPlan, shaped_stream

MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_RAW_HEADERS = [
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"content-type", b"text/event-stream; charset=utf-8"),
]


class BatchedEventStream(Response):
    """A stream of whole events, written in pieces of at most `limit` bytes (whole events each)."""

    media_type = MEDIA_TYPE

    def __init__(self, body: bytes, limit: int = SEND_LIMIT) -> None:
        self.status_code = 200
        self.background = None
        self.batches = whole_event_batches(body, limit)
        self.raw_headers = list(_RAW_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        last = len(self.batches) - 1
        for number, batch in enumerate(self.batches):
            await send({"type": "http.response.body", "body": batch, "more_body": number < last})
        if last < 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def timed_event_stream(events: list[bytes], plan: FaultPlan | None, delays: list[float]) -> StreamingResponse:
    """One send per event, each after its pause (`faults.event_delays`), cut or damaged as `plan` says."""
    return StreamingResponse(shaped_stream(events, plan, delays), media_type=MEDIA_TYPE, headers=HEADERS)
