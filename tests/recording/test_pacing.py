"""Replay timing as data, streams cut into events byte for byte, and exchanges captured as they pass."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.recording import ExchangeCapture, check_speed, replay_plan, split_events
from mockserver.recording.events import EventSplitter
from tests.recording.factory import SSE_HEADERS, URL, chat, event, json_exchange, stream_exchange

EVENTS = [(40.0, event({"n": 0})), (40.0, event({"n": 1})), (100.0, event({"n": 2})), (250.0, event({"n": 3}))]


def test_a_stream_plan_keeps_the_events_and_scales_their_offsets() -> None:
    exchange = stream_exchange(chat(stream=True), EVENTS, head_ms=30.0)
    for speed, scale in ((1, 1.0), (2, 0.5), (0.5, 2.0)):
        plan = replay_plan(exchange, speed)
        assert [data for _, data in plan.sends] == [data for _, data in EVENTS]  # same boundaries, same bytes
        assert plan.head_delay == pytest.approx(0.030 * scale)
        assert [delay for delay, _ in plan.sends] == pytest.approx([0.010 * scale, 0.0, 0.060 * scale, 0.150 * scale])
        assert plan.offsets == pytest.approx([offset / 1000 * scale for offset, _ in EVENTS])
    assert plan.headers == SSE_HEADERS


@pytest.mark.parametrize("speed", [0, math.inf])
def test_speed_zero_or_infinite_never_waits(speed: float) -> None:
    plan = replay_plan(stream_exchange(chat(stream=True), EVENTS, head_ms=30.0), speed)
    assert plan.head_delay == 0 and all(delay == 0 for delay, _ in plan.sends) and len(plan.sends) == 4


def test_a_recording_without_timing_never_waits() -> None:
    plan = replay_plan(stream_exchange(chat(stream=True), EVENTS, pace="none"), 1)
    assert plan.head_delay == 0 and {delay for delay, _ in plan.sends} == {0.0}


def test_a_json_plan_is_one_send_of_the_whole_body_after_its_time() -> None:
    exchange = json_exchange(chat(), {"ok": True}, head_ms=12.0, end_ms=20.0, status=201)
    plan = replay_plan(exchange)
    assert plan.status == 201 and plan.sends == [(pytest.approx(0.008), b'{"ok": true}')]
    assert plan.head_delay == pytest.approx(0.012)
    assert ("content-length", "12") not in plan.headers  # the replaying server sets its own framing


@pytest.mark.parametrize("speed", [-1, math.nan, "fast", None])
def test_a_bad_speed_is_refused_by_name(speed: object) -> None:
    with pytest.raises(ValueError, match="replay speed must be a number >= 0"):
        check_speed(speed)  # type: ignore[arg-type]


def test_offsets_edited_out_of_order_never_wait_backwards() -> None:
    exchange = stream_exchange(chat(stream=True), [(50.0, event({"n": 0})), (10.0, event({"n": 1}))], head_ms=5.0)
    assert [delay for delay, _ in replay_plan(exchange).sends] == pytest.approx([0.045, 0.0])


@pytest.mark.parametrize(("body", "events"), [
    (b"data: a\n\ndata: b\n\n", [b"data: a\n\n", b"data: b\n\n"]),
    (b"data: a\r\n\r\ndata: b\r\rdata: c", [b"data: a\r\n\r\n", b"data: b\r\r", b"data: c"]),
    (b"event: x\ndata: a\nid: 1\n\n: comment\n\n", [b"event: x\ndata: a\nid: 1\n\n", b": comment\n\n"]),
    (b"", []),
])
def test_events_are_cut_at_blank_lines_keeping_every_byte(body: bytes, events: list[bytes]) -> None:
    assert split_events(body) == events


@settings(max_examples=300, derandomize=True, deadline=None)
@given(body=st.lists(st.sampled_from([b"data: x", b"\n", b"\r", b"\r\n", b"y", b":"]), max_size=30).map(b"".join),
       cuts=st.lists(st.integers(0, 200), max_size=6))
def test_the_events_do_not_depend_on_how_the_bytes_arrive(body: bytes, cuts: list[int]) -> None:
    whole = split_events(body)
    assert b"".join(whole) == body
    splitter, pieces, start = EventSplitter(), [], 0
    for cut in sorted(min(c, len(body)) for c in cuts):
        pieces += splitter.feed(body[start:cut])
        start = cut
    pieces += splitter.feed(body[start:]) + splitter.close()
    assert pieces == whole


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_capture_stamps_each_event_when_its_last_byte_passed() -> None:
    clock = FakeClock()
    capture = ExchangeCapture("post", URL, [("X-API-KEY", "key-0123456789")], b'{"stream": true}', clock=clock)
    clock.now += 0.010
    capture.response_head(200, SSE_HEADERS)
    clock.now += 0.005
    capture.response_bytes(b"data: 1\n\ndata: ")  # one event and a half
    clock.now += 0.020
    capture.response_bytes(b"2\n\n")
    clock.now += 0.007
    capture.response_bytes(b"data: cut")  # the stream ends without its blank line
    clock.now += 0.100
    exchange = capture.finish()
    assert exchange.event_bytes() == [b"data: 1\n\n", b"data: 2\n\n", b"data: cut"]
    assert [e.offset_ms for e in exchange.response.content.events or []] == [15.0, 35.0, 42.0]
    assert exchange.timings.wait == 10.0 and exchange.time == 142.0
    assert exchange.request.method == "POST" and exchange.request.header_pairs() == [("X-API-KEY", "[redacted]")]


def test_a_capture_of_a_json_answer_keeps_the_body_whole() -> None:
    clock = FakeClock()
    capture = ExchangeCapture("POST", URL, [], b"{}", clock=clock)
    clock.now += 0.002
    capture.response_head(422, [("content-type", "application/json")], reason="Unprocessable Entity")
    capture.response_bytes(b'{"detail":')
    capture.response_bytes(b"[]}\n\n")
    exchange = capture.finish()
    assert not exchange.is_stream and exchange.response.content.body() == b'{"detail":[]}\n\n'
    assert exchange.response.status_text == "Unprocessable Entity"


def test_a_capture_without_a_response_is_refused() -> None:
    with pytest.raises(ValueError, match="no response head"):
        ExchangeCapture("POST", URL, [], b"").finish()
