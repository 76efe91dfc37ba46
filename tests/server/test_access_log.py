"""`serve`'s access log: one line per request, written in batches, never a key or a body."""

from __future__ import annotations

import asyncio
import contextlib
import io
import signal
import subprocess
import sys
import time
from typing import Any

import httpx

from mockserver import MockSettings, create_app
from mockserver.http.access_log import FLUSH_EVERY, AccessLog
from mockserver.http.server import BackgroundServer
from tests.conftest import KEY, chat_body, read_banner

SCOPE: dict[str, Any] = {"client": ("127.0.0.1", 50432), "method": "POST", "path": "/v4/chat-experiment",
                         "query_string": b"", "http_version": "1.1"}


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_lines_look_like_uvicorns_and_say_why_an_error_happened() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.request(SCOPE, 200)
    log.request({**SCOPE, "method": "GET", "path": "/v4/projects/p/experiments", "query_string": b"a=1"}, 404,
                "Project p not found.")
    log.request(SCOPE, 422, [{"loc": ["body", "messages"], "msg": "field required", "type": "value_error.missing"},
                             {"loc": ["body", "x"], "msg": "extra fields not permitted", "type": "value_error.extra"}])
    assert stream.getvalue().splitlines() == [
        'INFO:     127.0.0.1:50432 - "POST /v4/chat-experiment HTTP/1.1" 200 OK',
        'INFO:     127.0.0.1:50432 - "GET /v4/projects/p/experiments?a=1 HTTP/1.1" 404 Not Found'
        " - Project p not found.",
        'INFO:     127.0.0.1:50432 - "POST /v4/chat-experiment HTTP/1.1" 422 Unprocessable Entity'
        " - body.messages: field required (+1 more)",
    ]


def test_what_the_client_chose_is_escaped_one_request_one_line() -> None:
    stream = io.StringIO()
    AccessLog(stream).request({**SCOPE, "path": "/v4/x\nINFO:     forged 200 OK", "query_string": b"a=\x1b[31m"},
                              404, "Experiment e\r\nx not found.")
    (line,) = stream.getvalue().splitlines()
    assert "\\n" in line and "\\x1b" in line and "\\r\\n" in line


def test_a_busy_loop_writes_once_per_interval_not_once_per_request() -> None:
    stream = CountingStream()
    log = AccessLog(stream)

    async def burst() -> int:
        for _ in range(500):
            log.request(SCOPE, 200)
        written_before_the_interval = stream.writes
        await asyncio.sleep(FLUSH_EVERY * 3)
        return written_before_the_interval

    assert asyncio.run(burst()) == 0
    assert stream.writes == 1
    assert stream.getvalue().count("\n") == 500


def test_the_app_logs_what_it_answered_and_never_the_key() -> None:
    stream = io.StringIO()
    app = create_app(MockSettings(access_log=True))
    app.state.access_log.stream = stream
    with BackgroundServer(app) as server, httpx.Client(base_url=server.base_url) as client:
        client.post("/chat-experiment", json=chat_body(), headers={"X-API-KEY": "sk-very-secret"})
        client.post("/chat-experiment", json={"experiment_id": "e"}, headers=KEY)
        client.get("/nowhere", headers=KEY)
        client.get(server.base_url.removesuffix("/v4") + "/healthz")
        time.sleep(FLUSH_EVERY * 4)
    lines = stream.getvalue().splitlines()
    assert [line.split('"')[1] for line in lines] == [
        "POST /v4/chat-experiment HTTP/1.1", "POST /v4/chat-experiment HTTP/1.1", "GET /v4/nowhere HTTP/1.1",
        "GET /healthz HTTP/1.1"]
    assert lines[0].endswith("200 OK") and "body.messages: field required" in lines[1] and "404" in lines[2]
    assert "sk-very-secret" not in stream.getvalue()


def serve_output(*args: str) -> str:
    """stdout of `serve` after one chat call, stopped with Ctrl-C (SIGINT)."""
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = read_banner(process)
    url = next(line.split(" at ")[1].split()[0] for line in lines if " serving " in line)
    httpx.post(url + "/chat-experiment", json=chat_body(), headers={"X-API-KEY": "sk-very-secret"})
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=20)  # the last lines are written on the way out
    return "".join(lines) + rest


def test_serve_logs_requests_by_default_and_not_when_told() -> None:
    logged = serve_output()
    assert '"POST /v4/chat-experiment HTTP/1.1" 200 OK' in logged and "One line per request" in logged
    assert "sk-very-secret" not in logged
    quiet = serve_output("--no-access-log")
    assert "chat-experiment HTTP/1.1" not in quiet and "Requests are not logged here" in quiet
    assert "chat-experiment HTTP/1.1" not in serve_output("--log-level", "warning")


def test_a_line_is_made_when_its_request_is_over_from_what_was_answered() -> None:
    """A timed stream's line appears only after its last event; a body cut at the limit logs its 413 with the
    reason; a reset fault (no answer) logs nothing."""
    stream = io.StringIO()
    app = create_app(MockSettings(access_log=True, max_body_bytes=2000))
    app.state.access_log.stream = stream
    with BackgroundServer(app) as server, httpx.Client(base_url=server.base_url, headers=KEY) as client:
        admin = server.base_url.removesuffix("/v4") + "/__admin"
        assert client.post(admin + "/faults", json={"event_delay": 0.05, "times": 1}).status_code == 201
        app.state.access_log.flush()
        before = stream.getvalue()
        with client.stream("POST", "/chat-experiment", json={**chat_body(), "stream": True}) as answer:
            chunks = answer.iter_bytes()
            next(chunks)  # the first event is here: the stream is not over
            app.state.access_log.flush()
            assert stream.getvalue() == before
            assert b"".join(chunks).endswith(b"\n\n")
        client.post("/chat-experiment", content=b"{" + b" " * 3000 + b"}", headers={"Content-Type": "application/json"})
        assert client.post(admin + "/faults", json={"reset": True}).status_code == 201
        with contextlib.suppress(httpx.TransportError):
            client.post("/chat-experiment", json=chat_body())
        time.sleep(FLUSH_EVERY * 4)
    lines = stream.getvalue()[len(before):].splitlines()
    assert len(lines) == 3, lines  # the stream, the 413, the fault's registration (the reset call: none)
    assert lines[0].endswith('"POST /v4/chat-experiment HTTP/1.1" 200 OK')
    assert '" 413 Request Entity Too Large - Request body is larger than' in lines[1]
    assert "/__admin/faults" in lines[2]
