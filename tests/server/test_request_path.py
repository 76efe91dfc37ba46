"""One way through the app for every request: the door, the router's own answers (404, 405, 307), the one
error mapping (a bug is a logged JSON 500), the heads the sender writes, and no work left behind for the
garbage collector."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.responses import RedirectResponse, Response
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.http.request import SCOPE_KEY, Request
from mockserver.http.router import Found
from mockserver.http.server import BackgroundServer
from mockserver.pipeline.delivery import Relayed, empty, json_answer, typed
from tests.conftest import KEY, chat_body

CHAT = "/v4/chat-experiment"
JSON_HEADERS = {**KEY, "Content-Type": "application/json"}

# (method, path, headers, body, status): answers, errors, and what the router decides (404, 405, slash).
REQUESTS: list[tuple[str, str, dict[str, str], bytes, int]] = [
    ("POST", CHAT, JSON_HEADERS, json.dumps(chat_body()).encode(), 200),
    ("POST", CHAT, JSON_HEADERS, json.dumps(chat_body(num_samples=3, stream=True)).encode(), 200),
    ("POST", CHAT, {"Content-Type": "application/json"}, json.dumps(chat_body()).encode(), 401),  # no key
    ("POST", CHAT, JSON_HEADERS, b"{", 422),
    ("POST", CHAT, {**KEY, "Content-Type": "text/plain"}, b"{}", 422),  # wrong content type
    ("POST", CHAT, JSON_HEADERS, b"x" * 5000, 413),  # over the body limit
    ("POST", "/v4/model-configs", JSON_HEADERS, json.dumps({"model": "gpt-4o", "project": "p"}).encode(), 200),
    ("GET", "/v4/healthz", {}, b"", 200),
    ("GET", CHAT, KEY, b"", 405),  # with Allow
    ("POST", CHAT + "/", JSON_HEADERS, b"{}", 307),  # trailing slash
    ("GET", "/v4/nowhere", KEY, b"", 404),
    ("GET", "/v4/experiments/exp_demo/model-config", KEY, b"", 200),  # a path with a parameter
    ("PATCH", "/__admin/spec", KEY, b"", 405),
    ("GET", "/__admin", KEY, b"", 307),
    ("GET", "/healthz", {}, b"", 200),
]


def test_every_request_goes_through_the_door_and_the_api_is_journaled() -> None:
    app = create_app(MockSettings(seed=3, max_body_bytes=4096))
    with TestClient(app, follow_redirects=False) as client:
        answers = [client.request(method, path, headers=headers, content=body)
                   for method, path, headers, body, _ in REQUESTS]
    assert [a.status_code for a in answers] == [status for *_, status in REQUESTS]
    assert answers[8].headers["allow"] == "POST" and answers[8].json() == {"detail": "Method Not Allowed"}
    assert answers[12].headers["allow"] == "GET, HEAD, POST, PUT"  # every method of the path, in one order
    assert answers[9].headers["location"] == "http://testserver/v4/chat-experiment"
    assert answers[13].headers["location"] == "http://testserver/__admin/"
    assert answers[10].json() == {"detail": "Not Found"}
    journal = app.state.mock.journal.entries()  # type: ignore[attr-defined]
    journaled = [(m, p) for m, p, *_ in REQUESTS if not p.startswith("/__admin") and p != "/healthz"]
    assert [(e.method, e.path) for e in journal] == journaled
    assert [e.status for e in journal] == [s for m, p, *_, s in REQUESTS if (m, p) in journaled]
    assert journal[2].error.startswith("Missing X-API-KEY") and journal[5].error.startswith("Request body is larger")
    assert all(e.completed for e in journal)


class Cycle:
    """Stands in for uvicorn's request cycle: the app finds it through `send.__self__`."""

    disconnected = False

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


def test_the_request_rides_under_one_scope_key_and_lets_go_of_the_server() -> None:
    app = create_app(MockSettings())
    body = json.dumps(chat_body()).encode()
    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": CHAT, "query_string": b"", "headers": [
        (b"x-api-key", b"k"), (b"content-type", b"application/json")]}
    cycle = Cycle()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    asyncio.run(app(scope, receive, cycle.send))
    assert cycle.messages[0]["status"] == 200
    assert [key for key in scope if key.startswith("humanloop")] == [SCOPE_KEY]
    request = scope[SCOPE_KEY]
    assert isinstance(request, Request) and request.world is app.state.mock  # type: ignore[attr-defined]
    assert request.entry is not None and request.entry.completed and request.body == body
    assert request.connection is None  # let go when the request ended: no reference cycle through the scope


