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
from itertools import accumulate, chain, pairwise
from operator import itemgetter
from typing import Any

from mockserver import jsonio
from mockserver.determinism import logical_unix
from mockserver.pipeline.answer import ChatAnswer, ParsedChat
from mockserver.pipeline.delivery import SEND_LIMIT, whole_event_batches
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
class StreamCuts:
    """A stream template in the pieces `whole_event_batches` cuts its bytes into (at most `limit` each)
    when `tail` follows them (the tail goes at the end of the last piece): each piece's text and the range
    of slots it holds. The cut points hold for slot values of these `widths` (they move with them: `created`
    can gain a digit); the pieces, joined, are the template's text whatever the widths."""

    tail: bytes
    limit: int
    widths: tuple[int, ...]
    pieces: tuple[tuple[bytes, int, int], ...]


@dataclass(slots=True)
class ResponseTemplate:
    text: bytes  # the bytes with every `%` doubled and `%s` where a value goes (b"" once cut in pieces)
    pick: Callable[[list[bytes]], tuple[bytes, ...]]  # the slots' values from [created, id of sample 0, ...]
    events: int = 0  # a stream's: how many events it holds (fixed by the shape, as the text is)
    cuts: StreamCuts | None = None  # a stream's: its text in pieces, for a batched send (`stream_cuts`)

    def fill(self, answer: ChatAnswer) -> bytes:
        slots = self.pick(_values(answer))
        if self.cuts is None:
            return self.text % slots
        return b"".join([text % slots[first:end] for text, first, end in self.cuts.pieces])

    def pieces(self, answer: ChatAnswer, tail: bytes) -> list[bytes]:
        """`whole_event_batches(self.fill(answer) + tail)`, filled piece by piece where the template was
        cut for this tail and these widths (no scan of the bytes, no copy of the whole)."""
        cuts, values = self.cuts, _values(answer)
        if cuts is None or cuts.tail != tail or tuple(map(len, values)) != cuts.widths:
            return whole_event_batches(self.fill(answer) + tail, cuts.limit if cuts is not None else SEND_LIMIT)
        slots = self.pick(values)
        pieces = [text % slots[first:end] for text, first, end in cuts.pieces]
        if tail:
            pieces[-1] += tail
        return pieces


def _values(answer: ChatAnswer) -> list[bytes]:
    """What fills a template's slots, by the picker's positions: `created`, then each sample's id."""
    values = [str(logical_unix(answer.tick)).encode()]
    values += [sample.log_id.removeprefix("data_").encode() for sample in answer.samples]
    return values


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
    if template.cuts is not None:
        return sum(len(text) for text, _, _ in template.cuts.pieces)
    return len(template.text)


def _template(memo: Memo, table: str, key: Any, answer: ChatAnswer, render: Render,
              build: Callable[[], ResponseTemplate | None] | None = None) -> ResponseTemplate | None:
    """The memoised template of this shape (None: scripted answers are not memoised, and a shape that
    cannot be templated is rendered each time). `build`: instead of `build_template(answer, render)`."""
    if _scripted(answer):
        return None
    template = memo.known(table, key)
    if template is None:
        make = build or (lambda: build_template(answer, render))
        template = memo.get(table, key, lambda: make() or _NO_TEMPLATE, _template_size)
    return None if template is _NO_TEMPLATE else template


def _scripted(answer: ChatAnswer) -> bool:
    """Whether a script answered a sample (a scripted answer is never templated)."""
    return any([sample.script is not None for sample in answer.samples])


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
                  order: tuple[int, ...] | None = None, batch_tail: bytes = b"") -> bytes:
    """Every event of the stream of `answer`, as one body: from a template when the same shape (and
    the same interleaving of samples) was streamed before. `order`: from `stream_order`, if known;
    `batch_tail`: what this world's batched streams end with (`batched_stream`; a template is cut for it)."""
    return counted_stream(memo, parsed, answer, seed, order, batch_tail)[0]


def counted_stream(memo: Memo, parsed: ParsedChat, answer: ChatAnswer, seed: int,
                   order: tuple[int, ...] | None = None, batch_tail: bytes = b"") -> tuple[bytes, int]:
    """`render_stream`, and how many events it holds (`stream_event_count`), kept with the template:
    the shape that fixes the bytes fixes their number."""
    template, order = _stream_template(memo, parsed, answer, seed, order, batch_tail)
    if template is None:
        return stream_bytes(order)(answer, logical_unix(answer.tick)), stream_event_count(memo, answer)
    return template.fill(answer), template.events


