"""Making an exchange: from its parts (`build_exchange`), or as it happens (`ExchangeCapture`).

Both go through `redact_exchange`, so no exchange made here holds a key. Offsets are in ms from the
request's start: the moment the capture is made, which the server does once the request's body is in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

from mockserver.recording.events import EventSplitter, is_event_stream
from mockserver.recording.har import (
    Content,
    Exchange,
    NameValue,
    Pace,
    PostData,
    Request,
    Response,
    StreamEvent,
    Timings,
    pack,
)
from mockserver.recording.redact import redact_exchange

Headers = Sequence[tuple[str, str]]
# A captured stream keeps at most this many events one by one; the rest of a longer one is kept as one
# last piece (the same bytes; replay sends them at once). Each event costs about a kilobyte and a few
# microseconds of redaction when the exchange is written: an upstream streaming millions of tiny events
# would otherwise hold gigabytes and stall the server for minutes while the exchange is finished.
MAX_CAPTURED_EVENTS = 10_000


def _header(headers: Headers, name: str) -> str:
    return next((value for key, value in headers if key.lower() == name), "")


def _ms(value: float) -> float:
    return round(max(value, 0.0), 3)


def iso_time(moment: datetime) -> str:
    """HAR's `startedDateTime`: ISO 8601 with milliseconds and the zone."""
    return moment.isoformat(timespec="milliseconds")


def build_exchange(*, method: str, url: str, request_headers: Headers, request_body: bytes, status: int,
                   response_headers: Headers, body: bytes = b"", events: Sequence[tuple[float, bytes]] | None = None,
                   head_ms: float = 0.0, end_ms: float | None = None, started: datetime | None = None,
                   pace: Pace = "live", reason: str = "", http_version: str = "HTTP/1.1",
                   comment: str | None = None, broken_off: str | None = None) -> Exchange:
    """One exchange, redacted. A stream gives `events` as (offset ms, bytes) and no `body`; `head_ms`
    is when the response's status and headers went out, `end_ms` when its last byte did (default:
    the last event's offset, or `head_ms`); `broken_off`: why the answer ended before its end, if it did."""
    if events is not None:
        body = b"".join(data for _, data in events)
        end_ms = max([end_ms or 0.0, head_ms, *(offset for offset, _ in events)])
    end = _ms(head_ms if end_ms is None else max(end_ms, head_ms))
    request_text, request_encoding = pack(request_body)
    body_text, body_encoding = pack(body)
    content_type = _header(request_headers, "content-type")
    request = Request(
        method=method.upper(), url=url, http_version=http_version,
        headers=[NameValue(name=n, value=v) for n, v in request_headers],
        query_string=[NameValue(name=n, value=v) for n, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)],
        post_data=(PostData(mime_type=content_type, text=request_text, encoding=request_encoding)
                   if request_body or content_type else None),
        body_size=len(request_body),
    )
    stream_events = None if events is None else [
        StreamEvent(offset_ms=_ms(offset), **dict(zip(("text", "encoding"), pack(data), strict=True)))
        for offset, data in events
    ]
    response = Response(
        status=status, status_text=reason, http_version=http_version,
        headers=[NameValue(name=n, value=v) for n, v in response_headers],
        content=Content(size=len(body), mime_type=_header(response_headers, "content-type"), text=body_text,
                        encoding=body_encoding, events=stream_events),
        body_size=len(body),
    )
    exchange = Exchange(
        started_date_time=iso_time(started or datetime.now(UTC)), time=end, request=request, response=response,
        timings=Timings(send=0, wait=_ms(head_ms), receive=_ms(end - _ms(head_ms))), pace=pace, comment=comment,
        broken_off=broken_off,
    )
    return redact_exchange(exchange)


class ExchangeCapture:
    """One exchange recorded as it passes: make it when the request is in, tell it the response's head
    and each piece of body as it is sent (or relayed), then `finish()`. A stream's pieces are cut into
    events at blank lines, each stamped when its last byte passed, whatever the pieces were."""

    def __init__(self, method: str, url: str, headers: Headers, body: bytes, *,
                 clock: Callable[[], float] = time.monotonic, started: datetime | None = None) -> None:
        self._clock = clock
        self._start = clock()
        self._started = started or datetime.now(UTC)
        self._request = (method, url, list(headers), body)
        self._status = 0
        self._reason = ""
        self._headers: list[tuple[str, str]] = []
        self._head_ms = 0.0
        self._chunks: list[bytes] = []
        self._events: list[tuple[float, bytes]] | None = None
        self._splitter = EventSplitter()
        self._rest: list[bytes] | None = None  # a stream's bytes past `MAX_CAPTURED_EVENTS`, kept as one piece
        self._last_bytes_ms = 0.0

    def _now_ms(self) -> float:
        return (self._clock() - self._start) * 1000

    def response_head(self, status: int, headers: Headers, reason: str = "") -> None:
        self._status, self._reason, self._headers = status, reason, list(headers)
        self._head_ms = self._now_ms()
        if is_event_stream(_header(headers, "content-type")):
            self._events = []

    def response_bytes(self, data: bytes) -> None:
        if self._events is None:
            self._chunks.append(data)
            return
        self._last_bytes_ms = self._now_ms()
        if self._rest is not None:
            self._rest.append(data)
            return
        events = self._splitter.feed(data)
        room = MAX_CAPTURED_EVENTS - 1 - len(self._events)
        if len(events) > room:  # the last piece takes the rest of the stream, whatever it holds
            self._rest = [*events[room:], *self._splitter.close()]
            events = events[:room]
        self._events.extend((self._last_bytes_ms, event) for event in events)

    def finish(self, comment: str | None = None, broken_off: str | None = None) -> Exchange:
        """The exchange, redacted. Call once, after the last byte (or when the client went away); an
        exchange whose response never started has nothing to replay (ValueError)."""
        if not self._status:
            raise ValueError("no response head was captured: an exchange without a response is not recorded")
        end = self._now_ms()
        if self._events is not None:
            last = self._splitter.close() if self._rest is None else [b"".join(self._rest)]
            self._events.extend((self._last_bytes_ms, event) for event in last if event)
        method, url, headers, body = self._request
        return build_exchange(method=method, url=url, request_headers=headers, request_body=body,
                              status=self._status, reason=self._reason, response_headers=self._headers,
                              body=b"".join(self._chunks), events=self._events, head_ms=self._head_ms,
                              end_ms=end, started=self._started, comment=comment, broken_off=broken_off)
