"""Cut a `ChatAnswer` into server-sent events: `data: <one-line JSON>` and a blank line each.

Each event is a ChatResponse with one `data` item carrying the new text in `output`. Samples
interleave in a seeded order; `finish_reason` (and any tool calls) come on a sample's last event.
The deltas of a sample, joined, equal its non-streamed `output`.
"""

from __future__ import annotations

import math
from typing import Any

from mockserver import jsonio
from mockserver.determinism import derive_random, logical_unix
from mockserver.pipeline.answer import ChatAnswer, SampleAnswer
from mockserver.pipeline.respond import PROVIDER_FINISH, output_message, response_envelope
from mockserver.pipeline.tokens import token_ends

# At most this many text events per sample, so a stream stays short whatever the output length.
MAX_EVENTS_PER_SAMPLE = 48
DONE_EVENT = b"data: [DONE]\n\n"


def split_deltas(text: str, max_events: int = MAX_EVENTS_PER_SAMPLE) -> list[str]:
    """Cut text at token ends into at most `max_events` pieces that join back to `text`."""
    ends = token_ends(text)
    if not ends:
        return [text]
    per_event = math.ceil(len(ends) / max_events)
    deltas, start = [], 0
    for position in range(per_event - 1, len(ends), per_event):
        deltas.append(text[start : ends[position]])
        start = ends[position]
    if start < len(text):
        if deltas:
            deltas[-1] += text[start:]
        else:
            deltas.append(text[start:])
    return deltas


def _event_item(sample: SampleAnswer, delta: str, last: bool) -> dict[str, Any]:
    generation = sample.generation
    calls = list(generation.tool_calls) or None if last else None
    return {
        "id": sample.log_id,
        "index": sample.index,
        "output": delta,
        "raw_output": delta,
        "inputs": None,
        "finish_reason": generation.finish_reason if last else None,
        "model_config_id": sample.config_id,
        "tool_results": [] if last else None,
        "messages": None,
        "tool_call": dict(calls[0]["function"]) if calls else None,
        "tool_calls": calls,
        "output_message": output_message(delta if (delta or not calls) else None, calls),
    }


def _provider_chunk(answer: ChatAnswer, sample: SampleAnswer, delta: str, last: bool) -> dict[str, Any]:
    finish = PROVIDER_FINISH[sample.generation.finish_reason] if last else None
    return {
        "id": "chatcmpl-" + sample.log_id.removeprefix("data_"),
        "object": "chat.completion.chunk",
        "created": logical_unix(answer.tick),
        "model": sample.config.model,
        "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": finish}],
    }


def encode_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + jsonio.dumps(payload) + b"\n\n"


def interleave(answer: ChatAnswer, seed: int) -> list[tuple[SampleAnswer, str, bool]]:
    """The stream's events in order, as (sample, delta, is the sample's last event). A script's
    `chunks` fix its sample's deltas."""
    queues: dict[int, list[str]] = {}
    for sample in answer.samples:
        deltas = sample.chunks or split_deltas(sample.generation.text)
        queues[sample.index] = list(deltas)
    by_index = {s.index: s for s in answer.samples}
    rng = derive_random(seed, "interleave", answer.samples[0].log_id)
    order = []
    while queues:
        index = rng.choice(sorted(queues))
        delta = queues[index].pop(0)
        last = not queues[index]
        if last:
            del queues[index]
        order.append((by_index[index], delta, last))
    return order


def encode_events(answer: ChatAnswer, order: list[tuple[SampleAnswer, str, bool]]) -> list[bytes]:
    """Every event of the stream, written as `interleave` ordered them."""
    envelope = response_envelope(answer)
    events = []
    for sample, delta, last in order:
        event = dict(envelope)
        event["data"] = [_event_item(sample, delta, last)]
        event["usage"] = sample.usage if last else None
        event["provider_responses"] = [_provider_chunk(answer, sample, delta, last)]
        events.append(encode_event(event))
    return events


def stream_events(answer: ChatAnswer, seed: int) -> list[bytes]:
    """Every event of the stream, in order."""
    return encode_events(answer, interleave(answer, seed))
