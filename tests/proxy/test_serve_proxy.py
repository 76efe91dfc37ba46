"""`serve --upstream`: answers relayed as they arrive, unchanged, checked off the client's path; an upstream
that fails gives a 502 naming the cause; scripts and faults answer before anything is forwarded."""

from __future__ import annotations

import json
import signal
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from tests.checker.raw_server import (
    CLOSE,
    FOREVER,
    RESET,
    Answer,
    Pause,
    RawServer,
    Repeat,
    Seen,
    json_answer,
    stream_answer,
)
from tests.conftest import chat_body
from tests.support.process import serve_logged

KEY = "sk-proxy-client-key-0123456789"
HEADERS = {"X-API-KEY": KEY, "Content-Type": "application/json"}
EVENT_STREAM = (("Content-Type", "text/event-stream; charset=utf-8"), ("Connection", "close"))


@contextmanager
def proxy_to(upstream: str, **settings: Any) -> Iterator[tuple[str, Any]]:
    """An in-process `serve --upstream` (base URL, app)."""
    app = create_app(MockSettings(upstream=upstream, **settings))
    try:
        with BackgroundServer(app) as server:
            yield server.base_url, app
    finally:
        app.traffic.close()


def journal(url: str) -> list[dict[str, Any]]:
    return httpx.get(url.removesuffix("/v4") + "/__admin/requests", headers=HEADERS).json()["requests"]


def violations(url: str) -> dict[str, Any]:
    return httpx.get(url.removesuffix("/v4") + "/__admin/violations", headers=HEADERS).json()


def until_judged(url: str, count: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (found := violations(url))["judged"] < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return found


def mock_answers() -> tuple[bytes, bytes]:
    """A real JSON answer and a real 2-sample stream of the mock (seed 7)."""
    with TestClient(create_app(MockSettings(seed=7))) as client:
        whole = client.post("/v4/chat-experiment", headers=HEADERS, json=chat_body()).content
        stream = client.post("/v4/chat-experiment", headers=HEADERS, json=chat_body(stream=True, num_samples=2))
        return whole, stream.content


def deviating(json_body: bytes, stream_body: bytes) -> tuple[bytes, bytes]:
    """The answers with `model_config_id` taken out of the JSON, and `finish_reason` out of the last event."""
    value = json.loads(json_body)
    del value["data"][0]["model_config_id"]
    events = [e for e in stream_body.split(b"\n\n") if e]
    last = json.loads(events[-1][len(b"data: "):])
    del last["data"][0]["finish_reason"]
    events[-1] = b"data: " + json.dumps(last).encode()
    return json.dumps(value).encode(), b"\n\n".join(events) + b"\n\n"


def test_the_first_event_arrives_while_a_slow_upstream_still_sends() -> None:
    events = [b'data: {"n": %d}\n\n' % n for n in range(3)]
    slow = Answer(200, EVENT_STREAM, (events[0], Pause(0.3), events[1], Pause(0.3), events[2], CLOSE),
                  content_length=False)
    with RawServer(lambda seen: slow) as upstream, proxy_to(upstream.url + "/v4") as (url, _), \
            httpx.Client() as client:
        started = time.monotonic()
        pieces = []
        with client.stream("POST", f"{url}/chat-experiment", headers=HEADERS,
                           json=chat_body(stream=True)) as response:
            for piece in response.iter_raw():
                pieces.append((time.monotonic() - started, piece))
    assert b"".join(p for _, p in pieces) == b"".join(events)
    assert pieces[-1][0] - pieces[0][0] >= 0.1 + 0.4  # the first event came >= 0.5 s before the last
    assert upstream.seen[0].headers["x-api-key"] == KEY


def test_deviations_are_named_while_the_client_gets_the_upstreams_bytes(tmp_path: Path) -> None:
    json_body, stream_body = deviating(*mock_answers())

    def answer(seen: Seen) -> Answer:
        wants = seen.json() or {}
        if wants.get("stream"):
            return Answer(200, EVENT_STREAM, (stream_body, CLOSE), content_length=False)
        return json_answer(json_body)

    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    with RawServer(answer) as upstream, serve_logged(tmp_path, "--upstream", upstream.url + "/v4", "--report",
                                                     str(report), "--junit", str(junit)) as (url, process, log):
        got_json = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
        got_stream = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body(stream=True))
        assert got_json.content == json_body and got_stream.content == stream_body  # unchanged
        found = until_judged(url, 2)
        entries = journal(url)
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    checks = {c["check"]: c for c in found["checks"]}
    assert {"response_schema", "stream_finish_reason"} <= set(checks)
    assert any("model_config_id" in f["field"] for f in checks["response_schema"]["fields"])
    assert checks["stream_finish_reason"]["latest"]["exchange"] == entries[1]["seq"]
    assert checks["response_schema"]["latest"]["status"] == 200
    assert entries[0]["violations"] and {v["check"] for v in entries[0]["violations"]} == {"response_schema"}
    assert "stream_finish_reason" in {v["check"] for v in entries[1]["violations"]}
    document = json.loads(report.read_text())
    assert document["result"] == "fail" and document["exchanges"]["judged"] == 2
    assert {"response_schema", "stream_finish_reason"} <= {v["check"] for v in document["violations"]}
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    failed = {case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None}
    assert {"response_schema", "stream_finish_reason"} <= failed
    text = log.read_text()
    assert "passive checks: 2 exchanges judged, 2 with violations: " in text and "stream_finish_reason x" in text
    assert KEY not in text + report.read_text() + junit.read_text()


