"""The passive checker: every exchange the proxy relays is judged by the checker's per-answer checks
(`contracts.check.judge.judge_answer`, the code `humanloop-mock check` runs), after it went out.

Judging happens on a thread of its own, fed by a bounded queue: `submit` only puts the exchange in the
queue (or, when the queue is full, counts it as not judged), so the client is never kept waiting, and
nothing the checker meets (an answer it cannot read, a check that crashes) reaches the request path.

What it finds is kept in a `ViolationBook`: per check, how many violations and in how many exchanges, the
field patterns, and the latest example; per (check, operation, field pattern) a `Finding` as the
checker's own report keeps them, so `--report` and `--junit` reuse its writers. Nothing kept holds a
key: request bodies are redacted and messages scrubbed of the request's own keys before they are stored.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts.check.checks import CHECKS, Settings
from contracts.check.exchange import Finding, Violation, field_pattern
from contracts.check.judge import Verdict, judge_answer, observed_request
from mockserver.recording.redact import redact_body, redact_headers, scrub_literals
from mockserver.world import provider_keys

log = logging.getLogger("humanloop_mock.proxy")

MAX_QUEUE = 1000  # exchanges waiting to be judged; more are counted as not judged
MAX_JUDGED_BYTES = 8 * 1024 * 1024  # an answer longer than this is not judged (counted)
# A stream of more events than this is not judged (counted): each costs the checks tens of microseconds and
# may give a violation, so 8 MiB of tiny events held the checker's thread for minutes and the journal
# entry a million violations. A real stream's events are a few hundred bytes: 8 MiB is about 28,000.
MAX_JUDGED_EVENTS = 50_000
MAX_SHOWN_VIOLATIONS = 100  # violations listed in one journal entry (the counts take them all)
MAX_FIELDS = 20  # field patterns listed per check
MAX_MESSAGE = 500  # characters of a violation's message kept


@dataclass
class Observed:
    """One exchange as it went: the request (path below the base URL, `/chat-experiment`) and the answer's
    bytes as sent, with its timing. `api_key` is only used to scrub what is kept, never stored."""

    number: int  # the journal's number for it (0 when there is no journal)
    method: str
    path: str
    request_body: bytes | None
    status: int
    headers: dict[str, str]
    body: bytes
    api_key: str | None = None
    first_byte_seconds: float = 0.0
    total_seconds: float = 0.0
    error: str | None = None  # the exchange broke (the upstream cut the stream, ...)
    source: str = "upstream"  # who answered: "upstream", "mock", "recording #3 (answer 1 of 1)"
    # The request's headers and query, only to find its secrets (`_secrets_of`) in the
    # checker's thread and scrub them from what is kept; never stored.
    request_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    query: bytes = b""


@dataclass
class CheckTally:
    """One check's violations: how many, in how many exchanges, which fields, and the latest."""

    check: str
    violations: int = 0
    exchanges: int = 0
    fields: dict[str, int] = field(default_factory=dict)
    latest: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        spec = CHECKS.get(self.check)
        return {"check": self.check, "severity": spec.severity if spec else "contract",
                "summary": spec.summary if spec else "", "violations": self.violations, "exchanges": self.exchanges,
                "fields": [{"field": name, "count": count} for name, count in self.fields.items()],
                "latest": self.latest}


