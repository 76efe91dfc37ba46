"""Seeded timing profiles: the planned delays are in the journal, follow the profile, and replay from the seed.

Wall-clock times are not asserted, except one lower bound that sleeping guarantees."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.control.service import MockControl
from mockserver.spec.errors import SpecError, validate
from mockserver.spec.models import MockSpec
from tests.conftest import KEY, chat_body

FAST = {"id": "config_fast", "model": "gpt-4o-mini"}
STEADY = {"id": "config_steady", "model": "gpt-4o", "max_tokens": 30,
          "timing": {"first_event": {"median": 0.004}, "between_events": {"median": 0.001}}}
JITTERY = {"id": "config_jittery", "model": "gpt-4o",
           "timing": {"first_event": {"median": 0.002, "sigma": 0.8, "max": 0.02},
                      "between_events": {"median": 0.0005, "sigma": 0.5}}}


def make_client(*configs: dict[str, Any], seed: int = 4, **settings: Any) -> TestClient:
    app = create_app(MockSettings(seed=seed, **settings))
    MockControl(app.state.mock).load_spec({"projects": [{"id": "pr_t", "name": "t", "experiments": [
        {"id": "exp_t", "name": "t", "configs": list(configs)}]}]}, replace=True)
    return TestClient(app)


def call(client: TestClient, **overrides: Any) -> tuple[Any, dict[str, Any]]:
    """One chat call (streamed if asked) and its journal entry."""
    response = client.post("/v4/chat-experiment", headers=KEY, json=chat_body(experiment_id="exp_t", **overrides))
    assert response.status_code == 200, response.text
    entry = MockControl(client.app.state.mock).requests({"path": "/v4/chat-experiment"})["requests"][-1]  # type: ignore[attr-defined]
    return response, entry


def test_off_by_default() -> None:
    with make_client(FAST) as client:
        assert call(client, stream=True)[1]["delays"] is None
        assert call(client)[1]["delays"] is None


def test_a_fixed_profile_plans_first_then_between_delays_per_event() -> None:
    with make_client(STEADY) as client:
        _, entry = call(client, stream=True)
    assert len(entry["delays"]) == len(entry["stream_events"]) > 2
    assert entry["delays"] == [0.004] + [0.001] * (len(entry["stream_events"]) - 1)


def test_a_json_answer_waits_as_long_as_its_stream_would() -> None:
    with make_client(JITTERY) as client:
        _, streamed = call(client, stream=True, num_samples=2)
    with make_client(JITTERY) as client:  # the same state: the same log ids, the same schedule
        _, answered = call(client, num_samples=2)
    assert answered["delays"] == [pytest.approx(sum(streamed["delays"]))]


def test_delays_follow_the_distribution_and_replay_from_the_seed() -> None:
    schedules = {}
    for seed in (4, 4, 5):
        with make_client(JITTERY, seed=seed) as client:
            schedules.setdefault(seed, []).append([call(client, stream=True, num_samples=3)[1]["delays"]
                                                   for _ in range(3)])
    assert schedules[4][0] == schedules[4][1]  # same seed, same requests: the same delays
    assert schedules[4][0] != schedules[5][0]
    delays = [d for call_delays in schedules[4][0] for d in call_delays]
    firsts = [call_delays[0] for call_delays in schedules[4][0]]
    between = [d for call_delays in schedules[4][0] for d in call_delays[1:]]
    assert all(0 < d <= 0.02 for d in firsts) and all(d > 0 for d in delays)
    assert len(set(between)) > len(between) // 2  # sigma > 0: they vary
    assert statistics.median(between) == pytest.approx(0.0005, rel=0.3)


def test_mixed_configs_only_the_timed_one_pauses_and_faults_add_up() -> None:
    with make_client(STEADY, FAST) as client:
        MockControl(client.app.state.mock).add_rule("fault", {"event_delay": 0.002})  # type: ignore[attr-defined]
        _, entry = call(client, stream=True, num_samples=4)
    owners = [sample["model_config_id"] for sample in entry["samples"]]
    assert set(owners) == {"config_steady", "config_fast"}
    events = [json.loads(e)["data"][0]["model_config_id"] for e in entry["stream_events"]]
    for position, (config, delay) in enumerate(zip(events, entry["delays"], strict=True)):
        if position == 0:
            continue
        assert delay == pytest.approx(0.003 if config == "config_steady" else 0.002)


def test_the_slow_config_waits_at_least_its_first_event_delay() -> None:
    slow = {**STEADY, "timing": {"first_event": {"median": 0.3}}}
    with make_client(slow) as client:
        started = time.monotonic()
        with client.stream("POST", "/v4/chat-experiment", headers=KEY,
                           json=chat_body(experiment_id="exp_t", stream=True)) as response:
            next(response.iter_lines())
            waited = time.monotonic() - started
    assert waited >= 0.29  # a lower bound sleeping guarantees; never an upper bound


@pytest.mark.parametrize(("timing", "problem"), [
    ({}, "give first_event, between_events or both"),
    ({"first_event": {"median": -1}}, "greater than or equal to 0"),
    ({"first_event": {"median": 1, "sigma": 9}}, "less than or equal to 3"),
    ({"first_event": {"median": 1, "spread": 1}}, "unknown key"),
])
def test_bad_profiles_are_refused_with_the_key_path(timing: dict[str, Any], problem: str) -> None:
    data = {"projects": [{"name": "p", "experiments": [{"name": "e", "configs": [{"timing": timing}]}]}]}
    with pytest.raises(SpecError) as refused:
        validate(MockSpec, data, "")
    assert any("projects[0].experiments[0].configs[0].timing" in p and problem in p for p in refused.value.problems)