def test_an_unreachable_upstream_is_a_journaled_502() -> None:
    with RawServer(lambda seen: json_answer(b"{}")) as gone:
        dead = gone.url  # the port is free once it stops
    with proxy_to(dead + "/v4") as (url, _):
        answer = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
        assert answer.status_code == 502
        detail = answer.json()["detail"]
        assert detail.startswith(f"upstream {dead}/v4 unreachable or failing: could not connect")
        entry = journal(url)[0]
        assert entry["status"] == 502 and entry["error"] == detail and entry["answered_by"] == f"upstream {dead}/v4"
        assert KEY not in json.dumps(entry)


def test_an_upstream_cut_mid_stream_cuts_the_clients_answer() -> None:
    first = b'data: {"n": 0}\n\n'
    cut = Answer(200, EVENT_STREAM[:1], (first, Pause(0.05), RESET), content_length=False)
    with RawServer(lambda seen: cut) as upstream, proxy_to(upstream.url + "/v4") as (url, _):
        got = b""
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)), httpx.stream(
                "POST", f"{url}/chat-experiment", headers=HEADERS, json=chat_body(stream=True)) as response:
            for piece in response.iter_raw():
                got += piece
        assert got == first
        time.sleep(0.1)
        entry = journal(url)[0]
        assert entry["completed"] is False and "broke off its answer" in entry["error"]


def _read_until_it_breaks(url: str, body: dict[str, Any]) -> bytes:
    """The bytes of an answer that must end with a dropped connection, not a clean end."""
    got = b""
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)), httpx.stream(
            "POST", f"{url}/chat-experiment", headers=HEADERS, json=body) as response:
        assert response.status_code == 200
        for piece in response.iter_raw():
            got += piece
    return got


@pytest.mark.parametrize("stream", [True, False])
def test_an_answer_that_broke_off_while_recorded_breaks_off_when_replayed(tmp_path: Path, stream: bool) -> None:
    """A recording keeps that its answer broke off (`_brokenOff`), and its replay drops the connection after
    the same bytes: the client's error path the recording met is met again, not a clean, shorter answer."""
    first = b'data: {"n": 0}\n\n' if stream else b'{"data": [{"outp'
    head = EVENT_STREAM[:1] if stream else (("Content-Type", "application/json"), ("Content-Length", "1000"))
    cut = Answer(200, head, (first, Pause(0.05), RESET), content_length=False)
    cassette = tmp_path / "cut.har"
    with RawServer(lambda seen: cut) as upstream, \
            proxy_to(upstream.url + "/v4", record=str(cassette)) as (url, _):
        assert _read_until_it_breaks(url, chat_body(stream=stream)) == first
        time.sleep(0.1)
    entry = json.loads(cassette.read_text())["log"]["entries"][0]
    assert "broke off its answer" in entry["_brokenOff"]
    assert "(the answer broke off: " in entry["comment"] and "client left" not in entry["comment"]
    app = create_app(MockSettings(replay=str(cassette)))
    with BackgroundServer(app) as server:
        assert _read_until_it_breaks(server.base_url, chat_body(stream=stream)) == first
        time.sleep(0.1)
        replayed = journal(server.base_url)[0]
        assert replayed["completed"] is False and "broke off its answer" in replayed["error"]
    app.traffic.close()


def test_faults_and_scripts_answer_before_anything_is_forwarded() -> None:
    with RawServer(lambda seen: json_answer(b'{"from": "upstream"}')) as upstream, \
            proxy_to(upstream.url + "/v4") as (url, _):
        admin = url.removesuffix("/v4") + "/__admin"
        httpx.post(f"{admin}/faults", headers=HEADERS, json={"status": 429, "retry_after": 2}).raise_for_status()
        httpx.post(f"{admin}/scripts", headers=HEADERS,
                   json={"answer": {"output": "scripted"}, "match": {"message": "script me"}}).raise_for_status()
        refused = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
        assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
        scripted = httpx.post(f"{url}/chat-experiment", headers=HEADERS,
                              json=chat_body(messages=[{"role": "user", "content": "please script me"}]))
        assert scripted.json()["data"][0]["output"] == "scripted"
        assert upstream.seen == []  # neither reached the upstream
        relayed = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
        assert relayed.json() == {"from": "upstream"} and len(upstream.seen) == 1
        entries = journal(url)
        assert [e["answered_by"] for e in entries] == ["mock", "mock", f"upstream {upstream.url}/v4"]
        assert [e["call"] for e in entries[:2]] == [1, 2]
        # the forwarded call counted too: a rule for call 4 meets the fourth chat call
        httpx.post(f"{admin}/faults", headers=HEADERS, json={"status": 503, "match": {"call": 4}})
        assert httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body()).status_code == 503


