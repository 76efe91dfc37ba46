"""A request that asks to switch protocols keeps its body (review of issue 16, finding 6).

The HTTP parser stops reading HTTP at `Upgrade` + `Connection: upgrade`: the body is the new protocol's,
as far as it knows. The mock never switches, so it answered such a POST as one without a body (422
`field required`, journaled with `body: null`): what the client sent was lost. Now the body is read as
any body is, whether it arrives with the headers, after them, or in chunks.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from mockserver.http.server import BackgroundServer
from tests.conftest import KEY

BODY = json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "hi"}]}).encode()


def _exchange(port: int, parts: list[bytes]) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for part in parts:
            sock.sendall(part)
            time.sleep(0.05)  # each part in a read of its own
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _head(upgrade: bytes, framing: bytes) -> bytes:
    return (b"POST /v4/chat-experiment HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: " + KEY["X-API-KEY"].encode()
            + b"\r\nUpgrade: " + upgrade + b"\r\nConnection: Upgrade\r\nContent-Type: application/json\r\n"
            + framing + b"\r\n")


CHUNKED = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)
CASES = {
    "websocket, body with the head": lambda: [_head(b"websocket", b"Content-Length: %d\r\n" % len(BODY)) + BODY],
    "h2c, body after the head": lambda: [_head(b"h2c", b"Content-Length: %d\r\n" % len(BODY)), BODY[:20], BODY[20:]],
    "any protocol, chunked": lambda: [_head(b"foo", b"Transfer-Encoding: chunked\r\n"), CHUNKED],
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_post_asking_to_switch_protocols_is_answered_with_its_body(live_server: BackgroundServer,
                                                                     name: str) -> None:
    answer = _exchange(live_server.port, CASES[name]())
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:300]
    assert b"connection: close" in answer.lower()  # nothing of another protocol follows on it
    entry = live_server.app.state.mock.journal.entries()[-1]
    assert entry.status == 200 and entry.body == json.loads(BODY) and not entry.body_truncated
    assert dict(entry.raw_headers)[b"upgrade"] in (b"websocket", b"h2c", b"foo")


def test_a_broken_chunk_after_an_upgrade_is_a_400(live_server: BackgroundServer) -> None:
    answer = _exchange(live_server.port, [_head(b"websocket", b"Transfer-Encoding: chunked\r\n") + b"zz\r\n"])
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Invalid HTTP request" in answer
