"""How an answer goes out, as a value: its status and headers, then its body in one of four forms, and what
the journal notes about it. The door's sender (`mockserver.http.deliver`) writes any of them the same way.

- `Whole`: the body in one send (a JSON answer, an error, a page).
- `Batched`: whole server-sent events with no pauses, in a few sends of whole events (`SEND_LIMIT`).
- `Paced`: events one send each, each after its own pause (a timing profile, a delay fault, a recording
  replayed at its pace).
- `Relayed`: chunks sent as they come from an async iterator (a long listing, an upstream's answer).

`wait` is a pause before the status line (a latency fault, a timed JSON answer's wait, a recording's
time to its first byte); `drop` drops the connection instead of answering (the reset fault). The notes
(`events_planned`, `delays`, `error`, and a route's own `notes`: anything with `write(entry)`, such as a chat
call's `outgoing.ChatNotes`) are what the journal records of the plan, next to what was sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from mockserver import jsonio
from mockserver.errors import ApiError, error_body

JSON_TYPE = b"application/json"
EVENT_STREAM_HEADERS = (
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"content-type", b"text/event-stream; charset=utf-8"),
)
# Without per-event timing a stream goes out in pieces of at most this many bytes, each made of whole
# events: few sends, and small enough for any client's read buffer (curl hands over 16 KiB at a time).
SEND_LIMIT = 16 * 1024

Headers = list[tuple[bytes, bytes]]

if TYPE_CHECKING:
    from mockserver.world.journal import JournalEntry


class JournalNotes(Protocol):
    """What a route has to say in the journal about its answer (written before the first byte is sent)."""

    def write(self, entry: JournalEntry) -> None: ...


class Delivery:
    """What every form shares: the head, the pause before it, and the journal's notes."""

    __slots__ = ("delays", "drop", "error", "events_planned", "headers", "notes", "status", "wait")

    def __init__(self, status: int, headers: Headers, *, wait: float = 0.0, error: Any = None) -> None:
        self.status = status
        self.headers = headers
        self.wait = wait
        self.error = error  # the error answer's detail (the journal's `error`)
        self.drop = False
        self.events_planned: int | None = None
        self.delays: tuple[float, ...] | None = None  # a timing profile's pauses, as the journal shows them
        self.notes: JournalNotes | None = None


class Whole(Delivery):
    __slots__ = ("body",)

    def __init__(self, status: int, headers: Headers, body: bytes, *, wait: float = 0.0, error: Any = None) -> None:
        super().__init__(status, headers, wait=wait, error=error)
        self.body = body


class Batched(Delivery):
    """Whole events, no pauses, already cut into pieces of at most `SEND_LIMIT` bytes, whole events each
    (`whole_event_batches`, or a stream template's own cuts: `json_cache.batched_stream`)."""

    __slots__ = ("cut",)

    def __init__(self, pieces: list[bytes], events_planned: int | None = None) -> None:
        super().__init__(200, list(EVENT_STREAM_HEADERS))
        self.cut = pieces
        self.events_planned = events_planned

    def pieces(self) -> list[bytes]:
        return self.cut


class Paced(Delivery):
    """One send per event, after its pause (`pauses[i]` seconds before `events[i]`). `broken_off`: why the
    answer broke off there (a recording of one that did, replayed): the connection is dropped after the last
    event."""

    __slots__ = ("broken_off", "events", "pauses")

    def __init__(self, status: int, headers: Headers, events: Sequence[bytes], pauses: Sequence[float], *,
                 wait: float = 0.0, broken_off: str | None = None) -> None:
        super().__init__(status, headers, wait=wait)
        self.events = events
        self.pauses = pauses
        self.events_planned = len(events)
        self.broken_off = broken_off


class Relayed(Delivery):
    """Chunks sent as `chunks` yields them. `cut`, once they are all sent, says why the source broke off
    (None: it did not), and the connection is dropped instead of the answer ending cleanly."""

    __slots__ = ("chunks", "cut")

    def __init__(self, status: int, headers: Headers, chunks: AsyncIterator[bytes],
                 cut: Callable[[], str | None] | None = None) -> None:
        super().__init__(status, headers)
        self.chunks = chunks
        self.cut = cut


def json_head(length: int) -> Headers:
    """The head Starlette's `Response` writes for a JSON body (content-length, content-type)."""
    return [(b"content-length", b"%d" % length), (b"content-type", JSON_TYPE)]


def json_answer(body: bytes, status: int = 200) -> Whole:
    """A JSON answer already serialised."""
    return Whole(status, json_head(len(body)), body)


def json_value(value: Any, status: int = 200) -> Whole:
    return json_answer(jsonio.dumps(value), status)


def empty(status: int = 204) -> Whole:
    """An answer without a body (no `content-length` for 204 and 304, as Starlette writes it)."""
    headers = [] if status in (204, 304) or status < 200 else [(b"content-length", b"0")]
    return Whole(status, headers, b"")


def typed(body: bytes, content_type: str, headers: Mapping[str, str] | None = None, status: int = 200) -> Whole:
    """A body of any type, with extra headers first (as Starlette's `Response` orders them)."""
    head = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (headers or {}).items()]
    head += [(b"content-length", b"%d" % len(body)), (b"content-type", content_type.encode("latin-1"))]
    return Whole(status, head, body)


def error_answer(failure: ApiError) -> Whole:
    """The answer to an error, in the upstream shape; the journal notes its detail."""
    body = error_body(failure.detail)
    head = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in failure.headers.items()]
    head += json_head(len(body))
    return Whole(failure.status, head, body, error=failure.detail)


def dropped(wait: float = 0.0) -> Delivery:
    """No answer: the connection is dropped (after `wait`)."""
    delivery = Delivery(0, [], wait=wait)
    delivery.drop = True
    return delivery


def whole_event_batches(body: bytes, limit: int = SEND_LIMIT) -> list[bytes]:
    """`body` (whole events) cut into pieces of at most `limit` bytes, each made of whole events
    (an event longer than `limit` goes alone). Cut only after a blank line, so no event, and no
    UTF-8 character, is ever split between two sends."""
    batches = []
    start, size = 0, len(body)
    while size - start > limit:
        end = body.rfind(b"\n\n", start, start + limit)
        if end < 0:
            end = body.find(b"\n\n", start + limit - 1)
            if end < 0:
                break
        batches.append(body[start:end + 2])
        start = end + 2
    if start < size:
        batches.append(body[start:])
    return batches
