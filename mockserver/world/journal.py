"""The request journal: every request the mock receives, as it was sent, with what it answered.

Secrets never reach it (`provider_keys`, the redaction the access log and cassettes share): the
values of secret-named fields (`provider_api_keys`, `api_key`, ...) are taken out of the body and of
the query string before they are stored, and credential headers (`X-API-KEY`, `Authorization`, any
header named like an API key) are redacted when read. The answer's headers are kept as they went out
(`Retry-After` with a 429, the content type of a stream); the mock never puts a key in them, and they
are read back through the same redaction as the request's.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from mockserver import jsonio
from mockserver.errors import error_body
from mockserver.world import provider_keys
from mockserver.world.budget import Account, ByteBudget

REDACTED = provider_keys.PLACEHOLDER
_LINES, _NAME_VALUE = b"\n".join, b":".join


def header_block(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Headers (a request's, or its answer's) as one bytes object of `name:value` lines. One object
    the garbage collector never tracks: a kept tuple per header would be counted and traversed on
    every request (HTTP parsers refuse line breaks in header values, and names hold no colon). Joined
    in C, pair by pair: it runs twice on every request's path (its headers, its answer's)."""
    return _LINES(map(_NAME_VALUE, headers))


def header_pairs(block: bytes) -> list[tuple[bytes, bytes]]:
    """`header_block`'s (name, value) pairs, in order."""
    if not block:
        return []
    pairs = []
    for line in block.split(b"\n"):
        name, _, value = line.partition(b":")
        pairs.append((name, value))
    return pairs


def redact_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name_bytes, value_bytes in raw_headers:
        name = name_bytes.decode("latin-1").lower()
        value = REDACTED if provider_keys.is_secret_header(name) else value_bytes.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


# Memory an entry holds beyond its raw bytes (CPython 3.11, measured): the slotted entry and its small
# fields; each headers' bytes object, request and response (counted as generously as a few headers'
# tuples once were); each stream chunk's bytes object.
ENTRY_OVERHEAD = 1024
HEADER_OVERHEAD = 160
CHUNK_OVERHEAD = 40
# Bodies up to this size keep their parsed form once read (the usual test request is a few hundred bytes).
PARSED_BODY_KEPT_BYTES = 2048

# What the journal keeps of each sample: (index, log_id, model_config_id, finish_reason, script or None).
SampleRecord = tuple[int, str, str, str, str | None]
# Of each feedback item: (data_id, experiment_id, model_config_id, outcome: "success", "failure" or None).
FeedbackRecord = tuple[str, str, str, str | None]


