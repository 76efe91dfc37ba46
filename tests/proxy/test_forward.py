"""The forwarder against a real `serve` and against raw servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest

from mockserver.proxy.forward import Upstream, UpstreamAnswer, UpstreamLimits, origin_of, parse_base_url
from tests.checker.raw_server import CLOSE, RESET, Answer, Pause, RawServer, Repeat, Seen, json_answer
from tests.support.process import serve_process

KEY = "sk-proxy-test-key-1234"
CHAT = json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hi"}]}).encode()
STREAM = json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hi"}],
                     "stream": True, "num_samples": 2}).encode()


def _headers(key: str | None = KEY, **extra: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"application/json"), (b"host", b"127.0.0.1:1"), (b"accept-encoding", b"gzip")]
    if key is not None:
        headers.append((b"x-api-key", key.encode()))
    headers += [(name.replace("_", "-").encode(), value.encode()) for name, value in extra.items()]
    return headers


async def _send(upstream: Upstream, body: bytes = CHAT, path: str = "/v4/chat-experiment", query: str = "",
                key: str | None = KEY) -> tuple[UpstreamAnswer, list[tuple[float, bytes]], float]:
    """Forward, read the whole body; (answer, [(seconds since the answer came, chunk)], seconds to the answer)."""
    started = time.monotonic()
    answer = await upstream.forward("POST", path, query, _headers(key), body)
    head = time.monotonic()
    chunks = [(time.monotonic() - head, chunk) async for chunk in answer.chunks()]
    return answer, chunks, head - started


def _run(base: str, limits: UpstreamLimits | None = None, **kwargs: Any) -> tuple[UpstreamAnswer, list[Any], float]:
    async def go() -> tuple[UpstreamAnswer, list[Any], float]:
        upstream = Upstream(base, limits)
        try:
            return await _send(upstream, **kwargs)
        finally:
            await upstream.aclose()

    return asyncio.run(go())


def _body(chunks: list[tuple[float, bytes]]) -> bytes:
    return b"".join(chunk for _, chunk in chunks)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- against a real serve ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served() -> Any:
    with serve_process("--seed", "7", "--api-key", KEY) as url:
        yield url


def test_json_call_goes_through_with_the_clients_key(served: str) -> None:
    answer, chunks, _ = _run(served, body=CHAT)
    assert answer.reached and answer.status == 200 and answer.complete
    body = json.loads(_body(chunks))
    assert body["data"][0]["model_config_id"] and body["project_id"]
    assert dict(answer.headers)[b"content-type"] == b"application/json"
    assert answer.received == len(_body(chunks)) == int(dict(answer.headers)[b"content-length"])


def test_wrong_or_missing_key_is_the_upstreams_401_relayed(served: str) -> None:
    wrong, chunks, _ = _run(served, key="not-the-key")
    assert wrong.status == 401 and wrong.reached and "detail" in json.loads(_body(chunks))
    missing, _, _ = _run(served, key=None)
    assert missing.status == 401


def test_stream_comes_back_as_the_upstream_sent_it(served: str) -> None:
    answer, chunks, _ = _run(served, body=STREAM)
    assert answer.status == 200 and answer.complete
    assert dict(answer.headers)[b"content-type"].startswith(b"text/event-stream")
    events = [e for e in _body(chunks).split(b"\n\n") if e]
    assert len(events) > 4 and all(e.startswith(b"data: ") for e in events)
    indexes = {json.loads(e[6:])["data"][0]["index"] for e in events if e != b"data: [DONE]"}
    assert indexes == {0, 1}


def test_query_and_path_below_the_base_are_kept(served: str) -> None:
    answer, chunks, _ = _run(served, path="/v4/chat-experiment", query="unused=1&x=%20y")
    assert answer.status == 200
    unknown, chunks, _ = _run(served, path="/v4/no-such-route")
    assert unknown.status == 404 and "detail" in json.loads(_body(chunks))


# ---- request and answer headers -------------------------------------------------------------------

def test_headers_passed_on_and_kept() -> None:
    upstream_headers = (("Content-Type", "application/json"), ("Date", "Tue, 01 Jan 2030 00:00:00 GMT"),
                        ("Server", "upstream/1.0"), ("Retry-After", "3"), ("Set-Cookie", "s=1"),
                        ("X-Internal", "secret"))
    with RawServer(lambda seen: Answer(429, upstream_headers, (b'{"detail":"slow down"}',))) as server:
        answer, chunks, _ = _run(server.url + "/v4", body=CHAT)
        seen: Seen = server.seen[0]
    names = [name for name, _ in answer.headers]
    assert answer.status == 429 and dict(answer.headers)[b"retry-after"] == b"3"
    assert names == [b"content-type", b"retry-after", b"content-length"]
    assert _body(chunks) == b'{"detail":"slow down"}'
    assert seen.path == "/v4/chat-experiment" and seen.body == CHAT
    assert seen.headers["x-api-key"] == KEY
    assert seen.headers["host"] == f"127.0.0.1:{server.port}"  # the upstream's own host, not the client's
    assert seen.headers["accept-encoding"] == "identity"
    assert "user-agent" not in seen.headers and "accept" not in seen.headers  # nothing the client did not send


# ---- a stream relayed while it is sent -----------------------------------------------------------------

def test_first_event_arrives_while_the_upstream_still_sends() -> None:
    events = [b'data: {"n": %d}\n\n' % n for n in range(3)]
    answer_parts = (events[0], Pause(0.4), events[1], Pause(0.4), events[2], CLOSE)
    raw = Answer(200, (("Content-Type", "text/event-stream"), ("Connection", "close")), answer_parts,
                 content_length=False)
    with RawServer(lambda seen: raw) as server:
        answer, chunks, _ = _run(server.url, body=STREAM)
    assert _body(chunks) == b"".join(events) and answer.complete
    first = next(at for at, chunk in chunks if chunk)
    assert chunks[-1][0] - first >= 0.6  # the first event came ~0.8 s before the last


# ---- failures -------------------------------------------------------------------------------------------

def test_unreachable_upstream_is_a_502_naming_the_cause() -> None:
    port = _free_port()
    answer, chunks, _ = _run(f"http://user:pw@127.0.0.1:{port}/v4")
    assert answer.status == 502 and not answer.reached
    detail = json.loads(_body(chunks))["detail"]
    assert f"upstream http://127.0.0.1:{port}/v4 unreachable or failing: could not connect" in detail
    assert KEY not in detail and "pw" not in detail and answer.failure == detail


def test_reset_before_the_head_is_a_502() -> None:
    with RawServer(lambda seen: Answer(200, head=b"", parts=(RESET,))) as server:
        answer, chunks, _ = _run(server.url)
    detail = json.loads(_body(chunks))["detail"]
    assert answer.status == 502 and detail.startswith(f"upstream {server.url} unreachable or failing: ")
    assert detail.endswith(("connection reset or closed", "broke the HTTP protocol or closed the connection"))


def test_no_head_in_time_is_a_502() -> None:
    with RawServer(lambda seen: Answer(200, parts=(Pause(5), b"{}"), head=b"")) as server:
        answer, chunks, waited = _run(server.url, UpstreamLimits(head_seconds=0.3, silence_seconds=3))
    assert answer.status == 502 and waited < 2
    assert json.loads(_body(chunks))["detail"] == f"upstream {server.url} gave no answer within 0.3 s"


def test_reset_mid_stream_ends_the_body_with_the_cause() -> None:
    first = b'data: {"n": 0}\n\n'
    raw = Answer(200, (("Content-Type", "text/event-stream"),), (first, Pause(0.1), RESET), content_length=False)
    with RawServer(lambda seen: raw) as server:
        answer, chunks, _ = _run(server.url)
    assert answer.status == 200 and answer.reached and not answer.complete
    assert _body(chunks) == first and answer.received == len(first)
    assert answer.failure is not None and "broke off its answer" in answer.failure


def test_slow_drip_is_cut_after_the_silence_limit() -> None:
    raw = Answer(200, (("Content-Type", "text/event-stream"),), (b"data: {}\n\n", Pause(3), b"data: {}\n\n"),
                 content_length=False)
    with RawServer(lambda seen: raw) as server:
        answer, chunks, _ = _run(server.url, UpstreamLimits(silence_seconds=0.3))
    assert _body(chunks) == b"data: {}\n\n"
    assert answer.failure is not None and "sent nothing for 0.3 s" in answer.failure
    assert answer.total_seconds < 2


def test_endless_drip_is_cut_by_the_whole_answer_limit() -> None:
    raw = Answer(200, (("Content-Type", "text/event-stream"),), (Repeat(b"data: {}\n\n", 10**6, 0.05),),
                 content_length=False)
    with RawServer(lambda seen: raw) as server:
        answer, chunks, _ = _run(server.url, UpstreamLimits(answer_seconds=0.5))
    assert answer.failure is not None and "took longer than 0.5 s" in answer.failure
    assert 0 < len(chunks) < 100


def test_an_answer_over_the_size_limit_is_cut() -> None:
    with RawServer(lambda seen: json_answer(b"x" * 5000)) as server:
        answer, chunks, _ = _run(server.url, UpstreamLimits(max_body_bytes=1000))
    assert answer.failure is not None and "over 1000 bytes" in answer.failure
    assert answer.received <= 1000 and len(_body(chunks)) == answer.received


def test_the_body_is_read_once() -> None:
    with RawServer(lambda seen: json_answer(b"{}")) as server:
        async def go() -> None:
            upstream = Upstream(server.url)
            answer = await upstream.forward("GET", "/v4/x", "", [], b"")
            assert [c async for c in answer.chunks()] == [b"{}"]
            with pytest.raises(RuntimeError, match="only once"):
                _ = [c async for c in answer.chunks()]
            await upstream.aclose()

        asyncio.run(go())
        assert server.seen[0].method == "GET" and "content-length" not in server.seen[0].headers


# ---- the base URL ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["127.0.0.1:9000/v4", "ftp://h/v4", "http:///v4", "http://h/v4?x=1", "",
                                 "http://h:99999/v4", "http://a b/v4", "http://user:s3cret-pw@h/v4?x=1",
                                 "ftp://user:s3cret-pw@h/v4"])
def test_base_url_must_be_http_with_a_host(bad: str) -> None:
    with pytest.raises(ValueError, match="--upstream") as refused:
        parse_base_url(bad)
    assert "s3cret-pw" not in str(refused.value)  # a password in the URL is never repeated


def test_base_url_and_targets() -> None:
    upstream = Upstream("http://u:p@127.0.0.1:9000/v4/")
    assert upstream.base_url == "http://u:p@127.0.0.1:9000/v4"
    assert upstream.origin == origin_of(upstream.base_url) == "http://127.0.0.1:9000/v4"
    assert upstream.target("/v4/chat-experiment", b"a=1") == "http://u:p@127.0.0.1:9000/v4/chat-experiment?a=1"
    assert upstream.target("/v4", "") == "http://u:p@127.0.0.1:9000/v4"
    assert upstream.target("/v4x/y", "") == "http://u:p@127.0.0.1:9000/v4/v4x/y"
    asyncio.run(upstream.aclose())


@pytest.mark.parametrize("field", ["connect_seconds", "head_seconds", "silence_seconds", "answer_seconds",
                                   "max_body_bytes"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        UpstreamLimits(**{field: 0})


def test_an_encoded_answer_is_relayed_decoded_without_its_length() -> None:
    import gzip

    plain = b'{"detail": "compressed anyway"}'
    encoded = Answer(200, (("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
                     (gzip.compress(plain),))
    with RawServer(lambda seen: encoded) as server:
        answer, chunks, _ = _run(server.url)
        assert server.seen[0].headers["accept-encoding"] == "identity"
    assert _body(chunks) == plain and answer.complete
    assert [name for name, _ in answer.headers] == [b"content-type"]  # no content-encoding, no stale length
