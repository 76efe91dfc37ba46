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


def _provider_chunk(sample: SampleAnswer, delta: str, last: bool, created: int | str) -> dict[str, Any]:
    finish = PROVIDER_FINISH[sample.generation.finish_reason] if last else None
    return {
        "id": "chatcmpl-" + sample.log_id.removeprefix("data_"),
        "object": "chat.completion.chunk",
        "created": created,
        "model": sample.config.model,
        "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": finish}],
    }


def encode_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + jsonio.dumps(payload) + b"\n\n"


def sample_deltas(sample: SampleAnswer) -> list[str]:
    """A sample's text events: a script's `chunks`, else its text cut at token ends."""
    return list(sample.chunks or split_deltas(sample.generation.text))


def interleave_order(answer: ChatAnswer, seed: int, counts: dict[int, int]) -> tuple[int, ...]:
    """Which sample each event belongs to, in stream order (`counts`: events per sample index)."""
    if len(counts) == 1:  # one sample: its events in order (no draw needed)
        ((index, count),) = counts.items()
        return (index,) * count
    left = dict(counts)
    rng = derive_random(seed, "interleave", answer.samples[0].log_id)
    order = []
    while left:
        index = rng.choice(sorted(left))
        order.append(index)
        left[index] -= 1
        if not left[index]:
            del left[index]
    return tuple(order)


def in_order(answer: ChatAnswer, indices: tuple[int, ...]) -> list[tuple[SampleAnswer, str, bool]]:
    """The events for a given order of sample indices, as (sample, delta, is the sample's last event)."""
    queues = {sample.index: sample_deltas(sample) for sample in answer.samples}
    by_index = {s.index: s for s in answer.samples}
    order = []
    for index in indices:
        delta = queues[index].pop(0)
        order.append((by_index[index], delta, not queues[index]))
    return order


def encode_events(answer: ChatAnswer, order: list[tuple[SampleAnswer, str, bool]],
                  created: int | str | None = None) -> list[bytes]:
    """Every event of the stream, written as `interleave` ordered them. `created` defaults to the
    answer's logical time (a template passes a marker)."""
    if created is None:
        created = logical_unix(answer.tick)
    envelope = response_envelope(answer)
    events = []
    for sample, delta, last in order:
        event = dict(envelope)
        event["data"] = [_event_item(sample, delta, last)]
        event["usage"] = sample.usage if last else None
        event["provider_responses"] = [_provider_chunk(sample, delta, last, created)]
        events.append(encode_event(event))
    return events


def split_events(body: bytes) -> list[bytes]:
    """Whole events back out of a stream body (each keeps its blank line)."""
    return [block + b"\n\n" for block in body.split(b"\n\n")[:-1]]

