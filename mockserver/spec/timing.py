"""Seeded timing profiles: how long each answer of a config waits, event by event (off by default).

A config's `timing` (`TimingSpec`) gives lognormal distributions for the wait before a stream's first
event and before each later event. Every sample draws its waits from its own stream, keyed by the seed
and its log id, so the schedule is reproducible from the seed and does not depend on how samples
interleave: the stream's first event waits its sample's `first_event` delay, every later event its
own sample's next `between_events` delay. Samples of configs without a profile do not wait.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mockserver.determinism import derive_random
from mockserver.spec.draws import standard_normal
from mockserver.spec.models import DelaySpec, TimingSpec

if TYPE_CHECKING:  # only named in hints: spec/ sits below pipeline/
    from mockserver.pipeline.answer import ChatAnswer


def lognormal_delay(rng: random.Random, spec: DelaySpec | None) -> float:
    """One delay in seconds, to the microsecond: median * exp(sigma * z), capped at `max`."""
    if spec is None:
        return 0.0
    value = spec.median * math.exp(spec.sigma * standard_normal(rng)) if spec.sigma else spec.median
    if spec.max is not None:
        value = min(value, spec.max)
    return round(value, 6)


class _SampleClock:
    """One sample's waits, drawn in order from its own seeded stream."""

    def __init__(self, seed: int, log_id: str, timing: TimingSpec) -> None:
        self._rng = derive_random(seed, "timing", log_id)
        self._timing = timing
        self.first = lognormal_delay(self._rng, timing.first_event)

    def next_between(self) -> float:
        return lognormal_delay(self._rng, self._timing.between_events)


def has_timing(answer: ChatAnswer) -> bool:
    return answer.timings.count(None) != len(answer.timings)


def plan_delays(seed: int, answer: ChatAnswer, owners: Sequence[int]) -> list[float]:
    """The wait before each event of the answer's stream; `owners[i]` is the sample index of event i."""
    clocks = {
        sample.index: _SampleClock(seed, sample.log_id, timing)
        for sample, timing in zip(answer.samples, answer.timings, strict=True) if timing is not None
    }
    delays = []
    for position, index in enumerate(owners):
        clock = clocks.get(index)
        if clock is None:
            delays.append(0.0)
        else:
            delays.append(clock.first if position == 0 else clock.next_between())
    return delays
