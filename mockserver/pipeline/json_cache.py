"""Serialise a chat answer once, then reuse it: identical calls differ only in ids and time.

For a given body, drawn configs, project and session (and, for a stream, the interleaving of its
samples), a ChatResponse or a stream differs between calls only in its log ids, the provider ids
derived from them, and `created`. `ResponseTemplate` is the serialised bytes with those values cut
out; `fill` writes them back in. A template is kept only if filling it gives exactly the bytes of
plain serialisation (checked when it is built; tests hold every shape to it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from operator import itemgetter
from typing import Any

from mockserver import jsonio
from mockserver.determinism import logical_unix
from mockserver.pipeline.answer import ChatAnswer, ParsedChat
from mockserver.pipeline.respond import chat_response
from mockserver.pipeline.stream import encode_events, in_order, interleave_order, sample_deltas
from mockserver.world.memo import Memo

# A slot marker: control characters cannot come from our ids, and orjson writes them as \u0001.
_MARK = "\x01hlmock:{}\x01"
# One literal prefix, so `re` scans a long body for it quickly; a `created` slot also takes the quotes
# around it (the number replaces the whole JSON string).
_SLOT = re.compile(rb"\\u0001hlmock:(?:created|id:(\d+))\\u0001")

# Writes an answer's bytes, with `created` as given (a slot marker when building a template).
Render = Callable[[ChatAnswer, "int | str"], bytes]


@dataclass(slots=True)
class ResponseTemplate:
    text: bytes  # the bytes with every `%` doubled and `%s` where a value goes
    pick: Callable[[list[bytes]], tuple[bytes, ...]]  # the slots' values from [created, id of sample 0, ...]
    events: int = 0  # a stream's: how many events it holds (fixed by the shape, as the text is)

    def fill(self, answer: ChatAnswer) -> bytes:
        values = [str(logical_unix(answer.tick)).encode()]
        values += [sample.log_id.removeprefix("data_").encode() for sample in answer.samples]
        return self.text % self.pick(values)


def _picker(positions: list[int]) -> Callable[[list[bytes]], tuple[bytes, ...]]:
    if len(positions) == 1:
        (only,) = positions
        return lambda values: (values[only],)
    period = _period(positions)
    if period < len(positions):  # a one-sample stream: each event's slots alike (a tuple repeated in C)
        one, times = itemgetter(*positions[:period]), len(positions) // period
        if period == 1:
            return lambda values: (one(values),) * times
        return lambda values: one(values) * times
    return itemgetter(*positions)  # type: ignore[return-value]


def _period(positions: list[int]) -> int:
    """The length of the shortest run of `positions` that, repeated, makes all of them."""
    count = len(positions)
    for period in range(1, count // 2 + 1):
        if count % period == 0 and positions == positions[:period] * (count // period):
            return period
    return count


def build_template(answer: ChatAnswer, render: Render) -> ResponseTemplate | None:
    """The template for this answer's shape, or None if the body could be confused with a slot."""
    # A marked log id lands wherever the log id does, and in the provider ids derived from it.
    marked = replace(answer, samples=[replace(s, log_id="data_" + _MARK.format(f"id:{s.index}"))
                                      for s in answer.samples])
    raw = render(marked, _MARK.format("created"))
    position_of = {sample.index: position for position, sample in enumerate(answer.samples, start=1)}
    parts: list[bytes] = []
    positions: list[int] = []
    start = 0
    for match in _SLOT.finditer(raw):
        quoted = 0 if match.group(1) else 1  # a `created` slot replaces the whole JSON string
        parts.append(raw[start:match.start() - quoted].replace(b"%", b"%%"))
        positions.append(position_of.get(int(match.group(1)), -1) if match.group(1) else 0)
        start = match.end() + quoted
    parts.append(raw[start:].replace(b"%", b"%%"))
    if not positions or -1 in positions:
        return None
    template = ResponseTemplate(b"%s".join(parts), _picker(positions))
    if template.fill(answer) != render(answer, logical_unix(answer.tick)):
        return None  # the request itself carries marker text: never template it
    return template


_NO_TEMPLATE = ResponseTemplate(b"", _picker([0]))


def _template_size(template: ResponseTemplate) -> int:
    """Bytes a memoised template keeps (for the byte budget)."""
    return len(template.text)


