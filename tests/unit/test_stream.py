"""Stream chunking on its own, without HTTP: `split_deltas` and `stream_events` on answers built in-process."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.pipeline.answer import ChatAnswer
from mockserver.pipeline.chat import answer_chat, parse_chat
from mockserver.pipeline.stream import MAX_EVENTS_PER_SAMPLE, split_deltas
from mockserver.pipeline.tokens import token_ends
from mockserver.settings import MockSettings
from mockserver.spec.models import ScriptSpec
from mockserver.world.context import MockContext
from tests.unit.stream_oracle import stream_events


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab é,.!?\n\t-'"), max_size=400), max_events=st.integers(1, 60))
def test_deltas_join_back_cut_at_token_ends_and_stay_within_the_limit(text: str, max_events: int) -> None:
    deltas = split_deltas(text, max_events)
    assert "".join(deltas) == text
    assert 1 <= len(deltas) <= max(1, max_events)
    ends = set(token_ends(text))
    cuts = [sum(len(d) for d in deltas[: n + 1]) for n in range(len(deltas) - 1)]
    assert all(cut in ends for cut in cuts)  # never inside a word
    if len(ends) <= max_events:
        assert len(deltas) == max(1, len(ends))  # a short text is one token per event


@pytest.mark.parametrize(("text", "expected"), [
    ("", [""]),
    ("   ", ["   "]),
    ("Hello, world!", ["Hello", ",", " world", "!"]),
    ("Hi there  ", ["Hi", " there  "]),  # trailing whitespace stays on the last event
])
def test_split_deltas_examples(text: str, expected: list[str]) -> None:
    assert split_deltas(text) == expected


def test_a_long_text_is_at_most_the_cap() -> None:
    text = "word " * 1000
    deltas = split_deltas(text)
    assert MAX_EVENTS_PER_SAMPLE // 2 < len(deltas) <= MAX_EVENTS_PER_SAMPLE and "".join(deltas) == text
    assert len({len(d) for d in deltas[1:-1]}) == 1  # even pieces of whole tokens (21 words each here)


def answer(seed: int = 2, scripts: tuple[dict[str, Any], ...] = (), **body: Any) -> ChatAnswer:
    context = MockContext(MockSettings(seed=seed))
    for script in scripts:
        context.rules.add_script(ScriptSpec.model_validate(script))
    raw = json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Tell me more"}],
                      "stream": True, **body}).encode()
    return answer_chat(context, parse_chat(context.memo, raw, "application/json"))


def payloads(events: list[bytes]) -> list[dict[str, Any]]:
    for event in events:
        assert event.startswith(b"data: ") and event.endswith(b"\n\n") and event.count(b"\n") == 2
    return [json.loads(event[len(b"data: "):]) for event in events]


def test_events_rebuild_each_sample_with_finish_and_usage_on_its_last_event() -> None:
    chat = answer(num_samples=3)
    events = payloads(stream_events(chat, seed=2))
    by_index: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        assert len(event["data"]) == 1
        by_index.setdefault(event["data"][0]["index"], []).append(event)
    assert sorted(by_index) == [0, 1, 2]
    for sample in chat.samples:
        own = by_index[sample.index]
        assert "".join(e["data"][0]["output"] for e in own) == sample.generation.text
        assert [e["data"][0]["finish_reason"] for e in own] == [None] * (len(own) - 1) + [
            sample.generation.finish_reason]
        assert [e["usage"] for e in own[:-1]] == [None] * (len(own) - 1) and own[-1]["usage"] == sample.usage
        assert {e["data"][0]["id"] for e in own} == {sample.log_id}
        assert {e["data"][0]["model_config_id"] for e in own} == {sample.config_id}


def test_interleaving_is_fixed_by_the_seed() -> None:
    def order(seed: int) -> list[int]:
        return [e["data"][0]["index"] for e in payloads(stream_events(answer(seed=seed, num_samples=3), seed))]

    assert order(5) == order(5)
    orders = {tuple(order(seed)) for seed in range(4)}
    assert len(orders) > 1  # another seed, another interleaving
    first = order(5)
    assert first != sorted(first)  # interleaved, not one sample after another


def test_scripted_chunks_fix_the_deltas() -> None:
    scripted = ({"answer": {"output": "It is sunny.", "chunks": ["It ", "is ", "sunny."]}},)
    events = payloads(stream_events(answer(scripts=scripted), seed=2))
    assert [e["data"][0]["output"] for e in events] == ["It ", "is ", "sunny."]
    assert events[-1]["data"][0]["finish_reason"] == "stop"


def test_tool_calls_come_only_on_the_last_event() -> None:
    scripted = ({"answer": {"output": "Checking.", "tool_calls": [{"name": "lookup", "arguments": {"q": 1}}]}},)
    events = payloads(stream_events(answer(scripts=scripted), seed=2))
    assert all(e["data"][0]["tool_calls"] is None for e in events[:-1])
    last = events[-1]["data"][0]
    assert last["tool_calls"][0]["function"]["name"] == "lookup" and last["finish_reason"] == "tool_call"
