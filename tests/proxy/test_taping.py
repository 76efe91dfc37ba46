"""Recording on the answer path and replaying as planned sends: a proxied exchange from a real `serve` with a
timing profile is captured as the server's sender would see it, written, loaded, and answered again."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from mockserver.proxy.forward import Upstream
from mockserver.proxy.taping import Recorder, ReplayAnswer, ReplaySource
from mockserver.recording import CassetteError, MatchRules, build_exchange, load_cassette, split_events
from tests.proxy.timed import TIMED_CONFIG
from tests.support.process import serve_process

KEY = "sk-record-me-not-0123456789"
PROVIDER = "sk-provider-never-on-disk-42"


def _body(**extra: Any) -> bytes:
    return json.dumps({"experiment_id": "exp_timed", "messages": [{"role": "user", "content": "Hi"}],
                       "provider_api_keys": {"openai": PROVIDER}, **extra}).encode()


HEADERS = [(b"x-api-key", KEY.encode()), (b"content-type", b"application/json")]


Timed = list[tuple[float, bytes]]


async def _proxy_and_record(upstream: Upstream, recorder: Recorder, body: bytes) -> tuple[int, Timed]:
    """What the server does for one proxied request with --record: forward, relay every chunk through the
    capture; returns the status and (seconds since the request, chunk) as the client would have got them."""
    capture = recorder.start("POST", "http://127.0.0.1:8000/v4/chat-experiment", HEADERS, body)
    started = time.monotonic()
    answer = await upstream.forward("POST", "/v4/chat-experiment", b"", HEADERS, body)
    capture.response_head(answer.status, [(n.decode(), v.decode()) for n, v in answer.headers], answer.reason)
    seen = []
    async for chunk in answer.chunks():
        capture.response_bytes(chunk)
        seen.append((time.monotonic() - started, chunk))
    recorder.finish(capture, comment="proxied")
    return answer.status, seen


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, list[tuple[float, bytes]]]]]:
    folder = tmp_path_factory.mktemp("taping")
    (folder / "timed.yaml").write_text(TIMED_CONFIG)
    cassette = folder / "proxied.har"
    bodies = [_body(), _body(stream=True), _body(stream=True, num_samples=3), _body(stream=True),
              json.dumps({"experiment_id": "exp_timed", "messages": "not a list"}).encode()]
    with serve_process("--seed", "7", "--config", str(folder / "timed.yaml")) as url:
        async def go() -> list[tuple[int, list[tuple[float, bytes]]]]:
            upstream = Upstream(url)
            recorder = Recorder(cassette, version="test")
            try:
                return [await _proxy_and_record(upstream, recorder, body) for body in bodies]
            finally:
                recorder.close()
                await upstream.aclose()

        return cassette, asyncio.run(go())


def _replay(source: ReplaySource, body: bytes) -> ReplayAnswer:
    return source.answer("POST", "/v4/chat-experiment", body, HEADERS, "http://127.0.0.1:8001/v4/chat-experiment")


def test_the_cassette_holds_every_exchange_and_no_key(recorded: Any) -> None:
    path, live = recorded
    text = path.read_text()
    assert KEY not in text and PROVIDER not in text and "[redacted]" in text
    cassette = load_cassette(path)
    assert [e.response.status for e in cassette.exchanges] == [status for status, _ in live] == [200, 200, 200,
                                                                                                  200, 422]
    assert [e.comment for e in cassette.exchanges] == ["proxied"] * 5
    for exchange, (_, chunks) in zip(cassette.exchanges, live, strict=True):
        assert exchange.response.content.body() == b"".join(c for _, c in chunks)


def test_replay_gives_the_same_bytes_and_event_boundaries(recorded: Any) -> None:
    path, live = recorded
    source = ReplaySource.load(path, speed=0)
    bodies = [_body(), _body(stream=True), _body(stream=True, num_samples=3), _body(stream=True)]
    for number, body in enumerate(bodies):
        answer = _replay(source, body)
        received = b"".join(c for _, c in live[number][1])
        assert answer.miss is None and answer.status == 200 and answer.body == received
        assert answer.label.startswith(f"recording #{number} ")
        if answer.stream:
            assert answer.sends == split_events(received) and len(answer.sends) > 3
            assert dict(answer.headers)[b"content-type"].startswith(b"text/event-stream")
            assert b"content-length" not in dict(answer.headers)
        else:
            assert dict(answer.headers)[b"content-length"] == b"%d" % len(received)
        assert answer.wait == 0 and set(answer.pauses) == {0.0}  # speed 0: no waiting
    # the two identical stream requests took their recordings in order (#1, then #3)
    assert source.replayer.unused() == [4]


def test_replay_keeps_the_recorded_pace(recorded: Any) -> None:
    path, live = recorded
    answer = _replay(ReplaySource.load(path, speed=1), _body(stream=True))
    offsets, at = [], answer.wait
    for pause in answer.pauses:
        at += pause
        offsets.append(at)
    # each event's offset as the client got it live, within 10% or 20 ms
    live_offsets = [t for t, _ in live[1][1]]
    events_live = split_events(b"".join(c for _, c in live[1][1]))
    assert len(live_offsets) == len(events_live) == len(offsets)  # one chunk per event when paced
    for planned, measured in zip(offsets, live_offsets, strict=True):
        assert abs(planned - measured) <= max(0.1 * measured, 0.02)
    assert offsets[0] >= 0.1  # the profile's first-event wait (0.12 s) was recorded
    double = _replay(ReplaySource.load(path, speed=2), _body(stream=True))
    assert double.wait == pytest.approx(answer.wait / 2) and double.pauses == pytest.approx(
        [p / 2 for p in answer.pauses])


def test_a_json_answer_waits_its_recorded_time(recorded: Any) -> None:
    answer = _replay(ReplaySource.load(path := recorded[0]), _body())
    assert answer.wait == pytest.approx(load_cassette(path).exchanges[0].time / 1000, abs=1e-6)
    assert answer.wait >= 0.1  # a timed JSON answer waits as long as its stream would


def test_a_miss_names_the_nearest_recording(recorded: Any) -> None:
    path, _ = recorded
    source = ReplaySource.load(path, speed=0)
    answer = _replay(source, _body(stream=True, num_samples=2))
    assert answer.status == 404 and answer.miss is not None and source.misses == 1
    detail = json.loads(answer.body)["detail"]
    assert detail == answer.miss and "Nearest: #1 " in detail
    assert "#2 (POST /v4/chat-experiment): body.num_samples recorded 3, received 2." in detail
    assert dict(answer.headers)[b"content-type"] == b"application/json"
    assert PROVIDER not in detail


def test_ignored_fields_and_used_up_requests(recorded: Any) -> None:
    path, _ = recorded
    source = ReplaySource.load(path, speed=0)
    assert _replay(source, _body(user="someone else", metadata={"run": 2})).miss is None
    used_up = _replay(source, _body())
    assert used_up.status == 404 and "every recording of this POST /v4/chat-experiment request was used" in \
        (used_up.miss or "")
    strict = ReplaySource.load(path, speed=0, rules=MatchRules(ignore=()))
    assert _replay(strict, _body(user="x")).status == 404


def test_record_on_miss_appends_an_answer_already_given() -> None:
    source = ReplaySource.of([], speed=0)
    fetched = build_exchange(method="POST", url="http://h/v4/chat-experiment", request_headers=[],
                             request_body=b'{"a": 1}', status=200,
                             response_headers=[("content-type", "application/json")], body=b'{"ok": true}')
    assert source.add_answered(fetched) == 0
    again = source.answer("POST", "/v4/chat-experiment", b'{"a":1}')
    assert again.status == 404 and "#0" in (again.miss or "")  # the request that fetched it took it


def test_redacted_headers_are_not_replayed() -> None:
    exchange = build_exchange(method="GET", url="http://h/v4/x", request_headers=[], request_body=b"", status=200,
                              response_headers=[("Set-Cookie", "s=secret"), ("Content-Type", "application/json")],
                              body=b"{}")
    answer = ReplaySource.of([exchange], speed=0).answer("GET", "/v4/x", b"")
    assert answer.headers == [(b"content-type", b"application/json"), (b"content-length", b"2")]


def test_recorder_never_fails_an_answer(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "c.har")
    no_head = recorder.start("POST", "http://h/v4/chat-experiment", HEADERS, b"{}")
    assert recorder.finish(no_head) is None  # dropped before a head: nothing to keep
    recorder.close()
    late = recorder.start("POST", "http://h/v4/chat-experiment", HEADERS, b"{}")
    late.response_head(200, [("content-type", "application/json")])
    late.response_bytes(b"{}")
    assert recorder.finish(late) is None and recorder.failed == 1 and "closed" in (recorder.last_failure or "")
    assert load_cassette(tmp_path / "c.har").exchanges == []


def test_a_second_recorder_on_the_same_file_is_refused(tmp_path: Path) -> None:
    first = Recorder(tmp_path / "c.har")
    with pytest.raises(CassetteError, match="another process is recording"):
        Recorder(tmp_path / "c.har")
    first.close()


def test_a_bad_speed_is_refused(recorded: Any) -> None:
    with pytest.raises(ValueError, match="replay speed must be a number >= 0"):
        ReplaySource.load(recorded[0], speed=-1)
