"""Server-sent events: exact framing, one sample per event, deltas that rebuild the JSON answer."""

from __future__ import annotations

import itertools
import json
import re

import pytest
from starlette.testclient import TestClient

from contracts.streams import joined_outputs, sse_data, stream_problems
from mockserver import MockSettings, create_app
from tests.conftest import KEY, chat_body, spec_with_configs

EVENT_LINE = re.compile(rb"^data: \{.*\}$")


def stream(client: TestClient, **overrides: object) -> bytes:
    response = client.post("/v4/chat-experiment", json=chat_body(stream=True, **overrides), headers=KEY)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return response.content


@pytest.mark.parametrize("num_samples", [1, 2, 4])
def test_stream_invariants_hold(client: TestClient, num_samples: int) -> None:
    body = stream(client, num_samples=num_samples)
    assert stream_problems(body) == []


def test_framing_is_exactly_data_line_and_blank_line(client: TestClient) -> None:
    body = stream(client, num_samples=2)
    blocks = body.split(b"\n\n")
    assert blocks[-1] == b""  # ends with a blank line, nothing after
    for block in blocks[:-1]:
        assert EVENT_LINE.match(block), block[:80]
        assert len(block) < 512 * 1024  # aiohttp's line limit


@pytest.mark.parametrize("num_samples", [1, 3])
def test_deltas_join_to_the_json_answer(client: TestClient, num_samples: int) -> None:
    plain = client.post("/v4/chat-experiment", json=chat_body(num_samples=num_samples), headers=KEY).json()
    client.app.state.mock.reset()
    streamed = stream(client, num_samples=num_samples)
    assert joined_outputs(streamed) == {d["index"]: d["output"] for d in plain["data"]}
    finals = {}
    for payload in sse_data(streamed):
        item = json.loads(payload)["data"][0]
        if item["finish_reason"] is not None:
            finals[item["index"]] = (item["finish_reason"], item["id"], item["model_config_id"])
    assert finals == {d["index"]: (d["finish_reason"], d["id"], d["model_config_id"]) for d in plain["data"]}


def test_samples_interleave_in_a_repeatable_order() -> None:
    def order(seed: int) -> list[int]:
        with TestClient(create_app(MockSettings(seed=seed))) as client:
            return [json.loads(p)["data"][0]["index"] for p in sse_data(stream(client, num_samples=3))]

    first = order(4)
    assert first == order(4)
    switches = sum(1 for a, b in itertools.pairwise(first) if a != b)
    assert switches > 2  # interleaved, not one sample after another


def test_stream_is_chosen_by_body_not_accept(client: TestClient) -> None:
    as_json = client.post("/v4/chat-experiment", json=chat_body(), headers={**KEY, "Accept": "text/event-stream"})
    assert as_json.headers["content-type"] == "application/json"
    as_sse = client.post("/v4/chat-experiment", json=chat_body(stream=True),
                         headers={**KEY, "Accept": "application/json"})
    assert as_sse.headers["content-type"].startswith("text/event-stream")


def test_done_event_is_optional() -> None:
    with TestClient(create_app(MockSettings())) as plain:
        assert b"[DONE]" not in stream(plain)
    with TestClient(create_app(MockSettings(stream_done_event=True))) as with_done:
        body = stream(with_done)
    assert body.endswith(b"data: [DONE]\n\n")
    assert stream_problems(body) == []


def test_tool_calls_arrive_on_the_final_event() -> None:
    tool = {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}
    spec = spec_with_configs({"model": "gpt-4o", "tools": [tool]})
    with TestClient(create_app(MockSettings(spec=spec))) as client:
        events = [json.loads(p) for p in sse_data(stream(client, experiment_id="exp_test", tool_choice="required"))]
    final = events[-1]["data"][0]
    assert final["finish_reason"] == "tool_call"
    assert json.loads(final["tool_calls"][0]["function"]["arguments"])["x"] is not None
    assert all(e["data"][0]["tool_calls"] is None for e in events[:-1])


def test_stream_problems_reports_broken_streams() -> None:
    good = b'data: {"data":[{"id":"a","index":0,"output":"x","raw_output":"x","model_config_id":"c",' \
           b'"output_message":{"role":"assistant"},"finish_reason":"stop"}],"provider_responses":[]}\n\n'
    assert stream_problems(good) == []
    assert stream_problems(good.replace(b"data: ", b"data:")) != []
    assert any("without a finish_reason" in p for p in stream_problems(good.replace(b'"stop"', b"null")))
    assert any("continues after" in p for p in stream_problems(good + good))