class ViolationBook:
    """Everything the passive checker found, safe to read from any thread (see the module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.judged = 0
        self.passed = 0
        self.applied: dict[str, int] = {}  # check -> exchanges it judged
        self.failed: dict[str, int] = {}  # check -> exchanges it found at fault
        self.tallies: dict[str, CheckTally] = {}
        self.findings: dict[tuple[str, str, str], Finding] = {}
        self.not_judged: dict[str, int] = {"queue_full": 0, "too_large": 0, "checker_failed": 0, "client_left": 0,
                                          "shutdown": 0, "too_many_events": 0}
        self.last_failure: str | None = None

    def record(self, observed: Observed, verdict: Verdict) -> list[dict[str, Any]]:
        """Keep one exchange's verdict; returns its violations as the journal shows them (the first
        `MAX_SHOWN_VIOLATIONS`: the tallies count every one)."""
        secrets, kept_body, kept_query = _secrets_of(observed)
        shown = [_violation_json(v, secrets) for v in verdict.violations]
        request = None
        if verdict.violations:
            body = None if kept_body is None else scrub_literals(kept_body, secrets)
            path = f"{observed.path}?{kept_query}" if kept_query else observed.path  # (a curl sends it all)
            request = observed_request(observed.method, path, body, has_key=observed.api_key is not None,
                                       origin=f"exchange {observed.number} ({observed.source})")
        with self._lock:
            self.judged += 1
            self.passed += not verdict.violations
            for name in verdict.applied:
                self.applied[name] = self.applied.get(name, 0) + 1
            for name in dict.fromkeys(v.check for v in verdict.violations):
                self.failed[name] = self.failed.get(name, 0) + 1
                tally = self.tallies.setdefault(name, CheckTally(name))
                tally.exchanges += 1
            for violation, record in zip(verdict.violations, shown, strict=True):
                tally = self.tallies[violation.check]
                tally.violations += 1
                pattern = field_pattern(violation.field)
                if pattern in tally.fields or len(tally.fields) < MAX_FIELDS:
                    tally.fields[pattern] = tally.fields.get(pattern, 0) + 1
                tally.latest = {"exchange": observed.number, "source": observed.source, "method": observed.method,
                                "path": observed.path, "status": observed.status, **record}
                kept = Violation(violation.check, violation.operation, violation.field, record["message"],
                                 observed.number, request)
                finding = self.findings.get(kept.key)
                if finding is None:
                    finding = self.findings[kept.key] = Finding(kept, count=0)
                finding.count += 1
                if request is not None and len(finding.requests) < 1:
                    finding.requests.append(request)
                if request is not None and request.origin not in finding.origins and len(finding.origins) < 10:
                    finding.origins.append(request.origin)
        return shown[:MAX_SHOWN_VIOLATIONS]

    def skipped(self, reason: str, failure: str | None = None) -> None:
        with self._lock:
            self.not_judged[reason] = self.not_judged.get(reason, 0) + 1
            if failure is not None:
                self.last_failure = failure

    @property
    def violations(self) -> int:
        with self._lock:
            return sum(t.violations for t in self.tallies.values())

    def ordered_findings(self) -> list[Finding]:
        """The findings, in the order of the checks' registry, then as first found."""
        order = {name: number for number, name in enumerate(CHECKS)}
        with self._lock:
            findings = list(self.findings.values())
        return sorted(findings, key=lambda f: order.get(f.violation.check, len(order)))

    def to_json(self) -> dict[str, Any]:
        """What `GET /__admin/violations` shows."""
        order = {name: number for number, name in enumerate(CHECKS)}
        with self._lock:
            tallies = sorted(self.tallies.values(), key=lambda t: order.get(t.check, len(order)))
            return {"judged": self.judged, "passed": self.passed,
                    "with_violations": self.judged - self.passed,
                    "violations": sum(t.violations for t in tallies),
                    "not_judged": dict(self.not_judged), "checker_failure": self.last_failure,
                    "checks": [t.to_json() for t in tallies]}


def _secrets_of(observed: Observed) -> tuple[list[str], bytes | None, str]:
    """Every secret the request carried, and its body and query with them redacted (one pass over the body)."""
    secrets: list[str] = []
    provider_keys.header_secrets(observed.request_headers, secrets)
    query = provider_keys.redact_query(observed.query.decode("latin-1"), secrets) if observed.query else ""
    if observed.api_key:
        redact_headers([("x-api-key", observed.api_key)], secrets)
    body = None if observed.request_body is None else redact_body(observed.request_body, secrets)
    return secrets, body, provider_keys.hide_in_query(query, secrets)  # (a key sent again under another name)