def _template(memo: Memo, table: str, key: Any, answer: ChatAnswer, render: Render,
              build: Callable[[], ResponseTemplate | None] | None = None) -> ResponseTemplate | None:
    """The memoised template of this shape (None: scripted answers are not memoised, and a shape that
    cannot be templated is rendered each time). `build`: instead of `build_template(answer, render)`."""
    for sample in answer.samples:
        if sample.script is not None:
            return None
    make = build or (lambda: build_template(answer, render))
    template = memo.get(table, key, lambda: make() or _NO_TEMPLATE, _template_size)
    return None if template is _NO_TEMPLATE else template


def _templated(memo: Memo, table: str, key: Any, answer: ChatAnswer, render: Render) -> bytes:
    template = _template(memo, table, key, answer, render)
    return template.fill(answer) if template is not None else render(answer, logical_unix(answer.tick))


def _shape_key(parsed: ParsedChat, answer: ChatAnswer) -> tuple[Any, ...]:
    return (
        parsed.body,
        tuple([(s.config_id, s.config_fingerprint) for s in answer.samples]),
        answer.project_id,
        answer.session_id,
    )


def json_bytes(answer: ChatAnswer, created: int | str) -> bytes:
    """The JSON ChatResponse of `answer`."""
    body = chat_response(answer)
    for item in body["provider_responses"]:
        item["created"] = created
    return jsonio.dumps(body)


def render_json(memo: Memo, parsed: ParsedChat, answer: ChatAnswer) -> bytes:
    """The JSON body of `answer`: from a template when the same shape was answered before."""
    return _templated(memo, "response-template", _shape_key(parsed, answer), answer, json_bytes)


def _deltas_size(deltas: list[str]) -> int:
    return 64 * len(deltas) + sum(map(len, deltas))


def _event_counts(memo: Memo, answer: ChatAnswer) -> dict[int, int]:
    """Events per sample index: one per delta (memoised)."""
    return {s.index: len(memo.get("deltas", (s.generation.text, s.chunks), partial(sample_deltas, s), _deltas_size))
            for s in answer.samples}


def stream_order(memo: Memo, answer: ChatAnswer, seed: int) -> tuple[int, ...]:
    """The sample index of each event, in stream order (`stream.interleave`, with memoised deltas)."""
    return interleave_order(answer, seed, _event_counts(memo, answer))


def stream_event_count(memo: Memo, answer: ChatAnswer) -> int:
    """How many events `render_stream` writes for `answer` (without counting them in its bytes: a
    scan of a 19 KB stream cost more than a third of the whole call)."""
    return sum(_event_counts(memo, answer).values())


def render_stream(memo: Memo, parsed: ParsedChat, answer: ChatAnswer, seed: int,
                  order: tuple[int, ...] | None = None) -> bytes:
    """Every event of the stream of `answer`, as one body: from a template when the same shape (and
    the same interleaving of samples) was streamed before. `order`: from `stream_order`, if known."""
    return counted_stream(memo, parsed, answer, seed, order)[0]


def counted_stream(memo: Memo, parsed: ParsedChat, answer: ChatAnswer, seed: int,
                   order: tuple[int, ...] | None = None) -> tuple[bytes, int]:
    """`render_stream`, and how many events it holds (`stream_event_count`), kept with the template:
    the shape that fixes the bytes fixes their number."""
    if len(answer.samples) == 1:
        order = None  # one sample: its events in order, however many (the shape key fixes the text)
    elif order is None:
        order = stream_order(memo, answer, seed)

    def events(answer: ChatAnswer, created: int | str) -> bytes:
        indices = order if order is not None else (answer.samples[0].index,) * len(sample_deltas(answer.samples[0]))
        return b"".join(encode_events(answer, in_order(answer, indices), created))

    def build() -> ResponseTemplate | None:
        template = build_template(answer, events)
        if template is not None:
            template.events = stream_event_count(memo, answer)
        return template

    template = _template(memo, "stream-template", (*_shape_key(parsed, answer), order, seed), answer, events, build)
    if template is None:
        return events(answer, logical_unix(answer.tick)), stream_event_count(memo, answer)
    return template.fill(answer), template.events
