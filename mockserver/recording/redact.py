"""Keys out of cassettes: the one redaction every recorded, imported or matched exchange goes through.

`redact_exchange` hides, with `PLACEHOLDER`, what `mockserver.world.provider_keys` hides everywhere (the
journal and the access log use it too): credential headers and headers, query parameters and body
fields with a secret name ("api key" in any spelling), in valid JSON value by value (keys that read
like a provider's name and nulls kept), in anything else from the first such name on. On top of
that, anywhere in the exchange (URL, bodies, events, response headers), the literal text of every
secret found, 8 characters or longer, as raw and as JSON-escaped text: an upstream that echoes a key
in an error message does not leak it either.

Bytes without a secret stay byte for byte as they were; the result is the same when redacted again.
Responses are redacted too (per event in a stream), so a response that holds a key-named field
differs from what the client got in exactly that field.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from mockserver.recording.events import is_event_stream
from mockserver.recording.har import Exchange, NameValue, StreamEvent, pack
from mockserver.world.provider_keys import (
    PLACEHOLDER,
    echoes,
    hide_echoes,
    is_secret_name,
    might_name_a_secret,
    redact_body,
    redact_header_pairs,
    redact_query,
)

__all__ = ["PLACEHOLDER", "is_secret_name", "redact_body", "redact_exchange", "redact_headers",
           "redact_request_body", "redact_url", "scrub_literals"]

# What `redact_exchange` returned (while it lives), so the writer does not redact the same exchange
# twice. By identity, not equality: an equal exchange loaded from a file is redacted again.
_REDACTED: weakref.WeakValueDictionary[int, Exchange] = weakref.WeakValueDictionary()


def redact_event_stream(data: bytes, secrets: list[str] | None = None) -> bytes:
    """An SSE body redacted event by event, each `data:` line's payload as a body (boundaries kept)."""
    lines = data.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if line.startswith(b"data:"):
            payload = line[5:].rstrip(b"\r\n")
            lines[number] = b"data:" + redact_body(payload, secrets) + line[5 + len(payload):]
    return b"".join(lines)


def redact_headers(headers: Sequence[tuple[str, str]], secrets: list[str] | None = None) -> list[tuple[str, str]]:
    return redact_header_pairs(headers, secrets)


def redact_url(url: str, secrets: list[str] | None = None) -> str:
    parts = urlsplit(url)
    query = redact_query(parts.query, secrets)
    return url if query == parts.query else urlunsplit(parts._replace(query=query))


def scrub_literals(data: bytes, secrets: list[str]) -> bytes:
    """`data` with each secret's text (raw or JSON-escaped), 8 characters or longer, replaced."""
    return hide_echoes(data, echoes(secrets))


def redact_request_body(body: bytes, headers: Sequence[tuple[str, str]] = (), url: str = "") -> bytes:
    """A request body as a cassette keeps it (what replay matching compares): key-named fields, then
    any other place the request's own keys appear."""
    secrets: list[str] = []
    redact_headers(headers, secrets)
    redact_url(url, secrets)
    return scrub_literals(redact_body(body, secrets), secrets)


@dataclass
class _Parts:
    """An exchange's secret-bearing parts: text fields and bodies (a stream's body is its events)."""

    url: str
    request_headers: list[tuple[str, str]]
    query: list[tuple[str, str]]
    request_body: bytes
    response_headers: list[tuple[str, str]]
    chunks: list[bytes]
    notes: list[str | None]  # the comment and why the answer broke off (an upstream's error may quote a key)

    def scrubbed(self, secrets: list[str]) -> _Parts:
        literals = echoes(secrets)
        if not literals:
            return self

        def text(value: str) -> str:
            return hide_echoes(value.encode("utf-8", errors="surrogateescape"), literals).decode(
                "utf-8", errors="surrogateescape")

        return _Parts(url=text(self.url), request_headers=[(n, text(v)) for n, v in self.request_headers],
                      query=[(n, text(v)) for n, v in self.query],
                      request_body=hide_echoes(self.request_body, literals),
                      response_headers=[(n, text(v)) for n, v in self.response_headers],
                      chunks=[hide_echoes(chunk, literals) for chunk in self.chunks],
                      notes=[None if note is None else text(note) for note in self.notes])


def redact_exchange(exchange: Exchange) -> Exchange:
    """The exchange with every key replaced by `PLACEHOLDER` (see the module docstring). What it
    returns is marked, and given back as it is if redacted again."""
    if _REDACTED.get(id(exchange)) is exchange:
        return exchange
    secrets: list[str] = []
    request, response = exchange.request, exchange.response
    redact_response = redact_event_stream if is_event_stream(response.content.mime_type) else redact_body
    chunks = exchange.event_bytes() if exchange.is_stream else [response.content.body()]
    if not might_name_a_secret(b"".join(chunks)):
        # The usual answer: no field that could hold a key, so no event needs looking into.
        redact_response = _unchanged
    parts = _Parts(
        url=redact_url(request.url, secrets),
        request_headers=redact_headers(request.header_pairs(), secrets),
        query=redact_headers([(q.name, q.value) for q in request.query_string], secrets),
        request_body=redact_body(request.body(), secrets),
        response_headers=redact_headers(response.header_pairs(), secrets),
        chunks=[redact_response(chunk, secrets) for chunk in chunks],
        notes=[exchange.comment, exchange.broken_off],
    ).scrubbed(secrets)
    redacted = _rebuilt(exchange, parts)
    _REDACTED[id(redacted)] = redacted
    return redacted


def _unchanged(data: bytes, secrets: list[str] | None = None) -> bytes:
    return data


def _event_with(event: StreamEvent, data: bytes) -> StreamEvent:
    text, encoding = pack(data)
    if (text, encoding) == (event.text, event.encoding):
        return event  # the usual case: nothing in it to redact (and a copy per event costs)
    return event.model_copy(update={"text": text, "encoding": encoding})


def _rebuilt(exchange: Exchange, parts: _Parts) -> Exchange:
    request, response = exchange.request, exchange.response
    request_update: dict[str, object] = {
        "url": parts.url,
        "headers": [NameValue(name=n, value=v) for n, v in parts.request_headers],
        "query_string": [NameValue(name=n, value=v) for n, v in parts.query],
    }
    if request.post_data is not None:
        text, encoding = pack(parts.request_body)
        request_update["post_data"] = request.post_data.model_copy(update={"text": text, "encoding": encoding})
    body = b"".join(parts.chunks)
    text, encoding = pack(body)
    content_update: dict[str, object] = {"text": text, "encoding": encoding, "size": len(body)}
    if exchange.is_stream:
        content_update["events"] = [_event_with(event, chunk)
                                    for event, chunk in zip(response.content.events or [], parts.chunks, strict=True)]
    comment, broken_off = parts.notes
    return exchange.model_copy(update={
        "comment": comment,
        "broken_off": broken_off,
        "request": request.model_copy(update=request_update),
        "response": response.model_copy(update={
            "headers": [NameValue(name=n, value=v) for n, v in parts.response_headers],
            "content": response.content.model_copy(update=content_update),
        }),
    })
