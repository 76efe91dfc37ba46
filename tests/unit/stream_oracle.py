"""The test oracle for streams: every event of an answer's stream written plainly, one by one, from the
answer alone (no memo tables, no templates), to hold the fast path (`pipeline.json_cache.render_stream`)
and the event order to it."""

from __future__ import annotations

from mockserver.pipeline.answer import ChatAnswer, SampleAnswer
from mockserver.pipeline.stream import encode_events, in_order, interleave_order, sample_deltas


def interleave(answer: ChatAnswer, seed: int) -> list[tuple[SampleAnswer, str, bool]]:
    """The stream's events in order, as (sample, delta, is the sample's last event). A script's
    `chunks` fix its sample's deltas."""
    counts = {sample.index: len(sample_deltas(sample)) for sample in answer.samples}
    return in_order(answer, interleave_order(answer, seed, counts))


def stream_events(answer: ChatAnswer, seed: int) -> list[bytes]:
    """Every event of the stream, in order."""
    return encode_events(answer, interleave(answer, seed))
