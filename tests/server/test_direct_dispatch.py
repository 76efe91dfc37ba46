"""The API's fixed paths are served without Starlette's stack: same answers, same journal, and no work
left behind for the garbage collector."""

from __future__ import annotations

import gc
import json
import socket
from typing import Any

import pytest
from starlette.responses import Response
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from mockserver.routes.common import JSONBytes
from tests.conftest import KEY, chat_body

CHAT = "/v4/chat-experiment"
JSON_HEADERS = {**KEY, "Content-Type": "application/json"}

# (method, path, headers, body): answers, errors, and what only the routed stack decides (404, 405, slash).
REQUESTS: list[tuple[str, str, dict[str, str], bytes]] = [
    ("POST", CHAT, JSON_HEADERS, json.dumps(chat_body()).encode()),
    ("POST", CHAT, JSON_HEADERS, json.dumps(chat_body(num_samples=3, stream=True)).encode()),
    ("POST", CHAT, {"Content-Type": "application/json"}, json.dumps(chat_body()).encode()),  # no key: 401
    ("POST", CHAT, JSON_HEADERS, b"{"),  # 422
    ("POST", CHAT, {**KEY, "Content-Type": "text/plain"}, b"{}"),  # wrong content type
    ("POST", CHAT, JSON_HEADERS, b"x" * 5000),  # over the body limit: 413
    ("POST", "/v4/model-configs", JSON_HEADERS, json.dumps({"model": "gpt-4o", "project": "p"}).encode()),
    ("GET", "/v4/healthz", {}, b""),
    ("GET", CHAT, KEY, b""),  # 405, with Allow
    ("POST", CHAT + "/", JSON_HEADERS, b"{}"),  # trailing slash: Starlette's redirect
    ("GET", "/v4/nowhere", KEY, b""),  # 404
    ("GET", "/v4/experiments/exp_demo/model-config", KEY, b""),  # a path with a parameter
]


def exchange(direct: bool) -> tuple[list[tuple[int, list[tuple[str, str]], bytes]], list[dict[str, Any]]]:
    app = create_app(MockSettings(seed=3, max_body_bytes=4096))
    if not direct:
        app.direct = {}  # type: ignore[attr-defined]  # every request through Starlette's routing
    answers = []
    with TestClient(app, follow_redirects=False) as client:
        for method, path, headers, body in REQUESTS:
            response = client.request(method, path, headers=headers, content=body)
            answers.append((response.status_code, sorted(response.headers.items()), response.content))
    return answers, [entry.as_dict() for entry in app.state.mock.journal.entries()]


def test_direct_paths_answer_and_journal_like_routed_ones() -> None:
    direct_answers, direct_journal = exchange(direct=True)
    routed_answers, routed_journal = exchange(direct=False)
    assert direct_answers == routed_answers
    assert direct_journal == routed_journal
    statuses = [status for status, _, _ in direct_answers]
    assert statuses == [200, 200, 401, 422, 422, 413, 200, 200, 405, 307, 404, 200], statuses


def test_the_chat_path_is_served_directly() -> None:
    app = create_app(MockSettings())
    assert ("POST", CHAT) in app.direct  # type: ignore[attr-defined]
    assert not any("{" in path for _, path in app.direct)  # type: ignore[attr-defined]


def test_a_bug_in_a_direct_route_is_a_logged_json_500(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(MockSettings())

    async def broken(request: Any, context: Any) -> Response:
        raise RuntimeError("boom")

    app.direct[("POST", CHAT)].handlers["POST"] = broken  # type: ignore[attr-defined]
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(CHAT, json=chat_body(), headers=KEY)
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal error in humanloop-mock; please report it with the log."}
    assert "boom" in caplog.text
    (entry,) = app.state.mock.journal.entries()
    assert entry.status == 500 and entry.completed


def test_json_bytes_writes_the_headers_starlette_would() -> None:
    body = b'{"a":"\xc3\xbc"}'
    assert JSONBytes(body, 201).raw_headers == Response(body, 201, media_type="application/json").raw_headers


def raw_post(port: int, count: int) -> None:
    body = json.dumps(chat_body()).encode()
    request = (b"POST /v4/chat-experiment HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: k\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(count):
            sock.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(65536)
            head, _, rest = answer.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            while len(rest) < length:
                rest += sock.recv(65536)
            assert head.startswith(b"HTTP/1.1 200")


def test_served_requests_leave_no_reference_cycles() -> None:
    """A cycle per request makes the collector run constantly under load (it once cost more than the
    rest of the app). Requests over a plain socket, so the client makes no cycles of its own."""
    with BackgroundServer(create_app(MockSettings())) as server:
        raw_post(server.port, 20)  # warm up: memo tables, templates
        gc.collect()
        gc.disable()
        try:
            raw_post(server.port, 300)
            unreachable = gc.collect()
        finally:
            gc.enable()
    assert unreachable < 100, f"{unreachable} objects in reference cycles after 300 requests"