def test_admin_works_as_usual_and_other_paths_are_forwarded() -> None:
    with RawServer(lambda seen: json_answer(b'{"items": []}')) as upstream, \
            proxy_to(upstream.url + "/v4") as (url, _):
        assert httpx.get(url.removesuffix("/v4") + "/__admin/info", headers=HEADERS).json()["seed"] == 0
        listed = httpx.get(f"{url}/projects/pr_1/experiments?page=2", headers=HEADERS)
        assert listed.json() == {"items": []}
        assert upstream.seen[0].path == "/v4/projects/pr_1/experiments?page=2"
        assert httpx.get(url.removesuffix("/v4") + "/healthz").status_code == 200
        assert len(upstream.seen) == 1  # the health probe is the mock's own


@pytest.mark.parametrize(("flags", "says"), [
    (["--report", "r.json"], "--report and --junit write the passive checks of --upstream"),
    (["--replay", "missing.har"], "missing.har"),
    (["--record-on-miss", "--upstream", "http://127.0.0.1:9/v4"], "--record-on-miss needs --replay FILE"),
    (["--upstream", "127.0.0.1:9000/v4"], "--upstream must be an http:// or https:// URL"),
    (["--replay-speed", "-1"], "--replay-speed"),
])
def test_flags_that_cannot_work_stop_serve_with_one_line(tmp_path: Path, flags: list[str], says: str) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", *flags], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode in (1, 2) and says in done.stderr, done.stderr
    assert "serving Humanloop v4" not in done.stdout and "Traceback" not in done.stderr


def test_a_client_that_leaves_stops_the_reading_of_an_endless_upstream() -> None:
    endless = Answer(200, EVENT_STREAM[:1], (Repeat(b'data: {"n": 0}\n\n', FOREVER, 0.02),), content_length=False)
    with RawServer(lambda seen: endless) as upstream, proxy_to(upstream.url + "/v4") as (url, _):
        with httpx.stream("POST", f"{url}/chat-experiment", headers=HEADERS, json=chat_body(stream=True)) as response:
            assert next(response.iter_raw()).startswith(b"data: ")
        deadline = time.monotonic() + 5
        while upstream._tasks and time.monotonic() < deadline:  # the upstream's connection, closed by the proxy
            time.sleep(0.05)
        assert not upstream._tasks
        entry = journal(url)[0]
        assert entry["client_left"] is True and entry["completed"] is False
        assert entry["violations"] is None and violations(url)["not_judged"]["client_left"] == 1


def test_keys_in_any_request_shape_echoed_by_the_upstream_are_kept_nowhere(tmp_path: Path) -> None:
    """An upstream that echoes the request (path with query, every header) as a non-JSON answer: the
    checker quotes what it got in its violation, the journal keeps the answer; neither may keep a key that
    came in a query string, an `Authorization` header or a header named like an API key."""
    secrets = {"query": "QUERYKEY-0123456789", "bearer": "BEARERKEY-0123456789", "openai": "OPENAIKEY-0123456789"}

    def echo(seen: Seen) -> Answer:  # a stream event that is not JSON: the checker quotes it
        text = seen.path + " " + json.dumps(seen.headers)
        return stream_answer(b"data: " + text.encode() + b"\n\n")

    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    with RawServer(echo) as upstream, serve_logged(tmp_path, "--upstream", upstream.url + "/v4", "--report",
                                                   str(report), "--junit", str(junit)) as (url, process, log):
        answer = httpx.post(f"{url}/chat-experiment?api_key={secrets['query']}", json=chat_body(stream=True),
                            headers={**HEADERS, "Authorization": f"Bearer {secrets['bearer']}",
                                     "X-OpenAI-Api-Key": secrets["openai"]})
        assert all(secret in answer.text for secret in [*secrets.values(), KEY])  # the client gets the echo
        found = until_judged(url, 1)
        kept = json.dumps(journal(url)) + json.dumps(found)
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    quoted = [c["latest"]["message"] for c in found["checks"]]
    assert any("QUERYKEY" in m or "[redacted]" in m for m in quoted), quoted  # the payload was quoted
    written = kept + report.read_text() + junit.read_text() + log.read_text()
    for secret in [*secrets.values(), KEY]:
        assert secret not in written, secret


def test_an_upstream_status_no_server_may_send_is_a_502() -> None:
    odd = Answer(head=b"HTTP/1.1 999 Odd\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n",
                 parts=(b"{}",))
    with RawServer(lambda seen: odd) as upstream, proxy_to(upstream.url + "/v4") as (url, _):
        answer = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body())
        assert answer.status_code == 502 and "status 999" in answer.json()["detail"]
        assert journal(url)[0]["status"] == 502
