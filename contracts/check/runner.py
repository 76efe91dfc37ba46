"""One `humanloop-mock check` run: scenarios first, then the profiles, then fuzzing; then the verdict.

Order matters. The explicit scenarios prove the target can answer at all (JSON and streamed) before
anything random is sent; a key every request is refused with, or a base URL every request gets 404
at, stops the run (exit 2) instead of fuzzing them; coverage is judged last, so a run that got no
real answers fails and says why. The run is bounded: by the request budget, the deadline, and a
target that stops answering (`target_unresponsive`), each of which ends it with what was found.
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
from contracts.check.exchange import Exchange, Finding, Intent, Request, Violation
from contracts.check.fuzz import GeneratedCase, generate_cases, to_request
from contracts.check.hints import add_hints, key_refused, wrong_base_url
from contracts.check.lifecycle import created_id, run_read_scenarios, run_write_scenarios, success_body
from contracts.check.operations import (
    CHAT,
    CREATE_EXPERIMENT,
    TRANSIENT,
    checked_operations,
    label,
)
from contracts.check.options import CheckOptions, OptionError
from contracts.check.progress import Progress
from contracts.check.reduce import reduce_request
from contracts.check.report import (
    Outcome,
    curl_command,
    exit_code,
    header_lines,
    result_lines,
    write_json,
    write_junit,
)
from contracts.check.session import Session, TargetUnresponsive
from contracts.check.transport import BudgetExhausted, DeadlineReached, Unreachable

MAX_REDUCED = 5  # findings whose generated request is shrunk (each try is a real, possibly paid, request)


class CouldNotRun(Exception):
    """The run cannot say anything about the contract (exit 2); `cause` names why."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


# ---- phases ----------------------------------------------------------------------------------------

def run_chat_scenarios(session: Session) -> None:
    experiments, inputs = session.options.experiments, session.options.input_values
    for request in scenarios.auth_scenarios(experiments[0], inputs):
        session.send(request)
    for experiment_id in experiments:
        for request in scenarios.chat_scenarios(experiment_id, inputs):
            exchange = session.send(request)
            body = success_body(exchange)
            if session.known.project_id is None and isinstance(body, dict) and isinstance(body.get("project_id"), str):
                session.known.project_id = body["project_id"]
        if key_refused(session.exchanges):
            raise CouldNotRun("every request with the given --api-key was refused with 401; check the key",
                              "key_refused")
        wrong = wrong_base_url(session.options.base_url, session.exchanges)
        if wrong is not None:
            raise CouldNotRun(wrong, "base_url")


def run_fuzz(session: Session, cases: tuple[GeneratedCase, ...], created: list[str]) -> int:
    sent = 0
    for case in cases:
        exchange = session.send(to_request(case, session.known))
        sent += 1
        body = success_body(exchange)
        if case.operation == CREATE_EXPERIMENT and (own := created_id(body)) is not None:
            created.append(own)
    return sent


def clean_up(session: Session, created: list[str]) -> None:
    for experiment_id in dict.fromkeys(created):
        session.send(scenarios.delete_experiment_request(experiment_id, "cleanup: delete the check's experiment"))


# ---- verdict ---------------------------------------------------------------------------------------

def _request_of(violation: Violation, exchanges: list[Exchange]) -> Request | None:
    return exchanges[violation.exchange - 1].request if violation.exchange else violation.request


def _keyless(request: Request | None) -> bool:
    return request is not None and request.intent in (Intent.NO_KEY, Intent.WRONG_KEY)


def group(violations: list[Violation], exchanges: list[Exchange]) -> list[Finding]:
    """One finding per (check, operation, field pattern), with the distinct requests behind it. Its
    example (and curl) is the first violation, or the first one sent with the key if there is one."""
    findings: dict[tuple[str, str, str], Finding] = {}
    for violation in violations:
        request = _request_of(violation, exchanges)
        origin = request.origin if request is not None else "run"
        finding = findings.get(violation.key)
        if finding is None:
            finding = findings[violation.key] = Finding(violation, count=0)
        elif _keyless(_request_of(finding.violation, exchanges)) and request is not None and not _keyless(request):
            finding.violation = violation
            finding.origins.insert(0, finding.origins.pop(finding.origins.index(origin))
                                   if origin in finding.origins else origin)
            finding.requests.insert(0, request)
        finding.count += 1
        if origin not in finding.origins:
            finding.origins.append(origin)
        if request is not None and request not in finding.requests:
            finding.requests.append(request)
    return list(findings.values())