def _violation_json(violation: Violation, secrets: list[str]) -> dict[str, Any]:
    message = violation.message
    if secrets:  # before clipping, so no clipped key survives
        message = scrub_literals(message.encode("utf-8", "surrogateescape"), secrets).decode("utf-8", "replace")
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE - 3] + "..."
    return {"check": violation.check, "operation": violation.operation, "field": violation.field, "message": message}


def judge(observed: Observed, settings: Settings | None = None) -> Verdict:
    """The checker's verdict on one exchange."""
    return judge_answer(observed.method, observed.path, observed.request_body, observed.status, observed.headers,
                        observed.body, has_key=observed.api_key is not None,
                        first_byte_seconds=observed.first_byte_seconds, total_seconds=observed.total_seconds,
                        error=observed.error, settings=settings)


Callback = Callable[[list[dict[str, Any]]], None]
_STOP = object()


class PassiveChecker:
    """A thread that judges submitted exchanges in order and keeps what it finds in `book`."""

    def __init__(self, book: ViolationBook | None = None, *, max_queue: int = MAX_QUEUE,
                 max_judged_bytes: int = MAX_JUDGED_BYTES, max_judged_events: int = MAX_JUDGED_EVENTS,
                 settings: Settings | None = None) -> None:
        self.book = book or ViolationBook()
        self.settings = settings
        self.max_judged_bytes = max_judged_bytes
        self.max_judged_events = max_judged_events
        self._queue: queue.Queue[Any] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="humanloop-mock-checker", daemon=True)
        self._started = self._closed = False

    def start(self) -> PassiveChecker:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def submit(self, observed: Observed, on_verdict: Callback | None = None) -> bool:
        """Queue one exchange (never blocks, never raises); False when it will not be judged."""
        if self._closed:
            return False
        if len(observed.body) > self.max_judged_bytes:
            self.book.skipped("too_large")
            return False
        if _event_count(observed) > self.max_judged_events:
            self.book.skipped("too_many_events")
            return False
        try:
            self._queue.put_nowait((observed, on_verdict))
        except queue.Full:
            self.book.skipped("queue_full")
            return False
        return True

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is judged (True), or `timeout` passed (False)."""
        done = threading.Event()
        try:
            self._queue.put((_STOP, done.set), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Judge what is queued (up to `timeout`), then stop the thread. Safe twice."""
        if self._closed:
            return True
        self._closed = True
        if not self._started:
            return True
        drained = self.drain(timeout)
        self._queue.put((_STOP, None))
        self._thread.join(timeout)
        return drained

    def _run(self) -> None:
        while True:
            observed, callback = self._queue.get()
            if observed is _STOP:
                if callback is None:
                    return
                callback()
                continue
            self.judge_now(observed, callback)

    def judge_now(self, observed: Observed, on_verdict: Callback | None = None) -> list[dict[str, Any]] | None:
        """Judge one exchange here and now (the thread's step; also for tests and tools)."""
        try:
            shown = self.book.record(observed, judge(observed, self.settings))
            if on_verdict is not None:
                on_verdict(shown)
            return shown
        except Exception as crashed:  # a checker bug must never reach the server: counted and logged
            self.book.skipped("checker_failed", f"{type(crashed).__name__}: {crashed}")
            log.warning("the passive checker failed on exchange %d: %s", observed.number, type(crashed).__name__)
            return None


def _event_count(observed: Observed) -> int:
    """About how many events a stream's body holds (its blank lines, in any line ending; 0 for a non-stream)."""
    if not observed.headers.get("content-type", "").startswith("text/event-stream"):
        return 0
    body = observed.body
    return body.count(b"\n\n") + body.count(b"\r\n\r\n") + body.count(b"\r\r")


def observed_headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers as the checker reads them (lower-case names; the first of a repeated name)."""
    found: dict[str, str] = {}
    for name, value in headers:
        found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return found
