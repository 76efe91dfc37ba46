"""Fault planning and stream shaping on their own, without HTTP: merged plans, error answers, damaged streams."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from mockserver.http.deliver import deliver
from mockserver.http.request import Request
from mockserver.pipeline.delivery import EVENT_STREAM_HEADERS, Paced
from mockserver.spec.faults import FaultPlan, damaged, event_delays, malformed, plan_faults
from mockserver.spec.models import FaultSpec
from mockserver.spec.rules import Rule


def fired(*specs: dict[str, Any]) -> list[Rule[FaultSpec]]:
    return [Rule(f"fault-{n}", f"fault-{n}", FaultSpec.model_validate(spec), used=1)
            for n, spec in enumerate(specs, start=1)]


EVENTS = [b'data: {"n": %d, "text": "event number %d"}\n\n' % (n, n) for n in range(1, 6)]


def shaped(plan: FaultPlan | None, delays: list[float] | None = None) -> list[bytes]:
    """What a client receives of `EVENTS` damaged as `plan` says, sent one by one after `delays`."""
    events = damaged(EVENTS, plan)
    if delays is None:
        return events
    sent: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            sent.append(message["body"])

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client stays
        return {"type": "http.disconnect"}

    paced = Paced(200, list(EVENT_STREAM_HEADERS), events, delays[:len(events)])
    asyncio.run(deliver(paced, Request({"type": "http", "headers": []}), {}, receive, send))
    return sent


def test_no_fault_no_plan() -> None:
    assert plan_faults([]) is None


def test_first_fault_to_set_an_effect_wins_it_delays_add_up_reset_if_any() -> None:
    plan = plan_faults(fired(
        {"status": 429, "retry_after": 2, "latency": 0.5, "event_delay": 0.1},
        {"status": 500, "detail": "later", "latency": 0.25, "cut_after_events": 3},
        {"reset": True, "first_event_delay": 1.0, "malformed_event": 2},
    ))
    assert plan == FaultPlan(names=("fault-1", "fault-2", "fault-3"), status=429, detail="later", retry_after=2,
                             latency=0.75, first_event_delay=1.0, event_delay=0.1, cut_after_events=3,
                             malformed_event=2, reset=True)


@pytest.mark.parametrize(("spec", "status", "detail", "retry_after"), [
    ({"status": 429, "retry_after": 1}, 429, "Rate limit exceeded (injected by humanloop-mock).", "1"),
    ({"status": 503, "retry_after": 0.5}, 503, "Service unavailable (injected by humanloop-mock).", "0.5"),
    ({"status": 429, "retry_after": 1234567}, 429, "Rate limit exceeded (injected by humanloop-mock).", "1234567"),
    ({"status": 429, "retry_after": 1e21}, 429, "Rate limit exceeded (injected by humanloop-mock).", "1" + "0" * 21),
    ({"status": 418, "detail": "short and stout"}, 418, "short and stout", None),
    ({"status": 599}, 599, "HTTP 599 (injected by humanloop-mock).", None),
])
def test_error_answers(spec: dict[str, Any], status: int, detail: str, retry_after: str | None) -> None:
    plan = plan_faults(fired(spec))
    assert plan is not None
    error = plan.error()
    assert error is not None and error.status == status and error.detail == detail
    assert error.headers.get("Retry-After") == retry_after


def test_a_plan_without_status_is_no_error() -> None:
    plan = plan_faults(fired({"latency": 1}))
    assert plan is not None and plan.error() is None


def test_malformed_event_is_one_data_line_of_broken_json() -> None:
    broken = malformed(EVENTS[0])
    assert broken.startswith(b"data: ") and broken.endswith(b"\n\n") and broken.count(b"\n") == 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken[len(b"data: "):])
    assert EVENTS[0].startswith(broken[:-2])  # the first half of the same event


def test_shaped_stream_passes_events_through_without_a_plan() -> None:
    assert shaped(None) == EVENTS
    assert shaped(plan_faults(fired({"latency": 1}))) == EVENTS


def test_cut_and_malformed_events() -> None:
    assert shaped(plan_faults(fired({"cut_after_events": 2}))) == EVENTS[:2]
    assert shaped(plan_faults(fired({"cut_after_events": 0}))) == []
    damaged = shaped(plan_faults(fired({"malformed_event": 3})))
    assert damaged[:2] == EVENTS[:2] and damaged[3:] == EVENTS[3:] and damaged[2] == malformed(EVENTS[2])


def test_event_delays_are_the_faults_plus_a_timing_profile() -> None:
    plan = plan_faults(fired({"first_event_delay": 0.3, "event_delay": 0.05}))
    assert event_delays(4, None, None) is None  # nothing pauses: the stream may go out in one write
    assert event_delays(4, plan_faults(fired({"latency": 1})), None) is None
    assert event_delays(4, plan, None) == [0.3, 0.05, 0.05, 0.05]
    assert event_delays(3, None, [0.1, 0.2, 0.0]) == [0.1, 0.2, 0.0]
    assert event_delays(3, plan, [0.1, 0.2, 0.0]) == [0.4, 0.25, 0.05]  # the two add up, exactly


def test_the_stream_waits_exactly_the_delays_and_none_after_a_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    here, real_wait, real_clock = threading.get_ident(), asyncio.wait, time.monotonic
    now = [0.0]  # this thread's clock: each pause runs out exactly (events are due by the pauses' sums)

    async def wait(futures: Any, timeout: float | None = None, **options: Any) -> Any:
        if threading.get_ident() != here:  # a server another test left running keeps its own clock
            return await real_wait(futures, timeout=timeout, **options)
        waits.append(round(timeout or 0, 9))  # (the client never leaves: each pause runs out)
        now[0] += timeout or 0
        return set(), set(futures)

    def clock() -> float:
        return now[0] if threading.get_ident() == here else real_clock()

    monkeypatch.setattr("mockserver.http.deliver.asyncio.wait", wait)
    monkeypatch.setattr("mockserver.http.deliver.monotonic", clock)
    plan = plan_faults(fired({"first_event_delay": 0.3, "event_delay": 0.05, "cut_after_events": 4}))
    assert shaped(plan, event_delays(len(EVENTS), plan, None)) == EVENTS[:4]
    assert waits == [0.3, 0.05, 0.05, 0.05]  # no jitter, and none after the cut
    waits.clear()
    assert shaped(None, [0.0, 0.1, 0.0, 0.0, 0.2]) == EVENTS
    assert waits == [0.1, 0.2]  # a zero pause is no sleep at all
