"""Injected faults: error answers, delays, damaged streams and dropped connections.

`plan_faults` merges every fault that fires on a call into one `FaultPlan`; the chat route applies
it. Timing is exactly what the fault says (no jitter), so a test sees the same schedule every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mockserver.errors import ApiError
from mockserver.spec.models import FaultSpec
from mockserver.spec.rules import Rule

DEFAULT_DETAILS = {
    429: "Rate limit exceeded (injected by humanloop-mock).",
    500: "Internal server error (injected by humanloop-mock).",
    502: "Bad gateway (injected by humanloop-mock).",
    503: "Service unavailable (injected by humanloop-mock).",
    504: "Gateway timeout (injected by humanloop-mock).",
}


def seconds_text(seconds: float) -> str:
    """Seconds as HTTP writes them: digits, never an exponent (`:g` turned 1234567 into `1.23457e+06`).
    A fraction is kept (`0.5`) so a test can make a client wait less than a second."""
    text = format(Decimal(repr(float(seconds))), "f")
    return text.removesuffix(".0")


@dataclass(frozen=True)
class FaultPlan:
    names: tuple[str, ...]
    status: int | None = None
    detail: str | None = None
    retry_after: float | None = None
    latency: float = 0.0
    first_event_delay: float = 0.0
    event_delay: float = 0.0
    cut_after_events: int | None = None
    malformed_event: int | None = None
    reset: bool = False

    def error(self) -> ApiError | None:
        if self.status is None:
            return None
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = seconds_text(self.retry_after)
        detail = self.detail or DEFAULT_DETAILS.get(self.status, f"HTTP {self.status} (injected by humanloop-mock).")
        return ApiError(self.status, detail, headers)


def plan_faults(fired: list[Rule[FaultSpec]]) -> FaultPlan | None:
    """One plan from every fault that fired (the first to set an effect wins it; delays add up)."""
    if not fired:
        return None
    fields: dict[str, Any] = {"names": tuple(f.name for f in fired)}
    for fault in fired:
        spec = fault.spec
        for name in ("status", "detail", "retry_after", "cut_after_events", "malformed_event"):
            value = getattr(spec, name)
            if value is not None and name not in fields:
                fields[name] = value
        for name in ("latency", "first_event_delay", "event_delay"):
            fields[name] = fields.get(name, 0.0) + (getattr(spec, name) or 0.0)
        fields["reset"] = fields.get("reset", False) or spec.reset
    return FaultPlan(**fields)


def malformed(event: bytes) -> bytes:
    """The event with its JSON cut in half: still one `data:` line of UTF-8, no longer valid JSON
    (cut between characters, so the damage is to the JSON, never to the text encoding)."""
    text = event[len(b"data: "):].rstrip(b"\n").decode("utf-8")
    return b"data: " + text[: max(1, len(text) // 2)].encode("utf-8") + b"\n\n"


def damaged(events: list[bytes], plan: FaultPlan | None) -> list[bytes]:
    """The events cut short or with one broken, as the plan says."""
    if plan is None:
        return events
    if plan.cut_after_events is not None:
        events = events[: plan.cut_after_events]
    if plan.malformed_event is not None and plan.malformed_event <= len(events):
        events = list(events)
        events[plan.malformed_event - 1] = malformed(events[plan.malformed_event - 1])
    return events


def event_delays(count: int, plan: FaultPlan | None, timed: list[float] | None) -> list[float] | None:
    """The pause before each of `count` events: a timing profile's (`timed`) plus a fault's delays.

    None when no event pauses. A stream with pauses must be written event by event, never batched: the
    pauses are what a client under test observes."""
    fault_first = plan.first_event_delay if plan is not None else 0.0
    fault_next = plan.event_delay if plan is not None else 0.0
    if timed is None and not (fault_first or fault_next):
        return None
    base = timed if timed is not None else [0.0] * count
    return [round(d + (fault_first if i == 0 else fault_next), 6) for i, d in enumerate(base)]
