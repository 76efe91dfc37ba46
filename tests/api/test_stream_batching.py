"""A stream with no per-event timing goes out in a few sends of whole events, byte for byte the stream
that event-by-event sending writes; with event delays, one send per event as before."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver import MockSettings, create_app
from mockserver.control.service import MockControl
from mockserver.http.server import BackgroundServer
from mockserver.pipeline.delivery import SEND_LIMIT, whole_event_batches
from mockserver.pipeline.stream import split_events
from mockserver.spec.models import FaultSpec, ScriptSpec
from tests.conftest import KEY, chat_body

WIDE_TEXT = "Grüße, naïve café ✓ 東京 🙂 " * 2000  # multi-byte characters everywhere, ~80 KB of UTF-8


def events_body(texts: list[str]) -> bytes:
    return b"".join(b"data: " + json.dumps({"output": t}, ensure_ascii=False).encode() + b"\n\n" for t in texts)


@given(texts=st.lists(st.text(min_size=0, max_size=300), min_size=0, max_size=40),
       limit=st.integers(min_value=8, max_value=2000))
def test_batches_are_whole_events_within_the_limit(texts: list[str], limit: int) -> None:
    body = events_body(texts)
    batches = whole_event_batches(body, limit)
    assert b"".join(batches) == body
    for batch in batches:
        assert batch.endswith(b"\n\n")
        batch.decode("utf-8")  # never a character cut in two
        assert len(batch) <= limit or len(split_events(batch)) == 1  # only a single oversized event goes alone
    assert [e for b in batches for e in split_events(b)] == split_events(body)


def test_batches_are_as_large_as_the_limit_allows() -> None:
    body = events_body(["x" * 90] * 100)
    per_batch = 1000 // (len(body) // 100)  # whole events that fit in 1,000 bytes
    batches = whole_event_batches(body, 1000)
    assert [len(split_events(b)) for b in batches] == [per_batch] * (100 // per_batch) + [100 % per_batch]


def call_app(app: Any, body: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    """The response start message and every non-empty body send of one ASGI call."""
    raw = json.dumps(body).encode()
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v4/chat-experiment", "raw_path": b"/v4/chat-experiment",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
             "headers": [(b"x-api-key", KEY["X-API-KEY"].encode()), (b"content-type", b"application/json")]}
    messages: list[dict[str, Any]] = []
    delivered = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not delivered.is_set():
            delivered.set()
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in messages if m["type"] == "http.response.start")
    chunks = [m["body"] for m in messages if m["type"] == "http.response.body" and m.get("body")]
    assert messages[-1] == {"type": "http.response.body", "body": messages[-1]["body"], "more_body": False}
    return start, chunks


def app_with(*faults: dict[str, Any], script: str | None = None, **settings: Any) -> Any:
    app = create_app(MockSettings(seed=11, **settings))
    rules = app.state.mock.rules
    for fault in faults:
        rules.add_fault(FaultSpec.model_validate({"times": None, **fault}))
    if script is not None:
        rules.add_script(ScriptSpec.model_validate({"answer": {"output": script}, "times": None}))
    return app


@pytest.mark.parametrize("num_samples", [1, 3])
@pytest.mark.parametrize("damage", [{}, {"cut_after_events": 7, "malformed_event": 3}])
@pytest.mark.parametrize("script", [None, WIDE_TEXT])
def test_untimed_stream_is_few_sends_of_the_same_bytes(num_samples: int, damage: dict[str, Any],
                                                       script: str | None) -> None:
    body = chat_body(stream=True, num_samples=num_samples)
    untimed_faults = [damage] if damage else []
    batched_start, batched = call_app(app_with(*untimed_faults, script=script), body)
    timed_start, timed = call_app(app_with({**damage, "event_delay": 0.0001}, script=script), body)

    stream = b"".join(timed)
    assert b"".join(batched) == stream
    assert batched_start == timed_start  # same status, same headers
    assert timed == split_events(stream)  # with a delay: one send per event, as before
    assert batched == whole_event_batches(stream)
    assert len(batched) <= len(stream) // (SEND_LIMIT // 2) + 1  # few sends: each at least half full but the last
    for chunk in batched:
        assert chunk.endswith(b"\n\n")
        chunk.decode("utf-8")


def test_done_event_rides_in_the_last_send() -> None:
    _, chunks = call_app(app_with(stream_done_event=True), chat_body(stream=True))
    assert chunks[-1].endswith(b"\n\ndata: [DONE]\n\n")


@pytest.mark.parametrize("num_samples", [1, 3])
@pytest.mark.parametrize("done_event", [False, True])
@pytest.mark.parametrize("chunks", [None, ["Pa", "r", "is."]])
def test_journal_counts_the_events_a_batched_stream_planned(num_samples: int, done_event: bool,
                                                            chunks: list[str] | None) -> None:
    # The count comes from the samples' deltas, not from scanning the bytes: it must still be the
    # number of events the client gets.
    app = create_app(MockSettings(seed=5, stream_done_event=done_event))
    if chunks is not None:
        answer = {"output": "".join(chunks), "chunks": chunks}
        app.state.mock.rules.add_script(ScriptSpec.model_validate({"answer": answer, "times": None}))
    _, sent = call_app(app, chat_body(stream=True, num_samples=num_samples))
    events = split_events(b"".join(sent))
    entry = app.state.mock.journal.entries()[-1]
    assert entry.events_planned == len(events) == len(entry.stream_events)
    if chunks is not None:
        assert len(events) == num_samples * len(chunks) + done_event


def read_http_chunks(port: int, body: dict[str, Any]) -> tuple[bytes, list[bytes]]:
    """Status/header block and the payload of each HTTP/1.1 chunk, as they came over the socket."""
    payload = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /v4/chat-experiment HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: k\r\n"
                     b"Content-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    chunks = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return head, chunks
        chunks.append(rest[:size])
        assert rest[size:size + 2] == b"\r\n"
        rest = rest[size + 2:]


def test_served_stream_chunks_hold_whole_events_only() -> None:
    app = app_with(script=WIDE_TEXT)
    with BackgroundServer(app) as server:
        head, chunks = read_http_chunks(server.port, chat_body(stream=True))
    assert b"transfer-encoding: chunked" in head.lower()
    assert all(chunk.endswith(b"\n\n") and len(chunk) <= SEND_LIMIT for chunk in chunks)
    stream = b"".join(chunks)
    assert len(chunks) <= len(stream) // (SEND_LIMIT // 2) + 1 < len(split_events(stream))  # not one per event
    text = stream.decode("utf-8")
    outputs = [json.loads(event[len("data: "):])["data"][0]["output"] for event in text.split("\n\n")[:-1]]
    assert "".join(outputs) == WIDE_TEXT


@pytest.mark.parametrize("num_samples", [1, 3])
def test_a_timing_profile_keeps_one_send_per_event_and_the_same_bytes(num_samples: int) -> None:
    def app_for(config: dict[str, Any]) -> Any:
        app = create_app(MockSettings(seed=11))
        MockControl(app.state.mock).load_spec({"projects": [{"id": "pr_t", "name": "t", "experiments": [
            {"id": "exp_t", "name": "t", "configs": [config]}]}]}, replace=True)
        return app

    config = {"id": "config_t", "model": "gpt-4o", "max_tokens": 40}
    timing = {"first_event": {"median": 0.0001}, "between_events": {"median": 0.0001}}
    body = chat_body(experiment_id="exp_t", stream=True, num_samples=num_samples)
    _, untimed = call_app(app_for(config), body)
    _, timed = call_app(app_for({**config, "timing": timing}), body)
    stream = b"".join(timed)
    assert b"".join(untimed) == stream
    assert timed == split_events(stream) and len(untimed) < len(timed)
