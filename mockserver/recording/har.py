"""The cassette format: a HAR 1.2 file whose entries are exchanges, plus four extension fields.

HAR (HTTP Archive 1.2) is what browsers, proxies and HAR viewers already read and write, so a cassette
opens in any of them. HAR has no notion of a stream's events, so we add (HAR allows custom fields
whose names start with `_`):

- `log._humanloopMock`: `{"format": 1}`, marking the file as a cassette of ours (a plain HAR has to go
  through `cassette import` first, which splits its streams into events);
- `entry._pace`: how the offsets of that exchange were obtained (`Pace` below);
- `entry._brokenOff`: why the answer broke off before its end (the upstream's connection dropped, a
  cut relay), absent for an answer that ended; a replay ends that answer the same way, by dropping
  the connection after its last byte;
- `entry.response.content._events`: for a stream, each event's exact bytes (`text`, or base64 with
  `encoding`) and `offsetMs`, when its last byte passed, in ms from the request's start.

Python names are snake_case; on disk they are HAR's camelCase (`alias_generator`). docs/recording.md
lists every field.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic.alias_generators import to_camel

FORMAT = 1
# What HTTP lets a header be (RFC 9110 5.1, 5.5): a name is a token; a value has no CR, LF or NUL.
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
BAD_HEADER_VALUE = re.compile(r"[\r\n\x00]")
MARKER = "_humanloopMock"
SSE_MEDIA_TYPE = "text/event-stream"

# How an exchange's offsets were obtained: `live`, measured as the bytes passed (the recorder);
# `estimated`, spread over a HAR's total `wait` and `receive` times (imported HAR: no per-event times);
# `none`, no timing known (vcrpy): every offset is 0 and replay never waits.
Pace = Literal["live", "estimated", "none"]


def pack(data: bytes) -> tuple[str, Literal["base64"] | None]:
    """Bytes as HAR text: UTF-8 as is, anything else as base64 (HAR's `encoding`)."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def unpack(text: str, encoding: str | None) -> bytes:
    return base64.b64decode(text, validate=True) if encoding == "base64" else text.encode("utf-8")


class HarModel(BaseModel):
    """Fields other tools add to a HAR are ignored, so an edited or enriched cassette still loads."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              allow_inf_nan=False)


class NameValue(HarModel):
    name: str
    value: str


class PostData(HarModel):
    """The request body as received: UTF-8 `text`, or base64 with `_encoding` (HAR has no such field)."""

    mime_type: str = ""
    text: str = ""
    encoding: Literal["base64"] | None = Field(default=None, alias="_encoding")


class Request(HarModel):
    method: str = Field(min_length=1)
    url: str = Field(min_length=1)
    http_version: str = "HTTP/1.1"
    cookies: list[Any] = Field(default_factory=list)
    headers: list[NameValue] = Field(default_factory=list)
    query_string: list[NameValue] = Field(default_factory=list)
    post_data: PostData | None = None
    headers_size: int = -1
    body_size: int = -1

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    def body(self) -> bytes:
        return unpack(self.post_data.text, self.post_data.encoding) if self.post_data else b""

    def header_pairs(self) -> list[tuple[str, str]]:
        return [(h.name, h.value) for h in self.headers]


class StreamEvent(HarModel):
    """One server-sent event: its exact bytes (blank line included) and when its last byte passed."""

    offset_ms: float = Field(ge=0)
    text: str
    encoding: Literal["base64"] | None = None

    def data(self) -> bytes:
        return unpack(self.text, self.encoding)


class Content(HarModel):
    size: int = Field(ge=0)
    mime_type: str = ""
    text: str = ""
    encoding: Literal["base64"] | None = None
    events: list[StreamEvent] | None = Field(default=None, alias="_events")

    def body(self) -> bytes:
        return unpack(self.text, self.encoding)


class Response(HarModel):
    status: int = Field(ge=200, le=599)  # a final answer: a 1xx is interim, never what a request ends with
    status_text: str = ""
    http_version: str = "HTTP/1.1"
    cookies: list[Any] = Field(default_factory=list)
    headers: list[NameValue] = Field(default_factory=list)
    content: Content
    redirect_url: str = Field(default="", alias="redirectURL")
    headers_size: int = -1
    body_size: int = -1

    @field_validator("headers")
    @classmethod
    def _sendable(cls, headers: list[NameValue]) -> list[NameValue]:
        """Replay sends these headers as they are: one HTTP cannot carry would break the replaying
        server's answer mid-way, so it is refused when the cassette loads."""
        for header in headers:
            if not HEADER_NAME.fullmatch(header.name):
                raise ValueError(f"header name {header.name!r} is not an HTTP token")
            if BAD_HEADER_VALUE.search(header.value):
                raise ValueError(f"header {header.name!r}: a value may not hold CR, LF or NUL")
        return headers

    def header_pairs(self) -> list[tuple[str, str]]:
        return [(h.name, h.value) for h in self.headers]


class Timings(HarModel):
    """HAR's phases, in ms. The recorder writes `send` 0, `wait` = until the response's head,
    `receive` = from the head to the last byte; -1 means "does not apply", as HAR says."""

    blocked: float = -1
    dns: float = -1
    connect: float = -1
    send: float = Field(default=0, ge=-1)
    wait: float = Field(default=0, ge=-1)
    receive: float = Field(default=0, ge=-1)
    ssl: float = -1


class Exchange(HarModel):
    """One request and what answered it: a HAR entry."""

    started_date_time: str
    time: float = Field(ge=0)
    request: Request
    response: Response
    cache: dict[str, Any] = Field(default_factory=dict)
    timings: Timings = Field(default_factory=Timings)
    pace: Pace = Field(default="live", alias="_pace")
    broken_off: str | None = Field(default=None, alias="_brokenOff")  # why the answer ended early, if it did
    comment: str | None = None

    @model_validator(mode="after")
    def _events_are_the_body(self) -> Exchange:
        events = self.response.content.events
        try:
            body = self.response.content.body()
            joined = b"".join(event.data() for event in events) if events is not None else body
            self.request.body()
        except (binascii.Error, ValueError) as error:
            raise ValueError(f"a base64 body or event does not decode: {error}") from None
        if joined != body:
            raise ValueError("response.content.text is not the response's _events joined; "
                             "an edited stream must change both alike")
        return self

    @property
    def is_stream(self) -> bool:
        return self.response.content.events is not None

    def event_bytes(self) -> list[bytes]:
        return [event.data() for event in self.response.content.events or []]

    def experiment_id(self) -> str | None:
        """The request body's `experiment_id`, if it is a JSON object holding a string one."""
        try:
            parsed = json.loads(self.request.body())
        except (ValueError, RecursionError):
            return None
        value = parsed.get("experiment_id") if isinstance(parsed, dict) else None
        return value if isinstance(value, str) else None


class Creator(HarModel):
    name: str = "humanloop-mock"
    version: str = "unknown"
    comment: str | None = None


class FormatMarker(HarModel):
    format: Literal[1] = FORMAT


class Log(HarModel):
    version: str = "1.2"
    creator: Creator = Field(default_factory=Creator)
    marker: FormatMarker = Field(alias=MARKER)
    comment: str | None = None
    entries: list[Exchange] = Field(default_factory=list)  # last: the writer streams them after the rest


class Cassette(HarModel):
    """A whole cassette. `recovered` counts exchanges read back from an unfinished recording's side file."""

    log: Log
    _recovered: int = PrivateAttr(default=0)

    @property
    def exchanges(self) -> list[Exchange]:
        return self.log.entries

    @property
    def recovered(self) -> int:
        return self._recovered


def new_cassette(version: str = "unknown", entries: list[Exchange] | None = None) -> Cassette:
    return Cassette(log=Log(creator=Creator(version=version), entries=entries or [], marker=FormatMarker()))


def exchange_json(exchange: Exchange) -> dict[str, Any]:
    """An exchange as the JSON object written to disk (HAR names, no null fields)."""
    return exchange.model_dump(mode="json", by_alias=True, exclude_none=True)