def add_reproductions(session: Session, findings: list[Finding]) -> None:
    reduced = 0
    for finding in findings:
        violation = finding.violation
        request = _request_of(violation, session.exchanges)
        if request is None:
            continue
        answer = session.exchanges[violation.exchange - 1].response if violation.exchange else None
        if (request.origin.startswith("fuzz") and CHECKS[violation.check].run is not None
                and reduced < MAX_REDUCED and session.transport.remaining > 0
                and not (answer is not None and answer.timed_out)):  # a hang is not worth ten more
            reduced += 1
            session.phase(f"shrinking {violation.check}")
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
    return {"experiment_ids": list(options.experiments), "inputs": [name for name, _ in options.inputs],
            "max_examples": options.max_examples, "seed": options.seed, "allow_writes": options.allow_writes,
            "rate_limit": options.effective_rate, "max_requests": options.max_requests,
            "max_first_byte": options.max_first_byte, "timeout": options.timeout,
            "stream_timeout": options.stream_timeout, "deadline": options.deadline,
            "max_answer_bytes": options.max_answer_bytes, "max_stream_events": options.max_stream_events,
            "fail_on": options.fail_on}


def _phases(session: Session, created: list[str]) -> tuple[GeneratedCase, ...]:
    """Everything the run sends, in order; returns the generated cases."""
    options = session.options
    session.phase("probing for humanloop-mock")
    session.target_is_mock = determinism.is_mock(session)
    session.phase("scenarios")
    run_chat_scenarios(session)
    run_read_scenarios(session)
    if options.allow_writes:
        session.phase("write scenarios")
        created.extend(run_write_scenarios(session))
    if options.sdk:
        session.phase("official client")
        sdk.check_sdk(session, options.experiments[0])
    if session.target_is_mock:
        session.phase("determinism")
        determinism.check_determinism(session, options.experiments[0])
    session.phase("generating cases")
    cases = generate_cases(options.allow_writes, options.max_examples, options.seed)
    session.phase(f"fuzzing {len(cases)} cases")
    run_fuzz(session, cases, created)
    return cases


def run_check(options: CheckOptions, out: TextIO | None = None, progress: TextIO | None = None) -> Outcome:
    """Run every phase against `options.url`, print the report to `out` (stdout) and progress lines to
    `progress` (stderr; None: none when `out` is given, for callers that only want the report), and
    write the reports asked for."""
    stream = out if out is not None else sys.stdout
    progress_stream = progress if progress is not None else (sys.stderr if out is None else None)

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
    cause: str | None = None
    created: list[str] = []
    stopped = False
    with Progress(progress_stream, options.progress_every,
                  lambda: (session.transport.sent, len(session.violations))) as ticker:
        session.progress = ticker
        try:
            cases = _phases(session, created)
            say(f"scenarios, profiles and {len(cases)} generated cases sent (seed {options.seed}, cases digest "
                f"{cases_digest(cases)})")
        except BudgetExhausted:
            session.note(f"request budget exhausted (--max-requests {options.max_requests}) during "
                         f"{ticker.current}: the rest was not sent")
        except DeadlineReached:
            session.note(f"deadline reached (--deadline {options.deadline:g} s) during {ticker.current}: "
                         "the rest was not sent")
        except TargetUnresponsive:
            stopped = True
            session.note(f"the target stopped answering during {ticker.current}: the run stopped there")
        except Unreachable as failed:
            error, cause = str(failed), "unreachable"
        except CouldNotRun as failed:
            error, cause = str(failed), failed.cause
        try:
            if created and error is None and not stopped:
                ticker.phase("cleanup")
                clean_up(session, created)
        except (BudgetExhausted, DeadlineReached, TargetUnresponsive):
            session.note(f"cleanup cut short; delete these experiments: {', '.join(created)}")
        ticker.phase("verdict")
        transient = Counter(e.response.status for e in session.exchanges
                            if e.response and e.response.status in TRANSIENT)
        for status, count in sorted(transient.items()):
            session.note(f"the target answered {status} x{count} (not counted as violations); "
                         "a lower --rate-limit may help")
        coverage = measure(session.exchanges, [label(op) for op in checked_operations(options.allow_writes)])
        findings: list[Finding] = []
        if error is None:
            if not stopped:
                judge_coverage(session, coverage)
            findings = group(session.violations, session.exchanges)
            add_hints(findings, session.exchanges, session.target_is_mock)
            try:
                add_reproductions(session, findings)
            except (BudgetExhausted, DeadlineReached):
                for finding in findings:  # every finding still gets its curl, unshrunk
                    request = _request_of(finding.violation, session.exchanges)
                    if finding.curl is None and request is not None:
                        finding.curl = curl_command(options.base_url, request)
    session.transport.close()
    outcome = Outcome(
        url=options.base_url, seed=options.seed, exit_code=exit_code(findings, options.fail_on, error),
        findings=findings, applied=dict(session.applied), coverage=coverage.to_json(),
        coverage_lines=coverage_lines(coverage), cases_generated=len(cases), cases_digest=cases_digest(cases),
        requests_digest=_requests_digest(session.exchanges), requests_sent=session.transport.sent,
        chat_calls=_chat_calls(session), seconds=time.perf_counter() - started,
        target_is_mock=session.target_is_mock, options=_public_options(options), notes=session.notes, error=error,
        failed=dict(session.failed), fail_on=options.fail_on, cause=cause,
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
