"""What a run actually covered: statuses per operation, JSON and streamed chat answers, events,
samples. A run that never got chat-experiment to answer 2xx both ways has checked nothing that
matters, and fails saying so."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from contracts.check.checks import COVERAGE
from contracts.check.exchange import Exchange, dig, items, loads
from contracts.check.operations import CHAT
from contracts.check.session import Session
from contracts.check.sse import DONE, parse_stream


@dataclass
class Coverage:
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    chat_json: int = 0  # 2xx JSON chat answers
    chat_streams: int = 0  # 2xx streamed chat answers
    events: int = 0
    samples: int = 0
    stream_requests: Counter[int] = field(default_factory=Counter)  # status of each stream: true request
    json_requests: Counter[int] = field(default_factory=Counter)
    streams_not_streamed: int = 0  # stream: true requests answered 2xx, but not as text/event-stream
    first_detail: dict[int, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "operations": {op: {str(k): v for k, v in sorted(c.items())} for op, c in self.statuses.items()},
            "chat_json_2xx": self.chat_json,
            "chat_stream_2xx": self.chat_streams,
            "stream_events": self.events,
            "samples": self.samples,
        }


def _samples_in(exchange: Exchange) -> tuple[int, int]:
    """(events, samples) of one chat answer."""
    assert exchange.response is not None
    if exchange.response.media_type == "text/event-stream":
        payloads = [p for p in parse_stream(exchange.response.body).payloads if p != DONE]
        indexes = set()
        for payload in payloads:
            try:
                first = items(dig(loads(payload), "data"))[:1]
            except ValueError:
                continue
            indexes.update(repr(item.get("index")) for item in first)
        return len(payloads), len(indexes)
    try:
        return 0, len(items(dig(exchange.response.json(), "data")))
    except ValueError:
        return 0, 0


def measure(exchanges: list[Exchange], operations: list[str]) -> Coverage:
    coverage = Coverage(statuses={op: Counter() for op in operations})
    for exchange in exchanges:
        response = exchange.response
        if response is None or response.status == 0:
            continue
        coverage.statuses.setdefault(exchange.request.operation, Counter())[response.status] += 1
        if exchange.request.operation != CHAT or exchange.request.intent.value not in ("valid", "valid-fuzz"):
            continue
        (coverage.stream_requests if exchange.request.wants_stream else coverage.json_requests)[response.status] += 1
        if not response.is_success:
            coverage.first_detail.setdefault(response.status, _detail(response.body))
            continue
        events, samples = _samples_in(exchange)
        coverage.events += events
        coverage.samples += samples
        if response.media_type == "text/event-stream" and exchange.request.wants_stream:
            coverage.chat_streams += 1
        elif exchange.request.wants_stream:
            coverage.streams_not_streamed += 1
        elif response.media_type == "application/json" and not exchange.request.wants_stream:
            coverage.chat_json += 1
    return coverage


def _detail(body: bytes) -> str:
    try:
        detail = dig(loads(body), "detail")
    except ValueError:
        detail = None
    if detail is None:
        return body[:80].decode("utf-8", "replace")
    return (detail if isinstance(detail, str) else repr(detail))[:100]


def _statuses(counter: Counter[int], details: dict[int, str]) -> str:
    if not counter:
        return "none sent"
    parts = []
    for status, count in sorted(counter.items()):
        detail = f" {details[status]!r}" if status in details else ""
        parts.append(f"{status} x{count}{detail}")
    return "; ".join(parts)


def judge_coverage(session: Session, coverage: Coverage) -> None:
    problems = []
    hint = ("pass --experiment-id with an experiment that exists on the target" if not session.options.experiment_ids
            else "check that the experiment ids exist on the target and have active model configs")
    if coverage.chat_json == 0:
        got = _statuses(coverage.json_requests, coverage.first_detail)
        problems.append(("JSON answers", "chat-experiment was never answered 2xx as JSON (valid stream: false "
                                         f"requests got: {got}); {hint}"))
    if coverage.chat_streams == 0:
        got = _statuses(coverage.stream_requests, coverage.first_detail)
        why = (f"{coverage.streams_not_streamed} were answered 2xx but not as text/event-stream: the target does not "
               "stream (see stream_flag_content_type)") if coverage.streams_not_streamed else hint
        problems.append(("stream answers", "chat-experiment was never answered 2xx as a stream (valid stream: true "
                                           f"requests got: {got}); {why}"))
    session.judge(COVERAGE, problems, CHAT)


def coverage_lines(coverage: Coverage) -> list[str]:
    width = max((len(op) for op in coverage.statuses), default=0)
    lines = []
    for op, counter in coverage.statuses.items():
        ok = sum(v for k, v in counter.items() if 200 <= k < 300)
        rest = ", ".join(f"{k} x{v}" for k, v in sorted(counter.items()) if not 200 <= k < 300)
        extra = f" (json {coverage.chat_json}, stream {coverage.chat_streams})" if op == CHAT else ""
        never = "" if ok else "  <- never answered 2xx"
        lines.append(f"  {op:<{width}}  2xx x{ok}{extra}{'; ' + rest if rest else ''}{never}")
    lines.append(f"  streams read: {coverage.chat_streams}, stream events: {coverage.events}, "
                 f"samples: {coverage.samples}")
    return lines
