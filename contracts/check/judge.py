"""The per-answer checks on one exchange seen anywhere: no run, no session, no Schemathesis.

For code that watches traffic it did not send (a recording proxy, a test double): give it the
request as it went out and the answer as it came back, get the violations of every per-answer
check, judged exactly as `humanloop-mock check` judges its own requests.

    from contracts.check.judge import judge_answer
    verdict = judge_answer("POST", "/chat-experiment", request_body, 200,
                           {"content-type": "text/event-stream"}, stream_bytes)
    for violation in verdict.violations: print(violation.check, violation.field, violation.message)

A request the contract forbids is judged as invalid (it must get a 4xx); any other as a valid
request whose answer may also be a documented 404/409 about the server's state; a request without
`X-API-KEY` (`has_key=False`) must get 401. A route the contract does not have (the mock's own
`/healthz`, `/__admin`, anything else) is only judged on whether a whole answer came back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from contracts.check.checks import CHECKS, Settings, response_checks
from contracts.check.exchange import Exchange, Intent, Request, Response, Violation
from contracts.check.operations import find_operation, operation_for, request_errors


@dataclass(frozen=True)
class Verdict:
    violations: list[Violation]
    applied: list[str]  # the checks that judged this exchange (passed unless named in `violations`)

    @property
    def passed(self) -> bool:
        return not self.violations


def observed_request(method: str, path: str, body: bytes | None, *, has_key: bool = True,
                     origin: str = "observed") -> Request:
    """A request someone else sent, as the checker's record; `path` is below the base URL."""
    name = operation_for(method, path) or f"{method.upper()} {path.split('?', 1)[0]}"
    op = find_operation(name)
    if not has_key:
        intent = Intent.NO_KEY
    elif op is not None and op.request is not None and request_errors(op.request, body):
        intent = Intent.INVALID
    else:
        intent = Intent.VALID_FUZZ
    return Request(method.upper(), path, name, origin, intent, body)


def stream_bytes(events: Sequence[str | bytes]) -> bytes:
    """Event payloads (each event's `data`) framed as the contract frames them."""
    return b"".join(b"data: " + (e if isinstance(e, bytes) else e.encode("utf-8")) + b"\n\n" for e in events)


def judge_answer(method: str, path: str, request_body: bytes | None, status: int, headers: Mapping[str, str],
                 body: bytes | Sequence[str | bytes], *, has_key: bool = True, first_byte_seconds: float = 0.0,
                 total_seconds: float = 0.0, error: str | None = None,
                 settings: Settings | None = None) -> Verdict:
    """Every per-answer check on one exchange. `body` is the answer's bytes as received, or, for a
    stream, its events' payloads (then framing is taken as correct: pass the bytes to judge it).
    `status` 0 with an `error` is an exchange that broke. Never raises for what the answer holds."""
    request = observed_request(method, path, request_body, has_key=has_key)
    raw = body if isinstance(body, bytes | bytearray) else stream_bytes(body)
    response = Response(status, {k.lower(): v for k, v in headers.items()}, bytes(raw), first_byte_seconds,
                        total_seconds, error)
    exchange = Exchange(0, request, response)
    if find_operation(request.operation) is None:
        problems = CHECKS["response_received"].run(exchange, settings or Settings())  # type: ignore[misc]
        return Verdict([Violation("response_received", request.operation, field, message, 0)
                        for field, message in problems or []], ["response_received"])
    violations, applied = response_checks(exchange, settings or Settings())
    return Verdict(violations, applied)
