"""One `humanloop-mock check` run: scenarios first, then the profiles, then fuzzing; then the verdict.

Order matters. The explicit scenarios prove the target can answer at all (JSON and streamed) before
anything random is sent; a key every request is refused with stops the run (exit 2) instead of
fuzzing 401s; coverage is judged last, so a run that got no real answers fails and says why.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections import Counter
from typing import Any, TextIO

from contracts.check import determinism, scenarios, sdk
from contracts.check.checks import CHECKS, SDK_ASYNC, SDK_STREAM, SDK_SYNC
from contracts.check.coverage import coverage_lines, judge_coverage, measure
from contracts.check.exchange import Exchange, Finding, Intent, Violation
from contracts.check.fuzz import GeneratedCase, generate_cases, to_request
from contracts.check.lifecycle import run_read_scenarios, run_write_scenarios, success_body
from contracts.check.operations import (
    CHAT,
    CREATE_EXPERIMENT,
    TRANSIENT,
    checked_operations,
    label,
)
from contracts.check.options import CheckOptions, OptionError
from contracts.check.reduce import reduce_request
from contracts.check.report import Outcome, curl_command, header_lines, result_lines, write_json, write_junit
from contracts.check.session import Session
from contracts.check.transport import BudgetExhausted, Unreachable

MAX_REDUCED = 5  # findings whose generated request is shrunk (each try is a real, possibly paid, request)


class CouldNotRun(Exception):
    """The run cannot say anything about the contract (exit 2)."""


# ---- phases ----------------------------------------------------------------------------------------

def run_chat_scenarios(session: Session) -> None:
    experiments = session.options.experiments
    for request in scenarios.auth_scenarios(experiments[0]):
        session.send(request)
    for experiment_id in experiments:
        for request in scenarios.chat_scenarios(experiment_id):
            exchange = session.send(request)
            body = success_body(exchange)
            if session.known.project_id is None and isinstance(body, dict) and isinstance(body.get("project_id"), str):
                session.known.project_id = body["project_id"]
        if _key_refused(session):
            raise CouldNotRun("every request with the given --api-key was refused with 401; check the key")


def _key_refused(session: Session) -> bool:
    keyed = [e for e in session.exchanges if e.request.intent not in (Intent.NO_KEY, Intent.WRONG_KEY)
             and e.response is not None and e.response.status]
    return bool(keyed) and all(e.response is not None and e.response.status == 401 for e in keyed)


def run_fuzz(session: Session, cases: tuple[GeneratedCase, ...], created: list[str]) -> int:
    sent = 0
    for case in cases:
        exchange = session.send(to_request(case, session.known))
        sent += 1
        body = success_body(exchange)
        if case.operation == CREATE_EXPERIMENT and isinstance(body, dict) and isinstance(body.get("id"), str):
            created.append(body["id"])
    return sent


def clean_up(session: Session, created: list[str]) -> None:
    for experiment_id in dict.fromkeys(created):
        session.send(scenarios.delete_experiment_request(experiment_id, "cleanup: delete the check's experiment"))


# ---- verdict ---------------------------------------------------------------------------------------

def group(violations: list[Violation], exchanges: list[Exchange]) -> list[Finding]:
    findings: dict[tuple[str, str, str], Finding] = {}
    for violation in violations:
        origin = exchanges[violation.exchange - 1].request.origin if violation.exchange else (
            violation.request.origin if violation.request else "run")
        if violation.key in findings:
            findings[violation.key].count += 1
            if origin not in findings[violation.key].origins:
                findings[violation.key].origins.append(origin)
        else:
            findings[violation.key] = Finding(violation, origins=[origin])
    return list(findings.values())


def add_reproductions(session: Session, findings: list[Finding]) -> None:
    reduced = 0
    for finding in findings:
        violation = finding.violation
        request = (session.exchanges[violation.exchange - 1].request if violation.exchange else violation.request)
        if request is None:
            continue
        if (request.origin.startswith("fuzz") and CHECKS[violation.check].run is not None
                and reduced < MAX_REDUCED and session.transport.remaining > 0):
            reduced += 1
            smaller = reduce_request(session, request, violation)
            if smaller is not None:
                finding.reduced = smaller.body != request.body
                request = smaller
        finding.curl = curl_command(session.options.base_url, request)


def _digest(parts: list[Any]) -> str:
    text = "\n".join(json.dumps(p, sort_keys=True, ensure_ascii=True, default=repr) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def cases_digest(cases: tuple[GeneratedCase, ...]) -> str:
    return _digest([[c.operation, c.mode, c.path_parameters, c.body if not isinstance(c.body, bytes) else
                     c.body.hex()] for c in cases])


def _requests_digest(exchanges: list[Exchange]) -> str:
    return _digest([[e.request.method, e.request.path, (e.request.body or b"").hex()] for e in exchanges])


def _public_options(options: CheckOptions) -> dict[str, Any]:
    return {"experiment_ids": list(options.experiments), "max_examples": options.max_examples,
            "seed": options.seed, "allow_writes": options.allow_writes, "rate_limit": options.effective_rate,
            "max_requests": options.max_requests, "max_first_byte": options.max_first_byte,
            "timeout": options.timeout}


def run_check(options: CheckOptions, out: TextIO | None = None) -> Outcome:
    """Run every phase against `options.url`, print as it goes, write the reports asked for."""
    stream = out if out is not None else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=stream, flush=True)

    started = time.perf_counter()
    try:
        options = options.validated()
    except OptionError as bad:
        say(f"error: {bad}")
        return Outcome.could_not_start(options, str(bad))
    for line in header_lines(options):
        say(line)
    session = Session.open(options)
    cases: tuple[GeneratedCase, ...] = ()
    error: str | None = None
    created: list[str] = []
    try:
        session.target_is_mock = determinism.is_mock(session)
        if session.target_is_mock:
            say("  the target answers like humanloop-mock: its determinism invariants are checked too")
        run_chat_scenarios(session)
        run_read_scenarios(session)
        if options.allow_writes:
            created = run_write_scenarios(session)
        say(f"scenarios: {len(session.exchanges)} requests")
        if options.sdk:
            sdk.check_sdk(session, options.experiments[0])
        if session.target_is_mock:
            determinism.check_determinism(session, options.experiments[0])
        cases = generate_cases(options.allow_writes, options.max_examples, options.seed)
        fuzzed = run_fuzz(session, cases, created)
        say(f"fuzzing: {fuzzed} generated cases sent (seed {options.seed}, cases digest {cases_digest(cases)})")
    except BudgetExhausted:
        session.note(f"request budget exhausted (--max-requests {options.max_requests}): the rest was not sent")
    except (Unreachable, CouldNotRun) as failed:
        error = str(failed)
    try:
        if created and error is None:
            clean_up(session, created)
    except BudgetExhausted:
        session.note(f"cleanup cut short by the request budget; delete these experiments: {', '.join(created)}")
    transient = Counter(e.response.status for e in session.exchanges if e.response and e.response.status in TRANSIENT)
    for status, count in sorted(transient.items()):
        session.note(f"the target answered {status} x{count} (not counted as violations); "
                     "a lower --rate-limit may help")
    coverage = measure(session.exchanges, [label(op) for op in checked_operations(options.allow_writes)])
    findings: list[Finding] = []
    if error is None:
        judge_coverage(session, coverage)
        findings = group(session.violations, session.exchanges)
        add_reproductions(session, findings)
    session.transport.close()
    outcome = Outcome(
        url=options.base_url, seed=options.seed, exit_code=2 if error else (1 if findings else 0),
        findings=findings, applied=dict(session.applied), coverage=coverage.to_json(),
        coverage_lines=coverage_lines(coverage), cases_generated=len(cases), cases_digest=cases_digest(cases),
        requests_digest=_requests_digest(session.exchanges), requests_sent=session.transport.sent,
        chat_calls=_chat_calls(session), seconds=time.perf_counter() - started,
        target_is_mock=session.target_is_mock, options=_public_options(options), notes=session.notes, error=error,
    )
    for line in result_lines(outcome):
        say(line)
    if options.report:
        write_json(outcome, options.report)
    if options.junit:
        write_junit(outcome, options.junit)
    return outcome


def _chat_calls(session: Session) -> int:
    sdk_calls = sum(session.applied.get(name, 0) for name in (SDK_SYNC, SDK_ASYNC, SDK_STREAM))
    return sum(1 for e in session.exchanges if e.request.operation == CHAT) + sdk_calls
