"""One run's state: the transport, every exchange judged as it comes back, and what was found.

It also notices a target that has stopped answering: after a few requests in a row without a whole
answer it re-sends the last request the target did answer, and if that gets nothing either, it
records `target_unresponsive` and stops the run instead of paying the timeout on every request.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from contracts.check.checks import TARGET_UNRESPONSIVE, Settings, response_checks
from contracts.check.exchange import Exchange, Request, Violation
from contracts.check.fuzz import KnownIds
from contracts.check.options import CheckOptions
from contracts.check.progress import Progress
from contracts.check.transport import Deadline, Limits, Transport

KEPT_BODY_BYTES = 256 * 1024  # of each answer, kept for the verdict after its checks have judged all of it
UNRESPONSIVE_AFTER = 3  # requests in a row without a whole answer before the target is tried again


class TargetUnresponsive(Exception):
    """The target stopped answering; the run ends with `target_unresponsive`."""


@dataclass
class Session:
    options: CheckOptions
    transport: Transport
    known: KnownIds
    settings: Settings
    violations: list[Violation] = field(default_factory=list)
    applied: Counter[str] = field(default_factory=Counter)  # judgements made, per check
    failed: Counter[str] = field(default_factory=Counter)  # judgements with at least one violation, per check
    notes: list[str] = field(default_factory=list)
    target_is_mock: bool = False
    progress: Progress | None = None
    last_answered: Request | None = None  # the latest request that got a whole answer
    _noted: set[str] = field(default_factory=set)

    @classmethod
    def open(cls, options: CheckOptions, progress: Progress | None = None) -> Session:
        limits = Limits(timeout=options.timeout, stream_timeout=max(options.stream_timeout, options.timeout),
                        max_bytes=options.max_answer_bytes, max_events=options.max_stream_events)
        transport = Transport(options.base_url, options.api_key, max_requests=options.max_requests,
                              rate=options.effective_rate, limits=limits, deadline=Deadline(options.deadline))
        return cls(options, transport, KnownIds(options.experiments, inputs=options.input_values),
                   Settings(options.max_first_byte),
                   progress=progress)

    @property
    def exchanges(self) -> list[Exchange]:
        return self.transport.exchanges

    def phase(self, name: str) -> None:
        if self.progress is not None:
            self.progress.phase(name)

    def send(self, request: Request) -> Exchange:
        """Send, judge with every per-response check, and keep the verdicts."""
        exchange = self.transport.send(request)
        self.record(exchange)
        self._keep_small(exchange)
        if exchange.response is not None and exchange.response.status and not exchange.response.timed_out:
            self.last_answered = request
        if self.transport.timeouts_in_a_row >= UNRESPONSIVE_AFTER:
            self._still_there(exchange)
        return exchange

    def record(self, exchange: Exchange) -> None:
        found, applied = response_checks(exchange, self.settings)
        self.violations.extend(found)
        self.applied.update(applied)
        self.failed.update({violation.check for violation in found})

    def _keep_small(self, exchange: Exchange) -> None:
        """Keep only the head of a judged answer's body for the rest of the run (coverage, hints): a target
        answering every request with `--max-answer-bytes` (a small gzip expands to 32 MiB) once made a
        default run hold them all, gigabytes. The caller still gets the whole answer."""
        response = exchange.response
        if response is not None and len(response.body) > KEPT_BODY_BYTES and exchange.number:
            kept = replace(response, body=response.body[:KEPT_BODY_BYTES])
            self.exchanges[exchange.number - 1] = replace(exchange, response=kept)

    def _still_there(self, last: Exchange) -> None:
        """Re-send the last request that was answered; stop the run if it gets no answer either."""
        in_a_row = self.transport.timeouts_in_a_row
        again = self.last_answered
        if again is not None:
            answer = self.transport.send(again, record=False).response
            if answer is not None and answer.status and not answer.timed_out:
                self.transport.timeouts_in_a_row = 0
                self.applied[TARGET_UNRESPONSIVE] += 1
                self.note(f"{in_a_row} requests in a row got no whole answer within {self.options.timeout:g} s, "
                               f"but the target still answers others ({again.origin} again: {answer.status}); "
                               "the run goes on", once="slow-requests")
                return
        tried = f"and {again.origin}, answered before, got none now" if again else "and none was ever answered"
        self.judge(TARGET_UNRESPONSIVE, [("(target)", f"{in_a_row} requests in a row got no whole answer within "
                                                      f"{self.options.timeout:g} s, {tried}: the run stopped")],
                   last.request.operation, last)
        raise TargetUnresponsive

    def judge(self, check: str, problems: list[tuple[str, str]], operation: str,
              exchange: Exchange | None = None, request: Request | None = None) -> None:
        """Record a run-level check's verdict (an empty list: it ran and passed)."""
        self.applied[check] += 1
        if problems:
            self.failed[check] += 1
        self.violations.extend(Violation(check, operation, field, message, exchange.number if exchange else None,
                                         request) for field, message in problems)

    def note(self, text: str, once: str | None = None) -> None:
        """Add a note for the report; with `once`, only the first note of that kind is kept."""
        if once is not None:
            if once in self._noted:
                return
            self._noted.add(once)
        self.notes.append(text)