def batched_stream(memo: Memo, parsed: ParsedChat, answer: ChatAnswer, seed: int,
                   tail: bytes) -> tuple[list[bytes], int]:
    """The stream of `answer` then `tail`, in the pieces `whole_event_batches` cuts it into (from the
    template's own cuts when it has them), and how many events the stream holds (`tail` not counted)."""
    template, order = _stream_template(memo, parsed, answer, seed, None, tail)
    if template is None:
        stream = stream_bytes(order)(answer, logical_unix(answer.tick))
        return whole_event_batches(stream + tail), stream_event_count(memo, answer)
    return template.pieces(answer, tail), template.events


def stream_bytes(order: tuple[int, ...] | None) -> Render:
    """Plain rendering of a stream whose samples' events come in `order` (None: one sample's, in order)."""

    def events(answer: ChatAnswer, created: int | str) -> bytes:
        indices = order if order is not None else (answer.samples[0].index,) * len(sample_deltas(answer.samples[0]))
        return b"".join(encode_events(answer, in_order(answer, indices), created))

    return events


def _stream_template(memo: Memo, parsed: ParsedChat, answer: ChatAnswer, seed: int, order: tuple[int, ...] | None,
                     batch_tail: bytes) -> tuple[ResponseTemplate | None, tuple[int, ...] | None]:
    """The memoised template of this stream's shape (None: not templated), and the order of its samples'
    events (`stream_bytes`). Nothing is made for a shape templated before but the key."""
    if len(answer.samples) == 1:
        order = None  # one sample: its events in order, however many (the shape key fixes the text)
    elif order is None:
        order = stream_order(memo, answer, seed)
    key = (*_shape_key(parsed, answer), order, seed)
    known = memo.known("stream-template", key)
    if known is not None and not _scripted(answer):
        return (None if known is _NO_TEMPLATE else known), order
    events = stream_bytes(order)

    def build() -> ResponseTemplate | None:
        template = build_template(answer, events)
        if template is not None:
            template.events = stream_event_count(memo, answer)
            template.cuts = stream_cuts(template, answer, batch_tail)
            if template.cuts is not None:
                template.text = b""  # (kept once: in its pieces)
        return template

    return _template(memo, "stream-template", key, answer, events, build), order


# In a template's text: a doubled `%` (one byte when filled) or a slot.
_FORMAT = re.compile(rb"%[%s]")


def stream_cuts(template: ResponseTemplate, answer: ChatAnswer, tail: bytes,
                limit: int = SEND_LIMIT) -> StreamCuts | None:
    """Where `whole_event_batches` cuts `template` filled for `answer`, then `tail`, as pieces of its text
    (checked: filled, they give those batches; None if a cut falls inside a slot or a doubled `%`)."""
    values = _values(answer)
    slots = template.pick(values)
    text = template.text
    batches = whole_event_batches(text % slots + tail, limit)
    ends = list(accumulate(map(len, batches)))[:-1]  # where each piece but the last ends, in filled bytes
    bounds = [(0, 0)]  # where each piece starts: offset in the text, slots before it
    at = filled = slot = 0
    for match in chain(_FORMAT.finditer(text), (None,)):
        stop = len(text) if match is None else match.start()
        run_end = filled + stop - at  # plain text[at:stop] fills the bytes filled..run_end
        while ends and ends[0] <= run_end:
            bounds.append((stop - (run_end - ends.pop(0)), slot))
        if match is None:
            break
        if match[0] == b"%s":
            run_end, slot = run_end + len(slots[slot]), slot + 1
        else:
            run_end += 1
        filled, at = run_end, match.end()
    bounds.append((len(text), len(slots)))
    cuts = StreamCuts(tail, limit, tuple(map(len, values)),
                      tuple((text[start:stop], first, end) for (start, first), (stop, end) in pairwise(bounds)))
    try:
        filled_pieces = [piece % slots[first:end] for piece, first, end in cuts.pieces]
    except (TypeError, ValueError):  # a piece's text ends in half a `%%`
        return None
    filled_pieces[-1] += tail
    return cuts if filled_pieces == batches else None
