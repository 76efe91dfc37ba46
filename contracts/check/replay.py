"""`humanloop-mock check --replay REPORT.json`: re-send only the requests behind a report's violations
and say, for each violation, whether it still fails, passes now, or can only be judged by a whole run.

The report keeps every violation's requests (never the key); they are sent again through the same
transport and judged by the same checks, one after the other until one still fails it, so a fix can
be tried in seconds instead of a whole run.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from typing import Any, TextIO

from contracts.check import sdk
from contracts.check.checks import CHECKS, SDK_ASYNC, SDK_STREAM, SDK_SYNC, counts_at
from contracts.check.exchange import Request, field_pattern
from contracts.check.options import CheckOptions, OptionError
from contracts.check.progress import Progress
from contracts.check.report import curl_command
from contracts.check.session import Session, TargetUnresponsive
from contracts.check.transport import BudgetExhausted, DeadlineReached, Unreachable

SDK_CHECKS = frozenset({SDK_SYNC, SDK_ASYNC, SDK_STREAM})
STILL, PASSES, NOT_REPLAYED = "still fails", "passes now", "not replayed"


def _violations(path: str) -> tuple[str, list[dict[str, Any]]]:
    with open(path, encoding="utf-8") as handle:
        report = json.load(handle)
    if not isinstance(report, dict) or not isinstance(report.get("violations"), list):
        raise ValueError("not a report of humanloop-mock check (no `violations` list)")
    return str(report.get("target") or ""), [v for v in report["violations"] if isinstance(v, dict)]


def _experiment_of(request: Request) -> str | None:
    body = request.json
    value = body.get("experiment_id") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def replay_one(session: Session, violation: dict[str, Any]) -> tuple[str, str, Request | None]:
    """(verdict, message, the request that still fails it) for one violation of a report."""
    check = str(violation.get("check"))
    operation, field = str(violation.get("operation")), str(violation.get("field"))
    if check not in CHECKS:
        return NOT_REPLAYED, f"no check is called {check!r}", None
    requests = [Request.from_json(r) for r in violation.get("requests") or [] if isinstance(r, dict)]
    if not requests or (CHECKS[check].run is None and check not in SDK_CHECKS):
        return NOT_REPLAYED, "judged over a whole run (or no request was kept): run the check again", None
    before = len(session.violations)
    if check in SDK_CHECKS:
        sdk.check_sdk(session, _experiment_of(requests[0]) or session.options.experiments[0], only=frozenset({check}))
        found = [v for v in session.violations[before:] if v.check == check]
        return (STILL, found[0].message, requests[0]) if found else (PASSES, "the client call works now", None)
    for request in requests:  # until one of them still fails it
        session.send(request)
        same = [v for v in session.violations[before:] if v.check == check and v.operation == operation
                and field_pattern(v.field) == field]
        if same:
            return STILL, same[0].message, request
        before = len(session.violations)
    return PASSES, f"none of its {len(requests)} request(s) fails it now", None


def replay_report(path: str, options: CheckOptions, out: TextIO | None = None, progress: TextIO | None = None) -> int:
    """Replay the report at `path` against `options.url` (default: the report's target); the exit code."""
    stream = out if out is not None else sys.stdout

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    started = time.perf_counter()
    try:
        target, violations = _violations(path)
        options = replace(options, url=options.url or target).validated()
    except (OSError, ValueError, OptionError) as bad:
        say(f"error: --replay {path}: {bad}")
        return 2
    say(f"humanloop-mock check --replay {path} against {options.base_url}")
    session = Session.open(options)
    kept = sum(len(v.get("requests") or []) for v in violations)
    say(f"  {len(violations)} violation(s) in the report; up to {kept} request(s) behind them are sent again")
    verdicts: list[tuple[str, bool]] = []
    error: str | None = None
    progress_stream = progress if progress is not None else (sys.stderr if out is None else None)
    with Progress(progress_stream, options.progress_every,
                  lambda: (session.transport.sent, len(session.violations))) as ticker:
        session.progress = ticker
        ticker.phase("replaying")
        for violation in violations:
            check = str(violation.get("check"))
            try:
                verdict, message, request = replay_one(session, violation)
            except (ValueError, TypeError) as bad:
                verdict, message, request = NOT_REPLAYED, f"its record cannot be read: {bad}", None
            except (BudgetExhausted, DeadlineReached, TargetUnresponsive) as stop:
                error = f"replay cut short: {type(stop).__name__}"
                break
            except Unreachable as failed:
                error = str(failed)
                break
            severity = CHECKS[check].severity if check in CHECKS else "?"
            say(f"{verdict}: {check} [{severity}]: {violation.get('operation')}: {violation.get('field')}: {message}")
            if request is not None:
                say(f"    {curl_command(options.base_url, request)}")
            verdicts.append((verdict, check in CHECKS and counts_at(check, options.fail_on)))
    session.transport.close()
    still = [fails for verdict, fails in verdicts if verdict == STILL]
    counts = f"requests sent: {session.transport.sent}, {time.perf_counter() - started:.1f} s"
    summary = (f"{len(still)} of {len(violations)} violation(s) still fail, "
               f"{sum(1 for v, _ in verdicts if v == PASSES)} pass now, "
               f"{sum(1 for v, _ in verdicts if v == NOT_REPLAYED)} not replayed alone ({counts})")
    if error is not None:
        say(f"ERROR: {error}; {summary}")
        return 2
    say(f"REPLAY: {summary}")
    return 1 if any(still) else 0
