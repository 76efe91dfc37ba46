"""Which recording answers a request on replay, in which order, and what a miss says."""

from __future__ import annotations

import json

import pytest

from contracts.errors import ErrorResponse
from mockserver.recording import Hit, MatchRules, Miss, Replayer
from mockserver.recording.bodydiff import differences
from tests.recording.factory import chat, json_exchange


def _answer(n: int) -> dict[str, object]:
    return {"data": [{"output": f"answer {n}"}]}


def _hit(result: Hit | Miss) -> Hit:
    assert isinstance(result, Hit), result.detail if isinstance(result, Miss) else result
    return result


def _miss(result: Hit | Miss) -> Miss:
    assert isinstance(result, Miss), f"expected a miss, got {result}"
    return result


def test_key_order_spacing_and_ignored_fields_do_not_matter() -> None:
    replayer = Replayer([json_exchange(chat("Hi", user="alice", metadata={"run": 1}), _answer(0))])
    received = b'{ "messages":[{"content":"Hi","role":"user"}],\n"experiment_id":"exp_demo", "user":"bob"}'
    assert _hit(replayer.answer("post", "/v4/chat-experiment", received)).index == 0


def test_ignored_fields_are_top_level_unless_a_path_says_otherwise() -> None:
    recorded = chat("Hi", inputs={"metadata": "a", "session": "s1"})
    replayer = Replayer([json_exchange(recorded, _answer(0))])
    changed = json.dumps(chat("Hi", inputs={"metadata": "b", "session": "s1"})).encode()
    miss = _miss(replayer.answer("POST", "/v4/chat-experiment", changed))
    assert miss.nearest[0].differences[0].where == "body.inputs.metadata"

    rules = MatchRules(ignore=("inputs.session", "messages.*.content"))
    by_path = Replayer([json_exchange(recorded, _answer(0))], rules)
    other = json.dumps(chat("Bye", inputs={"metadata": "a", "session": "s2"})).encode()
    assert _hit(by_path.answer("POST", "/v4/chat-experiment", other)).index == 0
    assert isinstance(Replayer([json_exchange(recorded, _answer(0))], MatchRules(ignore=())).answer(
        "POST", "/v4/chat-experiment", json.dumps(chat("Hi", inputs={"metadata": "a", "session": "s1"},
                                                       user="u")).encode()), Miss)


def test_repeats_take_the_recorded_answers_in_order_then_miss() -> None:
    body = chat("same")
    replayer = Replayer([json_exchange(body, _answer(0)), json_exchange(chat("other"), _answer(1)),
                         json_exchange(body, _answer(2))])
    request = json.dumps(body).encode()
    first, second = (_hit(replayer.answer("POST", "/v4/chat-experiment", request)) for _ in range(2))
    assert (first.index, first.use, first.of) == (0, 1, 2) and (second.index, second.use) == (2, 2)
    assert second.label == "recording #2 (answer 2 of 2)"
    assert replayer.unused() == [1]
    third = _miss(replayer.answer("POST", "/v4/chat-experiment", request))
    assert third.used_up == [0, 2] and "every recording of this POST /v4/chat-experiment request was used" in \
        third.detail
    replayer.rewind()
    assert _hit(replayer.answer("POST", "/v4/chat-experiment", request)).index == 0


def test_repeat_last_answers_with_the_last_recording_again() -> None:
    replayer = Replayer([json_exchange(chat("x"), _answer(0)), json_exchange(chat("x"), _answer(1))],
                        MatchRules(when_used_up="repeat-last"))
    request = json.dumps(chat("x")).encode()
    hits = [_hit(replayer.answer("POST", "/v4/chat-experiment", request)) for _ in range(4)]
    assert [h.index for h in hits] == [0, 1, 1, 1]
    assert hits[3].label == "recording #1 (answer 4 of 2, repeating the last)"


