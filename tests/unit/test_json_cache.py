"""The response template writes exactly the bytes plain serialisation would, for every shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver import jsonio
from mockserver.pipeline.answer import ChatAnswer, ParsedChat
from mockserver.pipeline.chat import answer_chat, parse_chat
from mockserver.pipeline.json_cache import (
    _picker,
    build_template,
    counted_stream,
    json_bytes,
    render_json,
    render_stream,
)
from mockserver.pipeline.respond import chat_response
from mockserver.settings import MockSettings
from mockserver.world.context import MockContext
from tests.conftest import spec_with_configs
from tests.unit.stream_oracle import stream_events

TOOL = {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}
BODIES: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "plain"}]},
    {"messages": [{"role": "user", "content": "ünïcödé ✓ \"quotes\" \\ back"}], "num_samples": 4},
    {"messages": [], "inputs": {"who": "Ada"}, "return_inputs": False, "user": "u", "metadata": {"k": [1]}},
    {"messages": [{"role": "user", "content": "tools"}], "tool_choice": "required", "num_samples": 2},
    {"messages": [{"role": "user", "content": "json"}], "response_format": {"type": "json_object"}},
    {"messages": [{"role": "user", "content": "session"}], "session_reference_id": "s", "project": "p"},
]


def plain_json(context: MockContext, answer: ChatAnswer) -> bytes:
    return jsonio.dumps(chat_response(answer))


def plain_stream(context: MockContext, answer: ChatAnswer) -> bytes:
    return b"".join(stream_events(answer, context.seed))


def templated_json(context: MockContext, parsed: ParsedChat, answer: ChatAnswer) -> bytes:
    return render_json(context.memo, parsed, answer)


def templated_stream(context: MockContext, parsed: ParsedChat, answer: ChatAnswer) -> bytes:
    return render_stream(context.memo, parsed, answer, context.seed)


RENDERERS = {
    "json": (templated_json, plain_json),
    "stream": (templated_stream, plain_stream),
}


@pytest.mark.parametrize("kind", RENDERERS)
@pytest.mark.parametrize("body", BODIES)
def test_template_matches_plain_serialisation(body: dict[str, Any], kind: str) -> None:
    templated, plain = RENDERERS[kind]
    spec = spec_with_configs({"id": "config_a", "model": "a", "tools": [TOOL]},
                             {"id": "config_b", "model": "b", "tools": [TOOL], "max_tokens": 7})
    context = MockContext(MockSettings(seed=4, spec=spec))
    raw = json.dumps({"experiment_id": "exp_test", **body}).encode()
    built = set()
    for _ in range(6):  # the first call of a shape builds its template, later ones fill it
        parsed = parse_chat(context.memo, raw, "application/json")
        answer = answer_chat(context, parsed)
        assert templated(context, parsed, answer) == plain(context, answer)
        built.update(size for name, size in context.memo.sizes().items() if name.endswith("-template"))
    assert built and max(built) >= 1  # a template was built (and, from the second call of a shape, reused)


@pytest.mark.parametrize("kind", RENDERERS)
def test_a_body_that_carries_the_slot_marker_is_not_templated(kind: str) -> None:
    templated, plain = RENDERERS[kind]
    context = MockContext(MockSettings())
    raw = json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "\x01hlmock:id:0\x01"}],
                      "user": "\x01hlmock:created\x01"})  # `user` is in every stream event too
    parsed = parse_chat(context.memo, raw.encode(), "application/json")
    answer = answer_chat(context, parsed)
    assert build_template(answer, json_bytes) is None
    assert templated(context, parsed, answer) == plain(context, answer)
    assert templated(context, parsed, answer) == plain(context, answer)  # remembered as "not templated"
    assert [size for name, size in context.memo.sizes().items() if name.endswith("-template")] == [1]


@pytest.mark.parametrize("body", BODIES)
def test_a_stream_template_keeps_its_event_count(body: dict[str, Any]) -> None:
    """The count kept with a stream's template is the number of events written, built or filled."""
    spec = spec_with_configs({"id": "config_a", "model": "a", "tools": [TOOL]},
                             {"id": "config_b", "model": "b", "tools": [TOOL]})
    context = MockContext(MockSettings(seed=4, spec=spec))
    raw = json.dumps({"experiment_id": "exp_test", "stream": True, **body}).encode()
    for _ in range(3):
        parsed = parse_chat(context.memo, raw, "application/json")
        answer = answer_chat(context, parsed)
        stream, count = counted_stream(context.memo, parsed, answer, context.seed)
        assert stream == plain_stream(context, answer)
        assert count == stream.count(b"data: ") >= 1


@pytest.mark.parametrize("positions", [[0, 1], [1, 1, 0] * 5, [2] * 7, [1, 2, 0, 1, 2], [0, 1, 0, 1, 1],
                                       [1, 0] * 3 + [1]])
def test_picker_repeats_only_what_repeats(positions: list[int]) -> None:
    values = [b"created", b"id0", b"id1"]
    assert _picker(positions)(values) == tuple(values[p] for p in positions)