def test_a_bug_in_a_route_is_a_logged_json_500(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(MockSettings())

    async def broken(request: Any) -> Any:
        raise RuntimeError("boom")

    route = app.router.find("POST", CHAT)  # type: ignore[attr-defined]
    assert isinstance(route, Found)
    route.route.handlers["POST"] = broken  # type: ignore[index]
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(CHAT, json=chat_body(), headers=KEY)
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal error in humanloop-mock; please report it with the log."}
    assert "boom" in caplog.text
    (entry,) = app.state.mock.journal.entries()  # type: ignore[attr-defined]
    assert entry.status == 500 and entry.completed


def test_the_heads_are_the_ones_starlette_would_write() -> None:
    body = b'{"a":"\xc3\xbc"}'
    assert json_answer(body, 201).headers == Response(body, 201, media_type="application/json").raw_headers
    assert empty(204).headers == Response(status_code=204).raw_headers
    page = typed(b"<p>", "text/html; charset=utf-8", {"X-Frame": "no"})
    assert page.headers == Response(b"<p>", headers={"X-Frame": "no"}, media_type="text/html").raw_headers
    assert RedirectResponse("http://h/x").raw_headers == [(b"content-length", b"0"), (b"location", b"http://h/x")]


def raw_post(port: int, count: int, body: bytes | None = None, key: bytes = b"k", status: bytes = b"200") -> None:
    body = json.dumps(chat_body()).encode() if body is None else body
    request = (b"POST /v4/chat-experiment HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: " + key + b"\r\n"
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
            assert head.startswith(b"HTTP/1.1 " + status), head


@pytest.mark.parametrize(("body", "key", "status"), [
    (None, b"k", b"200"),
    (b'{"messages": [', b"k", b"422"),  # malformed JSON
    (b'{"messages": 5, "experiment_id": 1}', b"k", b"422"),  # wrong types
    (None, b"wrong", b"401"),
], ids=["answer", "malformed-json", "wrong-types", "wrong-key"])
def test_served_requests_leave_no_reference_cycles(body: bytes | None, key: bytes, status: bytes) -> None:
    """A cycle per request makes the collector run constantly under load (it once cost more than the
    rest of the app); an error answer once left its exception's frame in one. Requests over a plain socket,
    so the client makes no cycles of its own."""
    with BackgroundServer(create_app(MockSettings(api_keys=("k",)))) as server:
        raw_post(server.port, 20, body, key, status)  # warm up: memo tables, templates
        gc.collect()
        gc.disable()
        try:
            raw_post(server.port, 300, body, key, status)
            unreachable = gc.collect()
        finally:
            gc.enable()
    assert unreachable < 100, f"{unreachable} objects in reference cycles after 300 requests"


def test_another_source_can_answer_an_operation_and_is_journaled_like_the_generator() -> None:
    """The delivery seam: a handler given in `sources` answers the chat operation with its own `Delivery` (here
    a `Relayed` of bytes, as an upstream would give them); the door checks the key, reads and journals the
    request, and sends and journals the answer as for the generator's own."""
    chunks = [b'data: {"a": 1}\n\n', b'data: {"b": 2}\n\n']
    seen: list[bytes] = []

    async def relay(request: Request) -> Relayed:
        seen.append(request.body)

        async def pieces() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        return Relayed(200, [(b"content-type", b"text/event-stream")], pieces())

    app = create_app(MockSettings(seed=3), sources={"Chats_createExperiment": relay})
    body = json.dumps(chat_body(stream=True)).encode()
    with TestClient(app) as client:
        answer = client.post(CHAT, headers=JSON_HEADERS, content=body)
        refused = client.post(CHAT, headers={"Content-Type": "application/json"}, content=body)  # no key
        generated = client.post("/v4/model-configs", headers=JSON_HEADERS,
                                content=json.dumps({"model": "gpt-4o", "project": "p"}).encode())
    assert answer.status_code == 200 and answer.content == b"".join(chunks)
    assert refused.status_code == 401 and len(seen) == 1 and seen[0] == body  # the key is checked first
    assert generated.status_code == 200  # the other operations are still the generator's
    entry = app.state.mock.journal.entries()[0]
    assert entry.completed and entry.stream_chunks == chunks and entry.status == 200
    with pytest.raises(ValueError, match="no such operation"):
        create_app(MockSettings(), sources={"Chats_create": relay})


class _Cycle:
    """A server's request cycle as the door sees it: a `send` bound to an object with `disconnected`."""

    def __init__(self) -> None:
        self.disconnected = False
        self.messages: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


def test_what_goes_out_is_journaled_as_it_passes_and_nothing_after_the_client_left() -> None:
    """`http.sent.NotingSend`: the journal holds exactly what was handed to the server. A piece handed over
    after the client left is neither passed on nor noted as sent; the entry says the client left, and the
    access-log line has the status that went out."""
    cycle = _Cycle()
    chunks = [b'data: {"a": 1}\n\n', b'data: {"b": 2}\n\n', b'data: {"c": 3}\n\n']

    async def relay(request: Request) -> Relayed:
        async def pieces() -> AsyncIterator[bytes]:
            for number, chunk in enumerate(chunks):
                if number == 2:
                    cycle.disconnected = True  # the client leaves before the third piece
                yield chunk

        return Relayed(200, [(b"content-type", b"text/event-stream")], pieces())

    app = create_app(MockSettings(seed=3, access_log=True), sources={"Chats_createExperiment": relay})
    app.state.access_log.stream = io.StringIO()
    body = json.dumps(chat_body(stream=True)).encode()
    scope = {"type": "http", "method": "POST", "path": CHAT, "raw_path": CHAT.encode(), "query_string": b"",
             "root_path": "", "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 1),
             "client": ("127.0.0.1", 2), "headers": [(b"x-api-key", b"k"), (b"content-type", b"application/json"),
                                                     (b"content-length", str(len(body)).encode())]}
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    asyncio.run(app(scope, receive, cycle.send))
    passed_on = [m.get("body") for m in cycle.messages if m["type"] == "http.response.body"]
    assert cycle.messages[0]["status"] == 200 and passed_on == chunks[:2]
    entry = app.state.mock.journal.entries()[0]
    assert entry.stream_chunks == chunks[:2] and entry.client_left and not entry.completed
    assert scope[SCOPE_KEY].sent == (200, None)


@pytest.mark.parametrize("key", [None, "wrong", "secret"])
def test_the_key_is_judged_once_and_a_refused_key_never_gets_a_world(key: str | None) -> None:
    """With `--api-key` and `--isolate-keys`, a request without a key or with a wrong one is answered 401 and
    journaled in the shared world, on an API route and on `/healthz` alike; only an accepted key makes (and
    finds) its own world."""
    app = create_app(MockSettings(api_keys=("secret",), isolate_keys=True))
    headers = {"Content-Type": "application/json", **({"X-API-KEY": key} if key else {})}
    with TestClient(app) as client:
        chat = client.post(CHAT, headers=headers, content=json.dumps(chat_body()).encode())
        health = client.get("/v4/healthz", headers=headers)
    tenants = app.state.tenants
    shared = [entry.status for entry in tenants.shared.journal.entries()]
    assert health.status_code == 200  # (the API's health check needs no key)
    if key == "secret":
        assert chat.status_code == 200 and shared == [] and tenants.count() == 1
        assert [entry.status for entry in tenants.for_key(key, create=False).journal.entries()] == [200, 200]
    else:
        assert chat.status_code == 401 and shared == [401, 200] and tenants.count() == 0


def test_a_host_refusal_whose_body_cannot_be_sent_starts_no_second_answer() -> None:
    """The Host check sends its 400 through the same noting send as the door: once its head went out, a send
    that fails is not answered again with a 500 (a second head the server would refuse)."""
    from mockserver.http.hostcheck import HostCheck

    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body":
            raise OSError("connection lost")

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def never(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("a refused request reaches no app")

    scope = {"type": "http", "method": "GET", "path": "/v4/healthz", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"evil.example")]}
    with pytest.raises(OSError):
        asyncio.run(HostCheck(never, ("127.0.0.1",))(scope, receive, send))
    assert [m["status"] for m in messages if m["type"] == "http.response.start"] == [400]
    assert scope[SCOPE_KEY].sent == (400, None)
