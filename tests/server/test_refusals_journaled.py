"""Requests answered before the app ran (too-large or unfinished headers, bytes that are not HTTP, a
refused `Host`) are journaled like every other request, in the world of their key, and get the
upstream JSON error shape."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver import MockSettings, create_app
from mockserver.control.service import MockControl
from mockserver.http.refusals import KEPT_HEAD_BYTES, api_key_of_head, parse_head
from mockserver.http.server import BackgroundServer, ServerOptions
from mockserver.world.journal import REDACTED, JournalEntry
from tests.conftest import chat_body

OPTIONS = ServerOptions(header_timeout=0.5, body_timeout=0.5, max_header_bytes=16 * 1024, idle_timeout=5)
HEAD = b"POST /v4/chat-experiment?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: secret-key\r\n"


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(MockSettings()), options=OPTIONS) as running:
        yield running


def exchange(server: BackgroundServer, data: bytes) -> bytes:
    """Send `data`, then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def journaled(server: BackgroundServer, world: Any = None) -> list[JournalEntry]:
    time.sleep(0.1)  # the answer is written before the entry is closed
    return (world or server.app.state.mock).journal.entries()  # type: ignore[attr-defined]


def json_body(answer: bytes) -> dict[str, Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()
    return json.loads(body)


def assert_refused_entry(entry: JournalEntry, status: int, reason: str) -> None:
    assert (entry.method, entry.path, entry.query) == ("POST", "/v4/chat-experiment", "x=1")
    assert entry.status == status and reason in entry.error
    assert entry.headers["x-api-key"] == REDACTED  # like every journaled key
    assert "secret-key" not in json.dumps(entry.as_dict())
    assert entry.headers["host"] == "127.0.0.1"
    assert json.loads(entry.response_bytes) == {"detail": entry.error}
    assert entry.completed and entry.raw_body == b""


def test_headers_over_the_limit_are_journaled(server: BackgroundServer) -> None:
    answer = exchange(server, HEAD + b"X-Padding: " + b"p" * 40_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")
    (entry,) = journaled(server)
    assert_refused_entry(entry, 431, "--max-header-bytes")
    assert json_body(answer) == {"detail": entry.error}
    assert len(entry.header_lines) <= KEPT_HEAD_BYTES  # the journal keeps a bounded part of a huge head
    (unplanned,) = MockControl(server.app.state.mock).unexpected()  # type: ignore[attr-defined]
    assert unplanned["seq"] == entry.seq and "--max-header-bytes" in unplanned["reason"]


def test_headers_that_never_end_are_journaled(server: BackgroundServer) -> None:
    answer = exchange(server, HEAD + b"Content-Type: application/json\r\n")
    assert answer.startswith(b"HTTP/1.1 408 ")
    (entry,) = journaled(server)
    assert_refused_entry(entry, 408, "--header-timeout")
    assert entry.headers["content-type"] == "application/json"


@pytest.mark.parametrize("garbage", [
    HEAD + b"Content-Length: nope\r\n\r\n",  # the parser refuses the header
    HEAD + b"Bad Header Line\r\n\r\n",
])
def test_bytes_that_are_not_http_get_a_json_400_and_are_journaled(server: BackgroundServer, garbage: bytes) -> None:
    answer = exchange(server, garbage)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert "could not be read as HTTP/1.1" in json_body(answer)["detail"]  # not uvicorn's plain text
    (entry,) = journaled(server)
    assert_refused_entry(entry, 400, "could not be read as HTTP/1.1")


def test_a_request_line_that_is_not_http_is_journaled_with_what_could_be_read(server: BackgroundServer) -> None:
    answer = exchange(server, b"\x16\x03\x01\x02\x00 hello\r\n\r\n")  # e.g. a TLS hello sent to plain HTTP
    assert answer.startswith(b"HTTP/1.1 400 ")
    (entry,) = journaled(server)
    assert entry.status == 400 and (entry.method, entry.path) == ("", "")


@pytest.mark.parametrize("cut", [HEAD + b"Content-Type: applica", HEAD[:20]])
def test_a_client_that_leaves_before_its_headers_end_is_journaled(server: BackgroundServer, cut: bytes) -> None:
    """Not refused, but gone: what arrived of its head is journaled, as for a header timeout."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(cut)
        time.sleep(0.1)
    (entry,) = journaled(server)
    if b"\r\n" in cut:  # (a request line cut short is not read: parse_head takes complete lines)
        assert (entry.method, entry.path, entry.query) == ("POST", "/v4/chat-experiment", "x=1")
        assert entry.headers["x-api-key"] == REDACTED
    assert entry.status is None and entry.client_left and not entry.completed
    assert "before its headers were complete" in entry.error
    assert "secret-key" not in json.dumps(entry.as_dict())


def test_a_keep_alive_connection_closed_between_requests_adds_nothing(server: BackgroundServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /v4/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    assert [entry.path for entry in journaled(server)] == ["/v4/healthz"]


def test_a_connection_that_sends_nothing_leaves_the_journal_empty(server: BackgroundServer) -> None:
    assert exchange(server, b"").startswith(b"HTTP/1.1 408 ")
    assert journaled(server) == []


def test_a_refused_host_is_journaled() -> None:
    with BackgroundServer(create_app(MockSettings()), options=OPTIONS) as server:
        answer = exchange(server, b"POST /v4/chat-experiment?x=1 HTTP/1.1\r\nHost: evil.example\r\n"
                                  b"X-API-KEY: secret-key\r\nContent-Length: 0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 ")
        (entry,) = journaled(server)
    assert entry.status == 400 and "--allowed-host" in entry.error and entry.headers["host"] == "evil.example"
    assert (entry.method, entry.path) == ("POST", "/v4/chat-experiment")


def test_a_refusal_lands_in_the_world_of_its_key_only_if_that_world_exists() -> None:
    app = create_app(MockSettings(isolate_keys=True, max_tenants=2))
    tenants = app.state.tenants
    with BackgroundServer(app, options=OPTIONS) as server:
        with httpx.Client(base_url=server.base_url) as client:  # (the base URL ends in /v4)
            for key in ("secret-key", "ci-job"):
                answer = client.post("/chat-experiment", headers={"X-API-KEY": key}, json=chat_body())
                assert answer.status_code == 200
        assert exchange(server, HEAD + b"X-Padding: " + b"p" * 40_000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431 ")
        # Refused requests with new keys (a hostile page may send any) create no world and push none out.
        for key in (b"a", b"b", b"c"):
            answer = exchange(server, b"GET /v4/healthz HTTP/1.1\r\nHost: evil.example\r\nX-API-KEY: " + key
                              + b"\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 400 ")
        time.sleep(0.1)
    assert tenants.count() == 2
    own = tenants.for_key("secret-key").journal.entries()
    assert [entry.status for entry in own] == [200, 431]
    assert [entry.status for entry in tenants.for_key("ci-job").journal.entries()] == [200]
    assert [entry.headers["host"] for entry in app.state.mock.journal.entries()] == ["evil.example"] * 3


def test_a_body_after_the_head_is_never_read_as_headers(server: BackgroundServer) -> None:
    # LF-only framing, a bad Content-Length, and a body holding a provider key.
    answer = exchange(server, b"POST /v4/chat-experiment HTTP/1.1\nHost: 127.0.0.1\nContent-Length: nope\n\n"
                              b'{"provider_api_keys": {"openai": "sk-live-secret"}}')
    assert answer.startswith(b"HTTP/1.1 400 ")
    (entry,) = journaled(server)
    assert set(entry.headers) == {"host", "content-length"}
    assert "sk-live-secret" not in json.dumps(entry.as_dict())


def test_a_target_the_server_cannot_use_is_journaled(server: BackgroundServer) -> None:
    answer = exchange(server, b"GET http://[::1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    (entry,) = journaled(server)
    assert entry.status == 400 and entry.method == "GET"


def test_a_body_the_parser_cannot_read_is_journaled_with_the_answer_it_got(server: BackgroundServer) -> None:
    answer = exchange(server, HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    (entry,) = journaled(server)
    assert entry.status == 400 and entry.client_left and "could not be read as HTTP/1.1" in entry.error
    assert json.loads(entry.response_bytes) == {"detail": entry.error}
    (unplanned,) = MockControl(server.app.state.mock).unexpected()  # type: ignore[attr-defined]
    assert unplanned["seq"] == entry.seq


@given(head=st.binary(max_size=3000), body=st.binary(max_size=300), cut=st.booleans())
def test_any_head_is_read_without_an_error_and_never_past_its_end(head: bytes, body: bytes, cut: bool) -> None:
    whole = head + b"\r\n\r\n" + b"x-after: " + body + b"\r\n"
    scope = parse_head(whole[: len(head)] if cut else whole)
    assert isinstance(scope["method"], str) and isinstance(scope["path"], str)
    assert scope["http_version"] in {"1.1"} | {f"{a}.{b}" for a in range(10) for b in range(10)}
    assert (b"x-after", body.strip()) not in scope["headers"] or b"x-after:" in head.lower()
    for name, value in scope["headers"]:
        assert name == name.lower() and b"\n" not in name + value and b"\r" not in name + value


def test_head_parsing_reads_line_target_and_headers() -> None:
    scope = parse_head(b"GET /v4/a%20b?q=1 HTTP/1.0\r\nX-Api-Key:  k \r\nbroken line\r\nHost: h\r\n\r\nbody")
    assert (scope["method"], scope["path"], scope["query_string"], scope["http_version"]) == (
        "GET", "/v4/a b", b"q=1", "1.0")
    assert scope["headers"] == [(b"x-api-key", b"k"), (b"host", b"h")]


def test_head_parsing_leaves_out_what_it_cannot_trust() -> None:
    assert parse_head(b"GET /x HTTP/\x1b[2J\rZ\r\n\r\n")["http_version"] == "1.1"  # no escape reaches a log
    assert parse_head(b"GET /x HTTP/1.1\r\nHost: h\r\nX-API-KEY: secr")["headers"] == [(b"host", b"h")]  # cut short
    assert api_key_of_head(b"GET /x HTTP/1.1\r\nX-API-KEY: secr") is None
    long_head = b"GET /x HTTP/1.1\r\nX-Pad: " + b"p" * KEPT_HEAD_BYTES + b"\r\nX-API-KEY: late\r\n\r\n"
    assert api_key_of_head(long_head) == "late"  # found in the whole head, past what the journal keeps


def test_a_refusal_gets_an_access_log_line_without_the_key() -> None:
    app = create_app(MockSettings(access_log=True))
    app.state.access_log.stream = stream = io.StringIO()
    with BackgroundServer(app, options=OPTIONS) as server:
        exchange(server, HEAD + b"Content-Length: nope\r\n\r\n")
        time.sleep(0.2)
    app.state.access_log.flush()
    (line,) = stream.getvalue().splitlines()
    assert '"POST /v4/chat-experiment?x=1 HTTP/1.1" 400 Bad Request - Invalid HTTP request' in line
    assert "secret-key" not in line
