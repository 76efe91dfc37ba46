"""Checks of a chat-experiment event stream, usable against the mock or any deployment.

`stream_problems(body)` returns what is wrong (empty if nothing): framing the official clients
need, each event a ChatResponse with one sample, and the invariants across events.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import httpx
from httpx_sse import EventSource
from pydantic import ValidationError

from contracts.chat import ChatResponse

# One event is exactly `data: <one line>` then a blank line (what the official clients parse).
_EVENT = re.compile(rb"data: [^\r\n]+\n\n")
DONE = "[DONE]"


def sse_data(body: bytes) -> list[str]:
    """The `data` of each event, parsed by httpx-sse."""
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    return [event.data for event in EventSource(response).iter_sse()]


def framing_problems(body: bytes) -> list[str]:
    position = 0
    while position < len(body):
        match = _EVENT.match(body, position)
        if match is None:
            return [f"bytes {position}..: not a `data: <json>` line followed by a blank line: "
                    f"{body[position:position + 80]!r}"]
        position = match.end()
    return []


def event_problems(payloads: Iterable[str]) -> tuple[list[str], list[ChatResponse]]:
    problems: list[str] = []
    events: list[ChatResponse] = []
    for number, payload in enumerate(payloads):
        if payload == DONE:
            continue
        try:
            event = ChatResponse.model_validate_json(payload)
        except ValidationError as invalid:
            problems.append(f"event {number}: not a ChatResponse: {invalid.errors(include_url=False)[:3]}")
            continue
        if len(event.data) != 1:
            problems.append(f"event {number}: has {len(event.data)} data items, expected exactly 1")
            continue
        events.append(event)
    return problems, events


def invariant_problems(events: list[ChatResponse]) -> list[str]:
    """Per sample: one id and config throughout, `finish_reason` only on its last event."""
    problems: list[str] = []
    seen: dict[int, dict[str, Any]] = {}
    for number, event in enumerate(events):
        item = event.data[0]
        sample = seen.setdefault(item.index, {"id": item.id, "config": item.model_config_id, "finished": False})
        if sample["finished"]:
            problems.append(f"event {number}: sample {item.index} continues after its finish_reason")
        if item.id != sample["id"]:
            problems.append(f"event {number}: sample {item.index} changed id {sample['id']} -> {item.id}")
        if item.model_config_id != sample["config"]:
            problems.append(f"event {number}: sample {item.index} changed model_config_id")
        if item.finish_reason is not None:
            sample["finished"] = True
    for index, sample in sorted(seen.items()):
        if not sample["finished"]:
            problems.append(f"sample {index}: stream ended without a finish_reason")
    if events:
        expected = events[0].num_samples
        if sorted(seen) != list(range(expected)):
            problems.append(f"sample indexes {sorted(seen)} != 0..{expected - 1} (num_samples={expected})")
        ids = [s["id"] for s in seen.values()]
        if len(set(ids)) != len(ids):
            problems.append("two samples share one log id")
    return problems


def stream_problems(body: bytes) -> list[str]:
    problems = framing_problems(body)
    payloads = sse_data(body)
    if not payloads:
        return [*problems, "the stream has no events"]
    parse_problems, events = event_problems(payloads)
    return problems + parse_problems + invariant_problems(events)


def joined_outputs(body: bytes) -> dict[int, str]:
    """Each sample's deltas joined, by index: what a client assembles from the stream."""
    outputs: dict[int, str] = {}
    for payload in sse_data(body):
        if payload == DONE:
            continue
        item = json.loads(payload)["data"][0]
        outputs[item["index"]] = outputs.get(item["index"], "") + item["output"]
    return outputs
