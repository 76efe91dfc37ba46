"""Provider keys are never kept, whatever the body's shape or state (issue 16, case 6).

Before, only a top-level JSON object with an object value was redacted, and invalid JSON only when the
value held no nested braces: the issue's shapes below all reached the journal with the key in them.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer, ServerOptions
from mockserver.world.provider_keys import redact_body as scrub
from tests.conftest import KEY

SECRET = "sk-live-SECRET"
VALID = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hi"}]}

SHAPES = {
    "object": json.dumps({**VALID, "provider_api_keys": {"openai": SECRET}}).encode(),
    "invalid JSON with nested braces": b'{"provider_api_keys": {"openai": {"key": "' + SECRET.encode() + b'"}}, oops',
    "escaped key name": b'{"experiment_id": "exp_demo", "provider_api_key\\u0073": {"openai": "'
                        + SECRET.encode() + b'"}}',
    "every letter escaped": b'{"' + "".join(f"\\u{ord(c):04X}" for c in "provider_api_keys").encode()
                            + b'": {"openai": "' + SECRET.encode() + b'"}}',
    "list body": json.dumps([{"provider_api_keys": {"openai": SECRET}}]).encode(),
    "string value": json.dumps({**VALID, "provider_api_keys": SECRET}).encode(),
    "nested deep": json.dumps({"a": [{"b": {"provider_api_keys": [SECRET, {"x": SECRET}]}}]}).encode(),
    "cut off in the value": b'{"experiment_id": "exp_demo", "provider_api_keys": {"openai": "' + SECRET.encode(),
    "form encoded": b"provider_api_keys=" + SECRET.encode() + b"&experiment_id=exp_demo",
    "unclosed string value": b'{"provider_api_keys": "' + SECRET.encode() + b' and more',
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_no_shape_keeps_the_key(name: str) -> None:
    body = SHAPES[name]
    assert SECRET.encode() in body
    kept = scrub(body)
    assert SECRET.encode() not in kept and b"[redacted]" in kept


def test_bodies_without_the_key_are_kept_as_they_are() -> None:
    for body in (json.dumps(VALID).encode(), b'{"content": "caf\\u00e9 provider"}', b"not json", b""):
        assert scrub(body) is body


def test_the_object_form_keeps_its_provider_names() -> None:
    kept = json.loads(scrub(json.dumps({**VALID, "provider_api_keys": {"openai": SECRET, "ai21": None}}).encode()))
    assert kept["provider_api_keys"] == {"openai": "[redacted]", "ai21": None} and kept["messages"] == VALID["messages"]


@pytest.mark.parametrize("name", list(SHAPES))
def test_no_door_shows_the_key(name: str) -> None:
    """Journal listing, the unexpected-requests report and the journal page's data: none has it."""
    with TestClient(create_app(MockSettings())) as client:
        answer = client.post("/v4/chat-experiment", content=SHAPES[name],
                             headers={**KEY, "content-type": "application/json"})
        assert answer.status_code in (200, 422) and SECRET not in answer.text
        for path in ("/__admin/requests", "/__admin/unexpected", "/__admin/requests?since=-1&limit=1"):
            shown = client.get(path, headers=KEY)
            assert shown.status_code == 200 and SECRET not in shown.text
        assert client.get("/__admin/requests", headers=KEY).json()["total"] == 1


def test_a_body_cut_off_by_the_body_timeout_is_kept_without_the_key() -> None:
    app = create_app(MockSettings())
    with BackgroundServer(app, options=ServerOptions(body_timeout=0.3)) as server, \
            socket.create_connection(("127.0.0.1", server.port)) as sock:
        part = b'{"experiment_id": "exp_demo", "provider_api_keys": {"openai": "' + SECRET.encode()
        sock.sendall(b"POST /v4/chat-experiment HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: k\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + part)
        sock.settimeout(5)
        assert b" 408 " in sock.recv(4096)
        deadline = time.monotonic() + 5
        while not app.state.mock.journal.entries() and time.monotonic() < deadline:
            time.sleep(0.02)
    entry = app.state.mock.journal.entries()[-1]
    assert entry.client_left and entry.status == 408
    assert SECRET.encode() not in entry.raw_body and SECRET not in json.dumps(entry.as_dict())
