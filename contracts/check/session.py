"""One run's state: the transport, every exchange judged as it comes back, and what was found."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from contracts.check.checks import Settings, response_checks
from contracts.check.exchange import Exchange, Request, Violation
from contracts.check.fuzz import KnownIds
from contracts.check.options import CheckOptions
from contracts.check.transport import Transport


@dataclass
class Session:
    options: CheckOptions
    transport: Transport
    known: KnownIds
    settings: Settings
    violations: list[Violation] = field(default_factory=list)
    applied: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    target_is_mock: bool = False

    @classmethod
    def open(cls, options: CheckOptions) -> Session:
        transport = Transport(options.base_url, options.api_key, max_requests=options.max_requests,
                              rate=options.effective_rate, timeout=options.timeout)
        return cls(options, transport, KnownIds(options.experiments), Settings(options.max_first_byte))

    @property
    def exchanges(self) -> list[Exchange]:
        return self.transport.exchanges

    def send(self, request: Request) -> Exchange:
        """Send, judge with every per-response check, and keep the verdicts."""
        exchange = self.transport.send(request)
        found, applied = response_checks(exchange, self.settings)
        self.violations.extend(found)
        self.applied.update(applied)
        return exchange

    def judge(self, check: str, problems: list[tuple[str, str]], operation: str,
              exchange: Exchange | None = None, request: Request | None = None) -> None:
        """Record a run-level check's verdict (an empty list: it ran and passed)."""
        self.applied[check] += 1
        self.violations.extend(Violation(check, operation, field, message, exchange.number if exchange else None,
                                         request) for field, message in problems)

    def note(self, text: str) -> None:
        self.notes.append(text)
