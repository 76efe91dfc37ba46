"""The response template writes exactly the bytes plain serialisation would, for every shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from mockserver import jsonio
from mockserver.determinism import logical_unix
from mockserver.pipeline.answer import ChatAnswer, ParsedChat
from mockserver.pipeline.chat import answer_chat, parse_chat
from mockserver.pipeline.delivery import SEND_LIMIT, whole_event_batches
from mockserver.pipeline.json_cache import (
    _picker,
    _stream_template,
    batched_stream,
    build_template,
    counted_stream,
    json_bytes,
    render_json,
    render_stream,
    stream_bytes,
    stream_cuts,
)
from mockserver.pipeline.respond import chat_response
from mockserver.pipeline.stream import DONE_EVENT
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


def stream_calls(body: dict[str, Any], calls: int,
                 **config_a: Any) -> Iterator[tuple[MockContext, ParsedChat, ChatAnswer]]:
    """`calls` streamed calls of `body` to two configs with a tool (the first with `config_a` besides)."""
    spec = spec_with_configs({"id": "config_a", "model": "a", "tools": [TOOL], **config_a},
                             {"id": "config_b", "model": "b", "tools": [TOOL]})
    context = MockContext(MockSettings(seed=4, spec=spec))
    raw = json.dumps({"experiment_id": "exp_test", "stream": True, **body}).encode()
    for _ in range(calls):
        parsed = parse_chat(context.memo, raw, "application/json")
        yield context, parsed, answer_chat(context, parsed)


@pytest.mark.parametrize("body", BODIES)
def test_a_stream_template_keeps_its_event_count(body: dict[str, Any]) -> None:
    """The count kept with a stream's template is the number of events written, built or filled."""
    for context, parsed, answer in stream_calls(body, 3):
        stream, count = counted_stream(context.memo, parsed, answer, context.seed)
        assert stream == plain_stream(context, answer)
        assert count == stream.count(b"data: ") >= 1


@pytest.mark.parametrize("positions", [[0, 1], [1, 1, 0] * 5, [2] * 7, [1, 2, 0, 1, 2], [0, 1, 0, 1, 1],
                                       [1, 0] * 3 + [1]])
def test_picker_repeats_only_what_repeats(positions: list[int]) -> None:
    values = [b"created", b"id0", b"id1"]
    assert _picker(positions)(values) == tuple(values[p] for p in positions)


@pytest.mark.parametrize("tail", [b"", DONE_EVENT])
@pytest.mark.parametrize("limit", [700, 1500, 2600, SEND_LIMIT])
@pytest.mark.parametrize("body", BODIES)
def test_a_stream_template_cut_in_pieces_fills_to_the_batches_of_its_bytes(body: dict[str, Any], limit: int,
                                                                            tail: bytes) -> None:
    """Cut once where `whole_event_batches` cuts the bytes, the template gives those pieces for other calls
    of its shape (other ids, a later `created`), and still when `created` gains digits (the cut points
    move: then it cuts the bytes). The first call's stream is held to the oracle, the others to plain
    rendering in the same order of samples."""
    for context, parsed, answer in stream_calls(body, 3, max_tokens=400):
        _, order = _stream_template(context.memo, parsed, answer, context.seed, None, tail)
        render = stream_bytes(order)
        template = build_template(answer, render)
        assert template is not None
        template.cuts = stream_cuts(template, answer, tail, limit)
        assert template.cuts is not None
        template.text = b""  # (as the memo keeps it: the text only in its pieces)
        assert render(answer, logical_unix(answer.tick)) == plain_stream(context, answer)
        other_ids = [replace(s, log_id=s.log_id[:5] + s.log_id[:4:-1]) for s in answer.samples]
        for other in (answer, replace(answer, samples=other_ids, tick=answer.tick + 7),
                      replace(answer, tick=answer.tick + 10 ** 12)):  # `created` three digits wider
            stream = render(other, logical_unix(other.tick))  # (in the shape's order of samples)
            assert template.pieces(other, tail) == whole_event_batches(stream + tail, limit)
            assert template.fill(other) == stream
            assert template.pieces(other, b"other\n\n") == whole_event_batches(stream + b"other\n\n", limit)


@pytest.mark.parametrize("done_event", [False, True])
def test_the_demo_stream_goes_in_the_pieces_of_its_bytes(done_event: bool) -> None:
    context = MockContext(MockSettings(seed=2))
    raw = json.dumps({"experiment_id": "exp_demo", "stream": True, "messages": [
        {"role": "user", "content": "Hello"}]}).encode()
    tail = DONE_EVENT if done_event else b""
    sizes = set()
    for _ in range(12):
        parsed = parse_chat(context.memo, raw, "application/json")
        answer = answer_chat(context, parsed)
        pieces, count = batched_stream(context.memo, parsed, answer, context.seed, tail)
        stream = plain_stream(context, answer)
        assert pieces == whole_event_batches(stream + tail)
        assert count == stream.count(b"data: ")
        sizes.add(len(pieces))
    template, _ = _stream_template(context.memo, parsed, answer, context.seed, None, tail)
    assert template is not None and template.cuts is not None and template.cuts.tail == tail
    assert max(sizes) >= 2  # some of these streams were cut in more than one piece