def test_a_miss_is_a_404_naming_the_nearest_recordings_and_how_they_differ() -> None:
    replayer = Replayer([
        json_exchange(chat("Hi", stream=True), _answer(0)),
        json_exchange(chat("Hello there"), _answer(1)),
        json_exchange({"name": "x"}, _answer(2), url="http://h/v4/projects/p/experiments"),
        json_exchange(chat("Hi"), _answer(3), method="GET"),
    ])
    miss = _miss(replayer.answer("POST", "/v4/chat-experiment", json.dumps(chat("Hi", num_samples=2)).encode()))
    assert miss.status == 404
    body = json.loads(miss.body())
    assert ErrorResponse.model_validate(body).detail == miss.detail and list(body) == ["detail"]
    # Same method and path first, then by how many differences (method and path count as one each).
    assert [near.index for near in miss.nearest] == [0, 1, 3]
    assert [d.describe() for d in miss.nearest[0].differences] == [
        "body.num_samples recorded absent, received 2", "body.stream recorded true, received absent"]
    assert 'body.messages[0].content recorded "Hello there", received "Hi"' in miss.detail
    assert "method recorded \"GET\", received \"POST\"" in miss.detail
    assert "ignoring user, metadata" in miss.detail


def test_a_miss_on_an_empty_cassette_says_so() -> None:
    miss = _miss(Replayer([]).answer("POST", "/v4/chat-experiment", b"{}"))
    assert "holds no exchanges" in miss.detail


def test_a_real_key_matches_the_recording_where_it_was_redacted() -> None:
    replayer = Replayer([json_exchange(chat("Hi", provider_api_keys={"openai": "sk-recorded-0123456789"}),
                                       _answer(0))])
    live = json.dumps(chat("Hi", provider_api_keys={"openai": "sk-live-different-999"})).encode()
    assert _hit(replayer.answer("POST", "/v4/chat-experiment", live)).index == 0
    # ... and a miss never shows a key it was sent.
    leaked = json.dumps(chat("Bye", provider_api_keys={"openai": "sk-live-different-999"})).encode()
    assert "sk-live" not in _miss(replayer.answer("POST", "/v4/chat-experiment", leaked)).detail


@pytest.mark.parametrize(("recorded", "received", "matches"), [
    (b"not json {", b"not json {", True),
    (b"not json {", b"not json  {", False),
    (b"", b"", True),
    (b'{"n": 1.0}', b'{"n": 1}', True),
    (b'{"n": true}', b'{"n": 1}', False),
    (b"[" * 5000 + b"]" * 5000, b"[" * 5000 + b"]" * 5000, True),
])
def test_bodies_that_are_not_plain_json(recorded: bytes, received: bytes, matches: bool) -> None:
    replayer = Replayer([json_exchange(recorded, _answer(0))])
    assert isinstance(replayer.answer("POST", "/v4/chat-experiment", received), Hit) is matches


def test_deeply_nested_bodies_are_compared_without_recursion_trouble() -> None:
    deep_a: dict[str, object] = {"x": 0}
    deep_b: dict[str, object] = {"x": 1}
    for _ in range(3000):
        deep_a, deep_b = {"d": deep_a}, {"d": deep_b}
    found = differences(deep_a, deep_b)
    assert len(found) == 1 and found[0].where == "body" + ".d" * 3000 + ".x"
    text = '{"d":' * 3000 + '{"x":%d}' + "}" * 3000  # deeper than the JSON parser goes: compared as text
    replayer = Replayer([json_exchange((text % 0).encode(), _answer(0))])
    assert _hit(replayer.answer("POST", "/v4/chat-experiment", (text % 0).encode())).index == 0
    miss = _miss(replayer.answer("POST", "/v4/chat-experiment", (text % 1).encode()))
    assert [d.where for d in miss.nearest[0].differences] == ["body"]


def test_a_hit_plans_the_recorded_answer() -> None:
    replayer = Replayer([json_exchange(chat("Hi"), _answer(7), head_ms=20, end_ms=30)])
    plan = _hit(replayer.answer("POST", "/v4/chat-experiment", json.dumps(chat("Hi")).encode())).plan(speed=2)
    assert plan.status == 200 and plan.sends[0][1] == json.dumps(_answer(7)).encode()
    assert plan.head_delay == pytest.approx(0.010) and plan.sends[0][0] == pytest.approx(0.005)
