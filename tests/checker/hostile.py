"""Answers no contract allows, for trying the checker (and the official clients) against them.

Hypothesis strategies for what a hostile or broken target can send, at two depths: the answer's
content (status, headers, body, stream events) for the checks in-process, and the whole wire
(`raw_server.Answer`: resets, early ends, drips, endless bodies, compression) for runs over loopback.
Good answers come from the mock itself, so the mutations start from the real shape.
"""

from __future__ import annotations

import gzip
import json
import zlib
from functools import cache
from typing import Any

from hypothesis import strategies as st
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from tests.checker.raw_server import CLOSE, RESET, Answer, Pause, Repeat

HELLO = [{"role": "user", "content": "hi"}]


@cache
def good_answers() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The mock's JSON answer and stream events for a two-sample chat request."""
    with TestClient(create_app(MockSettings(seed=3))) as client:
        body = {"experiment_id": "exp_demo", "messages": HELLO, "num_samples": 2}
        answer = client.post("/v4/chat-experiment", json=body, headers={"X-API-KEY": "k"}).json()
        stream = client.post("/v4/chat-experiment", json={**body, "stream": True}, headers={"X-API-KEY": "k"})
        events = [json.loads(line[6:]) for line in stream.text.split("\n\n") if line.startswith("data: ")]
    return answer, events


def frame(events: list[Any], prefix: bytes = b"data: ", end: bytes = b"\n\n") -> bytes:
    return b"".join(prefix + json.dumps(e).encode() + end for e in events)


# ---- content ---------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _or_anything(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(right, right, json_values)


sample_items = st.fixed_dictionaries({}, optional={
    "id": _or_anything(st.sampled_from(["data_1", "data_2"])),
    "index": _or_anything(st.integers(-1, 3)),
    "output": _or_anything(st.text(max_size=20)),
    "raw_output": _or_anything(st.text(max_size=5)),
    "finish_reason": _or_anything(st.sampled_from(["stop", "length", "tool_call", None, "complete"])),
    "model_config_id": _or_anything(st.sampled_from(["config_a", "config_b"])),
    "output_message": _or_anything(st.fixed_dictionaries({}, optional={
        "role": _or_anything(st.just("assistant")), "content": _or_anything(st.text(max_size=20))})),
    "tool_calls": json_values,
})

chat_answers = st.fixed_dictionaries({"data": _or_anything(st.lists(sample_items, max_size=4))}, optional={
    "project_id": _or_anything(st.just("pr_x")), "num_samples": json_values, "usage": json_values,
    "provider_responses": json_values, "detail": json_values,
})

framings = st.sampled_from([(b"data: ", b"\n\n"), (b"data:", b"\n\n"), (b"data: ", b"\n"), (b"data: ", b"\r\n\r\n"),
                            (b"event: x\ndata: ", b"\n\n")])


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A body: JSON of the chat answer's shape with anything anywhere, any JSON, a stream, or bytes."""
    kind = draw(st.sampled_from(["answer", "json", "stream", "bytes", "empty", "deep"]))
    if kind == "answer":
        return json.dumps(draw(chat_answers)).encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "stream":
        prefix, end = draw(framings)
        events = draw(st.lists(chat_answers | json_values, min_size=0, max_size=4))
        done = b"data: [DONE]\n\n" if draw(st.booleans()) else b""
        return frame(events, prefix, end) + done
    if kind == "empty":
        return b""
    if kind == "deep":
        depth = draw(st.integers(1_000, 200_000))
        return b"[" * depth + b"]" * depth
    return draw(st.binary(max_size=64))


content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "application/problem+json",
                                 "text/event-stream", "text/event-stream; charset=utf-8", "text/plain", "",
                                 "application/json\x00", "nonsense"])
statuses = st.sampled_from([200, 200, 201, 204, 301, 307, 400, 401, 404, 405, 409, 418, 422, 429, 500, 503]) | \
    st.integers(100, 599)


# ---- the wire --------------------------------------------------------------------------------------

def _compress(coding: str, data: bytes) -> bytes:
    if coding == "gzip":
        return gzip.compress(data, mtime=0)
    if coding == "deflate":
        return zlib.compress(data)
    return data


@st.composite
def wire_answers(draw: st.DrawFn) -> Answer:
    """One whole answer on the wire, however broken."""
    status = draw(statuses)
    body = draw(bodies())
    headers: list[tuple[str, str]] = []
    content_type = draw(content_types)
    if content_type:
        headers.append(("Content-Type", content_type))
    coding = draw(st.sampled_from([None, None, "gzip", "deflate", "br", "gzip, gzip"]))
    if coding:
        headers.append(("Content-Encoding", coding))
        body = _compress(coding, body) if draw(st.booleans()) else body  # or a lie
    if 300 <= status < 400 and draw(st.booleans()):
        headers.append(("Location", draw(st.sampled_from(["/v4/chat-experiment", "http://192.0.2.1/v4", "x:\x01"]))))
    ending = draw(st.sampled_from(["whole", "whole", "short", "reset", "close-early", "pause", "endless", "drip"]))
    if ending == "whole":
        return Answer(status, tuple(headers), (body,))
    if ending == "short":  # a Content-Length the body never reaches
        return Answer(status, (*headers, ("Content-Length", str(len(body) + 100))), (body, CLOSE))
    if ending == "reset":
        return Answer(status, tuple(headers), (body[: len(body) // 2], RESET), content_length=False)
    if ending == "close-early":
        return Answer(status, tuple(headers), (body[: len(body) // 2], CLOSE))
    if ending == "pause":
        return Answer(status, tuple(headers), (body[:3], Pause(0.05), body[3:]))
    if ending == "endless":
        return Answer(status, (*headers, ("Connection", "close")), (body, Repeat(b'data: {"data": []}\n\n', 10**9)),
                      content_length=False)
    return Answer(status, (*headers, ("Connection", "close")), (body[:2], Repeat(b" ", 10**9, 0.2)),
                  content_length=False)
