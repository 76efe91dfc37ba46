"""Slow, silent, oversized and departing clients (issue 8, cases 4, 8 and 9).

Each test runs a real uvicorn server on a loopback port with small limits and talks to it over raw
sockets, the way a careless client or an attacker would: half-sent headers, a body that never
finishes, huge headers, too many connections, an answer nobody reads, a stream dropped half-way,
and a `Host` header from a DNS-rebinding page.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer, ServerOptions
from mockserver.spec.models import FaultSpec, MockSpec, default_spec

OPTIONS = ServerOptions(header_timeout=0.5, body_timeout=0.5, send_timeout=0.5, max_header_bytes=16 * 1024,
                        max_connections=8, idle_timeout=5)


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(MockSettings()), options=OPTIONS) as running:
        yield running


def connect(server: BackgroundServer, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", server.port))
    sock.settimeout(5)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def request_head(path: str = "/v4/chat-experiment", method: str = "POST", extra: str = "") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: k\r\n"
            f"Content-Type: application/json\r\n{extra}").encode()


def test_half_sent_headers_get_408_and_are_closed(server: BackgroundServer) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(request_head())  # no blank line: the headers never end
        answer = read_until_closed(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"--header-timeout" in answer
    assert 0.4 < waited < 4


def test_a_connection_that_sends_nothing_is_closed(server: BackgroundServer) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        assert read_until_closed(sock).startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 4


def test_a_body_that_never_finishes_gets_408_and_is_journaled(server: BackgroundServer) -> None:
    with connect(server) as sock:
        sock.sendall(request_head(extra="Content-Length: 100\r\n\r\n") + b'{"experiment_id": ')
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"--body-timeout" in answer
    time.sleep(0.1)
    entry = server.app.state.mock.journal.entries()[-1]  # type: ignore[attr-defined]
    assert entry.client_left and entry.body_truncated and "--body-timeout" in entry.error
    assert entry.status == 408 and json.loads(entry.response_bytes) == {"detail": entry.error}  # what it got
    assert entry.raw_body == b'{"experiment_id": '


@pytest.mark.parametrize(("header_bytes", "status"), [(15_000, b"200"), (40_000, b"431"), (2_000_000, b"431")])
def test_header_size_limit(server: BackgroundServer, header_bytes: int, status: bytes) -> None:
    body = json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hi"}]}).encode()
    head = request_head(extra=f"X-Padding: {'p' * header_bytes}\r\nContent-Length: {len(body)}\r\n\r\n")
    with connect(server) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # closed before 2 MB were sent
            sock.sendall(head + body)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    if status == b"431":
        assert b"--max-header-bytes" in answer
        assert all(len(e.raw_headers) < 20 for e in server.app.state.mock.journal.entries())  # type: ignore


def test_connections_past_the_limit_get_503_at_once_and_free_their_socket(server: BackgroundServer) -> None:
    idle = [connect(server) for _ in range(OPTIONS.max_connections)]
    try:
        time.sleep(0.1)
        with connect(server) as extra:
            started = time.monotonic()
            answer = read_until_closed(extra)
            assert time.monotonic() - started < 0.4  # not held until the header timeout
        assert answer.startswith(b"HTTP/1.1 503 ") and b"--max-connections" in answer
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    with httpx.Client(base_url=server.base_url) as client:
        assert client.get("/healthz").status_code == 200


def test_an_answer_nobody_reads_is_dropped_after_the_send_timeout(server: BackgroundServer) -> None:
    body = json.dumps({"experiment_id": "exp_demo", "num_samples": 4,
                       "messages": [{"role": "user", "content": "x" * 2_000_000}]}).encode()
    with connect(server, receive_buffer=4096) as sock:
        sock.sendall(request_head(extra=f"Content-Length: {len(body)}\r\n\r\n") + body)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            entries = [e for e in server.app.state.mock.journal.entries() if e.method == "POST"]  # type: ignore
            if entries and entries[-1].client_left:
                break
            time.sleep(0.05)
    entry = entries[-1]
    assert entry.client_left and not entry.completed and "--send-timeout" in entry.error
    assert entry.status == 200  # the mock answered; the client never read it


def test_a_dropped_stream_is_journaled_as_left_with_how_far_it_got() -> None:
    spec = MockSpec.model_validate({**default_spec().model_dump(), "faults": [
        FaultSpec(event_delay=0.05, times=1).model_dump()]})  # the first stream is slow, the second is not
    with BackgroundServer(create_app(MockSettings(spec=spec)), options=OPTIONS) as server, \
            httpx.Client(base_url=server.base_url, headers={"X-API-KEY": "k"}) as client:
        body = {"experiment_id": "exp_demo", "stream": True, "num_samples": 2,
                "messages": [{"role": "user", "content": "Tell me a long story."}]}
        with client.stream("POST", "/chat-experiment", json=body) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: ")
        time.sleep(0.5)
        entry = server.app.state.mock.journal.entries()[-1]  # type: ignore[attr-defined]
        assert entry.client_left and not entry.completed
        assert entry.events_planned is not None and 1 <= len(entry.stream_events) < entry.events_planned
        full = client.post("/chat-experiment", json=body)
        assert full.status_code == 200
        time.sleep(0.1)
        finished = server.app.state.mock.journal.entries()[-1]  # type: ignore[attr-defined]
        assert finished.completed and not finished.client_left
        assert len(finished.stream_events) == finished.events_planned


@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1:8000", True), ("localhost", True), ("LOCALHOST:1", True), ("[::1]:8000", True),
    ("evil.example", False), ("evil.example:8000", False), ("127.0.0.1.evil.example", False),
    ("mock.internal:9", True),  # allowed by the option below
])
def test_host_header_is_checked_on_loopback(host: str, allowed: bool) -> None:
    options = ServerOptions(allowed_hosts=("mock.internal",))
    with BackgroundServer(create_app(MockSettings()), options=options) as server, connect(server) as sock:
        sock.sendall(f"GET /v4/healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = read_until_closed(sock)
    if allowed:
        assert answer.startswith(b"HTTP/1.1 200 ")
    else:
        assert answer.startswith(b"HTTP/1.1 400 ") and b"--allowed-host" in answer


def test_any_host_passes_with_a_star() -> None:
    options = ServerOptions(allowed_hosts=("*",))
    with BackgroundServer(create_app(MockSettings()), options=options) as server, connect(server) as sock:
        sock.sendall(b"GET /v4/healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 200 ")


def test_a_websocket_upgrade_is_answered_as_http_journaled_and_closed(server: BackgroundServer) -> None:
    """Issue 16, case 7: it got uvicorn's plain-text 403 and was not journaled."""
    journal = server.app.state.mock.journal  # type: ignore[attr-defined]
    journal.clear()
    with connect(server) as sock:
        sock.sendall(b"GET /v4/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                     b"GET /v4/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # never read as HTTP: the first closes
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.count(b"HTTP/1.1") == 1, answer
    assert b"connection: close" in answer.lower() and b"application/json" in answer
    with connect(server) as sock:
        sock.sendall(b"GET /v4/chat-experiment HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nX-API-KEY: k\r\n\r\n")
        refused = read_until_closed(sock)
    assert refused.startswith(b"HTTP/1.1 405 ") and b'"detail"' in refused
    entries = journal.entries()
    assert [(e.method, e.path, e.status) for e in entries] == [("GET", "/v4/healthz", 200),
                                                              ("GET", "/v4/chat-experiment", 405)]
    assert entries[1].headers["upgrade"] == "websocket"


@pytest.mark.parametrize("path", ["/v4/chat-experiment", "/__admin/scripts"])
def test_expect_100_continue_over_the_limit_gets_413_before_any_body(path: str) -> None:
    """Issue 16, case 7: it got `100 Continue`, then a 408, while the journal said 413."""
    app = create_app(MockSettings(max_body_bytes=1000))
    with BackgroundServer(app, options=OPTIONS) as running, connect(running) as sock:
        sock.sendall(request_head(path, extra="Expect: 100-continue\r\nContent-Length: 5000\r\n\r\n"))
        answer = read_until_closed(sock)  # the server closes: the body it refused is never read
    assert answer.startswith(b"HTTP/1.1 413 ") and b"100 Continue" not in answer, answer
    assert b"connection: close" in answer.lower() and b"limit of 1000 bytes" in answer
    if path.startswith("/v4"):
        [entry] = app.state.mock.journal.entries()
        assert (entry.status, entry.body_truncated, entry.raw_body) == (413, True, b"")
        assert "limit of 1000 bytes" in entry.error


def test_expect_100_continue_within_the_limit_is_continued(server: BackgroundServer) -> None:
    body = json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hi"}]}).encode()
    with connect(server) as sock:
        sock.sendall(request_head(extra=f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n"
                                        "Connection: close\r\n\r\n"))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        assert b"HTTP/1.1 200 " in read_until_closed(sock)


@pytest.mark.parametrize("allowed", [(), ("*",)])
def test_two_host_headers_get_400_and_are_journaled(allowed: tuple[str, ...]) -> None:
    """Issue 16, case 7: loopback first, then another, was accepted with 200 (RFC 9112 says 400)."""
    app = create_app(MockSettings())
    options = ServerOptions(allowed_hosts=allowed)
    with BackgroundServer(app, options=options) as running, connect(running) as sock:
        sock.sendall(b"GET /v4/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"more than one Host header" in answer
    [entry] = app.state.mock.journal.entries()
    assert (entry.path, entry.status) == ("/v4/healthz", 400) and "more than one Host" in entry.error