@dataclass(slots=True)
class JournalEntry:
    """One request. Routes add what they decided (experiment, samples); the middleware the rest.

    Kept lean on purpose: raw header tuples and plain tuples are not tracked by the garbage
    collector, so a full journal does not slow every later request down.
    """

    seq: int
    method: str
    path: str
    query: str
    header_lines: bytes = field(repr=False)  # `header_block` of the request's headers
    raw_body: bytes = field(repr=False)
    response_header_lines: bytes = field(default=b"", repr=False)  # `header_block` of the answer's headers
    body_truncated: bool = False
    status: int | None = None
    content_type: str | None = None
    error: Any = None
    experiment_id: str | None = None
    project_id: str | None = None
    session_id: str | None = None
    sample_records: tuple[SampleRecord, ...] = ()
    call: int | None = None
    experiment_call: int | None = None
    faults: tuple[str, ...] = ()
    delays: tuple[float, ...] | None = None
    feedback_records: tuple[FeedbackRecord, ...] = ()
    _response: bytes = field(default=b"", repr=False)
    _response_more: list[bytes] | None = field(default=None, repr=False)  # pieces not yet joined to `_response`
    stream_chunks: list[bytes] | None = field(default=None, repr=False)
    events_planned: int | None = None
    completed: bool = False
    client_left: bool = False
    answered_by: str | None = None  # with a cassette or an upstream: who answered ("mock", "upstream ...", ...)
    unexpected: str | None = None  # a replay miss: why no recording answered
    violations: tuple[dict[str, Any], ...] | None = None  # the passive checker's, once judged ([] = passed)
    _body: Any = field(default=None, repr=False)
    _body_parsed: bool = field(default=False, repr=False)
    _budget_token: int | None = field(default=None, repr=False)
    _dropped: bool = field(default=False, repr=False)
    # The keys taken out of the request, as text to hide in the answer kept here (it may echo one:
    # a chat answer echoes `inputs`); None for the usual request, which held none.
    _echoes: list[bytes] | None = field(default=None, repr=False)

    def hide_also(self, secrets: list[str]) -> None:
        """More keys to hide in the answer kept: an upstream or a recording may echo what the mock never
        does (a request's credential headers)."""
        more = provider_keys.echoes(secrets)
        if more:
            self._echoes = sorted({*(self._echoes or ()), *more}, key=len, reverse=True)

    @property
    def response_bytes(self) -> bytes:
        """The answer's body as sent (a stream's: `stream_chunks`), its pieces joined once, when read
        (appending each to a bytes object copied the whole body again for every piece: quadratic)."""
        if self._response_more:
            self._response = b"".join((self._response, *self._response_more))
            self._response_more = None
        return self._response

    @response_bytes.setter
    def response_bytes(self, body: bytes) -> None:
        self._response, self._response_more = body, None

    def hide_echoes(self) -> None:
        """Take the request's keys out of the answer kept, headers and body (the client got it as it was)."""
        echoed = self._echoes
        if echoed:  # (an upstream may echo one in a header too, or in bytes its error quotes)
            self.response_header_lines = provider_keys.hide_echoes(self.response_header_lines, echoed)
            self.error = self.hidden(self.error)
            self.response_bytes = provider_keys.hide_echoes(self.response_bytes, echoed)
            if self.stream_chunks:
                self.stream_chunks = [provider_keys.hide_echoes(chunk, echoed) for chunk in self.stream_chunks]

    def hidden(self, text: Any) -> Any:
        """`text` (an error's detail, which may quote what an upstream sent) with the request's keys hidden."""
        return provider_keys.hide_echoes_in_text(text, self._echoes) if self._echoes else text

    def kept_bytes(self) -> int:
        """About what this entry holds in memory: its raw bytes plus fixed per-object overheads."""
        size = ENTRY_OVERHEAD + len(self.raw_body) + len(self.response_bytes) + len(self.path) + len(self.query)
        size += len(self.header_lines) + len(self.response_header_lines) + 2 * HEADER_OVERHEAD
        if self.stream_chunks:
            size += sum(map(len, self.stream_chunks)) + CHUNK_OVERHEAD * len(self.stream_chunks)
        return size

    @property
    def headers(self) -> dict[str, str]:
        """Request headers, lower-cased, with credentials redacted."""
        return redact_headers(self.raw_headers)

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The request headers as the server gave them: (lower-case name, value) pairs."""
        return header_pairs(self.header_lines)

    @property
    def response_headers(self) -> dict[str, str]:
        """The headers the answer went out with (as the app gave them to the server), lower-cased;
        empty while no answer has started."""
        return redact_headers(header_pairs(self.response_header_lines))

    @property
    def samples(self) -> list[dict[str, Any]]:
        keys = ("index", "log_id", "model_config_id", "finish_reason", "script")
        return [dict(zip(keys, record, strict=True)) for record in self.sample_records]

    def mark_dropped(self, reason: str) -> None:
        """The connection was dropped with part of the answer unsent: the client did not get it all."""
        self.client_left = True
        self.completed = False
        if self.error is None:
            self.error = reason

    @property
    def feedback(self) -> list[dict[str, Any]]:
        keys = ("data_id", "experiment_id", "model_config_id", "outcome")
        return [dict(zip(keys, record, strict=True)) for record in self.feedback_records]

    def note_response_start(self, status: int, headers: Sequence[tuple[bytes, bytes]]) -> None:
        """The answer's status and headers, as the app hands them to the server (one bytes object for
        the headers, like the request's: a few hundred nanoseconds on every request's path)."""
        self.status = status
        self.response_header_lines = header_block(headers)
        for name, value in headers:
            if name == b"content-type":  # ASGI header names are lower-case
                self.content_type = value.decode("latin-1")

    def note_error_answer(self, status: int, detail: str) -> None:
        """The server answered this request itself (before or instead of the app) with an error in the
        upstream shape: the journal says so as it would for the app's own error answer."""
        body = error_body(detail)
        self.note_response_start(status, [(b"content-length", b"%d" % len(body)),
                                          (b"content-type", b"application/json")])
        self.error = detail
        self.add_response_chunk(body)

    def add_response_chunk(self, chunk: bytes) -> None:
        if self.is_stream:
            if self.stream_chunks is None:
                self.stream_chunks = []
            self.stream_chunks.append(chunk)
        elif not self._response:
            self._response = chunk
        else:  # (joined when read: `response_bytes`)
            self._response_more = self._response_more or []
            self._response_more.append(chunk)

    @property
    def body(self) -> Any:
        """The request body as parsed JSON, or None if it was not JSON (provider keys were taken out when it
        was stored).

        Parsed when first read, and kept only for small bodies: the byte budget counts raw bytes, so a
        large body read back (a journal listing) is parsed again rather than kept twice."""
        if self._body_parsed:
            return self._body
        try:
            body = jsonio.loads(self.raw_body) if self.raw_body else None
        except (ValueError, UnicodeDecodeError, RecursionError):  # JsonRejected is a ValueError
            body = None
        if len(self.raw_body) <= PARSED_BODY_KEPT_BYTES:
            self._body, self._body_parsed = body, True
        return body

    @property
    def body_text(self) -> str:
        """The body as text (useful when it was not valid JSON); provider keys were taken out when stored."""
        return self.raw_body.decode("utf-8", errors="replace")

    @property
    def is_stream(self) -> bool:
        return (self.content_type or "").startswith("text/event-stream")

    @property
    def stream_events(self) -> list[str]:
        """The `data` of every SSE event handed to the connection while the client was still there,
        in order (empty for a JSON response). Compare with `events_planned` to see how far a stream
        got; the last few may still have been in flight when a client left."""
        if not self.stream_chunks:
            return []
        text = b"".join(self.stream_chunks).decode("utf-8", errors="replace")
        return [block[len("data: "):] for block in text.split("\n\n") if block.startswith("data: ")]

    @property
    def response_body(self) -> Any:
        """The JSON response body, parsed (None for streams and empty bodies)."""
        if self.is_stream or not self.response_bytes:
            return None
        try:
            return json.loads(self.response_bytes)
        except ValueError:
            return None

    def as_dict(self) -> dict[str, Any]:
        return self._record(self.response_body)

    def as_json(self) -> bytes:
        """`as_dict` as JSON. A whole JSON answer the mock wrote is put in as it was sent, never parsed again
        (it may be tens of megabytes); one from an upstream or a recording may not be JSON at all, so it is
        parsed like any other."""
        raw = self.response_bytes
        if raw and self.completed and self.answered_by in (None, "mock") \
                and (self.content_type or "").startswith("application/json"):
            with contextlib.suppress(TypeError):  # (an integer beyond 64 bits in the body: below)
                return orjson.dumps(self._record(orjson.Fragment(raw)))
        return jsonio.dumps(self.as_dict())

    def _record(self, response: Any) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "body_text": None if self.body is not None else self.body_text,
            "body_truncated": self.body_truncated,
            "status": self.status,
            "response_headers": self.response_headers,
            "content_type": self.content_type,
            "error": self.error,
            "experiment_id": self.experiment_id,
            "project_id": self.project_id,
            "session_id": self.session_id,
            "samples": self.samples,
            "call": self.call,
            "experiment_call": self.experiment_call,
            "faults": list(self.faults),
            "delays": list(self.delays) if self.delays is not None else None,
            "feedback": self.feedback,
            "stream_events": self.stream_events,
            "events_planned": self.events_planned,
            "response": response,
            "completed": self.completed,
            "client_left": self.client_left,
            **self._traffic_record(),
        }

    def _traffic_record(self) -> dict[str, Any]:
        """Who answered and what the passive checker found: only with a cassette or an upstream."""
        if self.answered_by is None:
            return {}
        return {"answered_by": self.answered_by,
                "violations": list(self.violations) if self.violations is not None else None}


