"""When each recorded byte goes out on replay: a plan the server follows, made here as plain data.

The plan keeps the recording's cut exactly: a stream is one send per recorded event (the same
bytes, so the same boundaries), anything else one send of the whole body. Times come from the
recording's offsets divided by `speed`: 1 is the recorded pace, 2 twice as fast, 0.5 half as fast,
and 0 (or infinity) means no waiting at all. An exchange whose pace is `none` (no timing was
recorded, as in a vcrpy cassette) never waits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mockserver.recording.har import Exchange

# Headers that describe one connection or one framing, not the answer: the replaying server sets its own.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                        "upgrade", "content-length"})


@dataclass(frozen=True)
class ReplayPlan:
    """How to answer with a recorded exchange.

    `head_delay`: seconds from the request's start to sending the status and headers;
    `sends`: (seconds after the previous send, or after the head for the first, bytes) in order.
    A server that wants no drift sums the delays and sleeps until each sum from the request's start.
    """

    status: int
    reason: str
    headers: list[tuple[str, str]]
    head_delay: float
    sends: list[tuple[float, bytes]]

    @property
    def offsets(self) -> list[float]:
        """Each send's time in seconds from the request's start (the delays summed)."""
        at, offsets = self.head_delay, []
        for delay, _ in self.sends:
            at += delay
            offsets.append(at)
        return offsets


def check_speed(speed: float) -> float:
    """`speed` if it is a usable replay speed (a number >= 0), else ValueError naming it."""
    if not isinstance(speed, int | float) or math.isnan(speed) or speed < 0:
        raise ValueError(f"replay speed must be a number >= 0 (0 = no waiting), not {speed!r}")
    return float(speed)


def replay_plan(exchange: Exchange, speed: float = 1.0) -> ReplayPlan:
    """The plan for answering with `exchange` at `speed` (see the module docstring)."""
    speed = check_speed(speed)
    waits = exchange.pace != "none" and 0 < speed < math.inf
    head_ms = max(exchange.timings.send, 0) + max(exchange.timings.wait, 0)
    if exchange.is_stream:
        events = exchange.response.content.events or []
        marks = [(max(event.offset_ms, head_ms), event.data()) for event in events]
    else:
        marks = [(max(exchange.time, head_ms), exchange.response.content.body())]
    sends, previous = [], head_ms
    for offset_ms, data in marks:
        offset_ms = max(offset_ms, previous)  # offsets edited out of order never mean waiting backwards
        sends.append(((offset_ms - previous) / 1000 / speed if waits else 0.0, data))
        previous = offset_ms
    response = exchange.response
    headers = [(h.name, h.value) for h in response.headers if h.name.lower() not in HOP_BY_HOP]
    return ReplayPlan(status=response.status, reason=response.status_text, headers=headers,
                      head_delay=head_ms / 1000 / speed if waits else 0.0, sends=sends)