@dataclass(frozen=True)
class JournalQuery:
    """Which entries to list: every given filter must hold. `since`: entries after this `seq`;
    `limit`: at most this many, the newest of those that match (listed oldest first)."""

    experiment_id: str | None = None
    path: str | None = None
    status: int | None = None
    since: int | None = None
    limit: int | None = None

    def selects(self, entry: JournalEntry) -> bool:
        return ((self.experiment_id is None or entry.experiment_id == self.experiment_id
                 or (isinstance(entry.body, dict) and entry.body.get("experiment_id") == self.experiment_id))
                and (self.path is None or entry.path == self.path)
                and (self.status is None or entry.status == self.status)
                and (self.since is None or entry.seq > self.since))


class Journal:
    """A bounded list of entries: oldest dropped past `limit` entries (0: no count limit), and past the
    byte budget it shares with the memo tables (see `budget`)."""

    def __init__(self, limit: int = 0, budget: ByteBudget | None = None, account: Account | None = None) -> None:
        self._entries: deque[JournalEntry] = deque()
        self._limit = limit
        self._budget = budget
        self._account = account
        self._lock = threading.Lock()
        self._next_seq = 0
        self.dropped = 0
        self.epoch = 0  # how often it was cleared: seqs start over after each clear

    def open(self, scope: dict[str, Any], raw_body: bytes, truncated: bool, kept_body: bytes | None = None,
             secrets: list[str] | None = None) -> JournalEntry:
        """A new entry, journaled now (so a request that never ends is still listed). `kept_body`: the
        body already redacted (`provider_keys.redaction`, in turns for a large one), with the `secrets`
        it held."""
        oldest = None
        if kept_body is None:
            secrets = []
            kept_body = provider_keys.redact_body(raw_body, secrets)
        query = scope.get("query_string", b"")
        if query:
            secrets = [] if secrets is None else secrets
            query_text = provider_keys.redact_query(query.decode("latin-1"), secrets)
        header_lines = header_block(scope.get("headers", ()))
        with self._lock:  # (by position: seq, method, path, query, header_lines, raw_body, response headers, ...)
            entry = JournalEntry(self._next_seq, scope["method"], scope["path"], query_text if query else "",
                                 header_lines, kept_body, b"", truncated)
            self._next_seq += 1
            if self._limit and len(self._entries) >= self._limit:
                oldest = self._entries.popleft()
                oldest._dropped = True
                self.dropped += 1
            self._entries.append(entry)
        if secrets:
            entry._echoes = provider_keys.echoes(secrets) or None
        if oldest is not None and self._budget is not None:
            self._budget.release(oldest._budget_token)
        return entry

    def finish(self, entry: JournalEntry) -> None:
        """The exchange is over (answered, or the client left): hide any key the answer echoed, then
        charge what the entry keeps."""
        if entry._echoes:
            entry.hide_echoes()
        if self._budget is not None and not entry._dropped and entry._budget_token is None:
            entry._budget_token = self._budget.charge(self, entry, entry.kept_bytes(), self._account)

    def forget(self, key: Any) -> None:
        """Drop `key` (an entry) to make room in the byte budget."""
        with self._lock:
            if self._entries and self._entries[0] is key:
                self._entries.popleft()
            else:
                for index, entry in enumerate(self._entries):
                    if entry is key:
                        del self._entries[index]
                        break
                else:
                    return
            key._dropped = True
            self.dropped += 1

    @property
    def next_seq(self) -> int:
        """The `seq` the next request gets (it starts over at 0 when the journal is cleared; see `epoch`)."""
        with self._lock:
            return self._next_seq

    def entries(self) -> list[JournalEntry]:
        with self._lock:
            return list(self._entries)

    def query(self, query: JournalQuery) -> tuple[int, list[JournalEntry]]:
        """(how many entries match, the matching entries within `limit`), oldest first."""
        found = [entry for entry in self.entries() if query.selects(entry)]
        total = len(found)
        if query.limit is not None:
            found = found[-query.limit:] if query.limit else []
        return total, found

    def clear(self) -> None:
        with self._lock:
            entries = list(self._entries)
            self._entries.clear()
            self._next_seq = 0
            self.dropped = 0
            self.epoch += 1
        for entry in entries:
            entry._dropped = True
        if self._budget is not None:
            self._budget.release_many([e._budget_token for e in entries if e._budget_token is not None])
