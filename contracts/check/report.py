"""What a run tells people: every check with how often it ran and passed, one line per finding (check,
severity, operation, field) with a curl that reproduces it, and the same as a JSON report (which
`--replay` reads back) and a JUnit file for CI. Never the API key."""

from __future__ import annotations

import json
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts.check.checks import BREAKS_CLIENTS, CHECKS, Check, counts_at
from contracts.check.exchange import Finding, Intent, Request
from contracts.check.options import CheckOptions
from contracts.check.scenarios import CHECK_PROJECT
from contracts.check.transport import API_KEY_HEADER, WRONG_KEY

KEY_PLACEHOLDER = "$HUMANLOOP_API_KEY"
MAX_MESSAGE = 300  # characters of a finding's message shown (a target's text can be any length)
MAX_REQUESTS_KEPT = 20  # requests behind one finding kept in the JSON report, for --replay


def _quote_body(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(ch.isprintable() or ch == " " for ch in text):
        return shlex.quote(text)
    # bash ANSI-C quoting keeps control characters and invalid UTF-8 exact
    escaped = "".join(chr(b) if 32 <= b < 127 and chr(b) not in "\\'" else f"\\x{b:02x}" for b in body)
    return f"$'{escaped}'"


def curl_command(base_url: str, request: Request) -> str:
    """A curl that sends exactly this request; the key comes from $HUMANLOOP_API_KEY, never the output."""
    parts = ["curl -sS"]
    url = base_url.rstrip("/") + request.path
    if any(ch in url for ch in "[]{}"):
        parts.append("-g")  # curl would read brackets and braces as a URL pattern
    if request.wants_stream:
        parts.append("-N")
    if request.method != ("POST" if request.body is not None else "GET"):
        parts.append(f"-X {request.method}")
    parts.append(shlex.quote(url))
    if request.intent is Intent.WRONG_KEY:
        parts.append(f"-H {shlex.quote(f'{API_KEY_HEADER}: {WRONG_KEY}')}")
    elif request.intent is not Intent.NO_KEY:
        parts.append(f'-H "{API_KEY_HEADER}: {KEY_PLACEHOLDER}"')
    if request.body is not None:
        parts.append("-H 'Content-Type: application/json'")
        parts.append(f"--data-binary {_quote_body(request.body)}")
    return " ".join(parts)


@dataclass
class Outcome:
    """Everything a run decided, ready to print and write."""

    url: str
    seed: int
    exit_code: int
    findings: list[Finding]
    applied: dict[str, int]
    coverage: dict[str, Any]
    cases_generated: int
    cases_digest: str
    requests_digest: str
    requests_sent: int
    chat_calls: int
    seconds: float
    target_is_mock: bool
    options: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    coverage_lines: list[str] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)  # judgements with a violation, per check
    fail_on: str = "contract"
    cause: str | None = None  # why the run could not run: "options", "unreachable", "key_refused", "base_url"

    @property
    def result(self) -> str:
        return {0: "pass", 1: "fail"}.get(self.exit_code, "error")

    @property
    def failed_checks(self) -> list[str]:
        return list(dict.fromkeys(f.violation.check for f in self.findings))

    @property
    def failing(self) -> list[Finding]:
        """The findings that fail the run under its --fail-on."""
        return [f for f in self.findings if counts_at(f.violation.check, self.fail_on)]

    @classmethod
    def could_not_start(cls, options: CheckOptions, error: str) -> Outcome:
        return cls(options.url, options.seed, 2, [], {}, {}, 0, "", "", 0, 0, 0.0, False, {}, error=error,
                   fail_on=options.fail_on, cause="options")


def exit_code(findings: list[Finding], fail_on: str, error: str | None) -> int:
    """2: could not run; 1: a violation of --fail-on's severity or worse; 0: none."""
    if error is not None:
        return 2
    return 1 if any(counts_at(f.violation.check, fail_on) for f in findings) else 0


def header_lines(options: CheckOptions) -> list[str]:
    rate = options.effective_rate
    scope = ("writes allowed: model configs, experiments and feedback are created, changed and deleted (in project "
             f"{CHECK_PROJECT!r})" if options.allow_writes else
             "read-only: chat-experiment and reads (--allow-writes adds the experiment and model-config routes)")
    default = "" if options.experiment_ids else " (default; pass --experiment-id for a real deployment)"
    inputs = f"; inputs: {', '.join(name for name, _ in options.inputs)}" if options.inputs else ""
    deadline = f"deadline {options.deadline:g} s" if options.deadline is not None else "no deadline"
    return [
        f"humanloop-mock check {options.base_url}",
        f"  seed {options.seed}; experiments: {', '.join(options.experiments)}{default}{inputs}",
        f"  {scope}",
        f"  budget {options.max_requests} requests; rate {f'{rate:g}/s' if rate else 'unlimited (loopback)'}; "
        f"first byte within {options.max_first_byte:g} s; {options.max_examples} generated cases per operation "
        "and mode",
        f"  each answer within {options.timeout:g} s ({options.stream_timeout:g} s for a stream); {deadline}; "
        f"fails on: {options.fail_on} (progress on stderr)",
        "  note: on a real deployment every chat-experiment call makes a paid model call upstream (one per sample)",
    ]


def check_lines(outcome: Outcome) -> list[str]:
    """Every check: its severity, how many answers or steps it judged, and how many of those passed."""
    width = max(len(name) for name in CHECKS)
    lines = [f"checks ({sum(1 for n in CHECKS if outcome.applied.get(n))} of {len(CHECKS)} ran; "
             "ran: answers or steps judged, passed: those without a violation):"]
    for check in CHECKS.values():
        ran = outcome.applied.get(check.name, 0)
        counts = (f"{ran:>5} ran {ran - outcome.failed.get(check.name, 0):>5} passed" if ran else
                  "  did not apply")
        lines.append(f"  {check.name:<{width}}  {check.severity:<14}  {counts}")
    return lines


def result_lines(outcome: Outcome) -> list[str]:
    lines = [f"note: {note}" for note in outcome.notes]
    if outcome.error is None:
        lines += ["coverage:", *outcome.coverage_lines, *check_lines(outcome)]
    if outcome.findings:
        total = sum(f.count for f in outcome.findings)
        lines.append(f"violations ({len(outcome.findings)} distinct, {total} in all; curls read the key from "
                     f"{KEY_PLACEHOLDER}):")
        lines += finding_lines(outcome.findings)
    counts = (f"{outcome.requests_sent} requests, {outcome.chat_calls} chat-experiment calls, "
              f"{outcome.seconds:.1f} s")
    failing = outcome.failing
    breaking = sum(1 for f in outcome.findings if CHECKS[f.violation.check].severity == BREAKS_CLIENTS)
    if outcome.exit_code == 0 and not outcome.findings:
        lines.append(f"PASS: the target honours the contract ({counts})")
    elif outcome.exit_code == 0:
        checks = list(dict.fromkeys(f.violation.check for f in outcome.findings))
        lines.append(f"PASS (--fail-on {outcome.fail_on}): nothing found breaks the official clients; "
                     f"{len(outcome.findings)} distinct deviation(s) from the contract, of {', '.join(checks)} "
                     f"({counts})")
    elif outcome.exit_code == 1:
        checks = list(dict.fromkeys(f.violation.check for f in failing))
        which = (f"{breaking} of them break the official clients" if breaking else
                 "none breaks the official clients: --fail-on breaks-clients would pass")
        lines.append(f"FAIL: {len(failing)} distinct violation(s) of {len(checks)} check(s): {', '.join(checks)}; "
                     f"{which} ({counts})")
    else:
        lines.append(f"ERROR: could not run: {outcome.error} ({counts})")
    return lines


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def finding_lines(findings: list[Finding]) -> list[str]:
    lines = []
    for finding in findings:
        v = finding.violation
        first = f"; first: {v.field}" if finding.count > 1 and v.field != finding.field else ""
        times = f" (x{finding.count}{first})" if finding.count > 1 else ""
        origin = f"  [{finding.origins[0]}]" if finding.origins else ""
        severity = CHECKS[v.check].severity
        lines.append(f"  {v.check} [{severity}]: {v.operation}: {finding.field}: {_clip(v.message)}{times}{origin}")
        if finding.curl:
            lines.append(f"    {'reduced: ' if finding.reduced else ''}{finding.curl}")
        if finding.hint:
            lines.append(f"    hint: {finding.hint}")
    return lines


def check_records(applied: dict[str, int], failed: dict[str, int], findings: list[Finding],
                  checks: Iterable[Check] | None = None) -> list[dict[str, Any]]:
    """Each check as the JSON report lists it: how many answers or steps it judged, passed and faulted."""
    return [{"name": c.name, "severity": c.severity, "summary": c.summary, "ran": applied.get(c.name, 0),
             "passed": applied.get(c.name, 0) - failed.get(c.name, 0),
             "violations": sum(f.count for f in findings if f.violation.check == c.name)}
            for c in (CHECKS.values() if checks is None else checks)]


def finding_record(finding: Finding, fail_on: str) -> dict[str, Any]:
    """One finding as the JSON report keeps it (`--replay` reads its requests back)."""
    f = finding
    return {
        "check": f.violation.check, "severity": CHECKS[f.violation.check].severity,
        "fails_run": counts_at(f.violation.check, fail_on), "operation": f.violation.operation,
        "field": f.field, "first_field": f.violation.field, "message": f.violation.message, "count": f.count,
        "origins": f.origins[:10], "curl": f.curl, "reduced": f.reduced, "hint": f.hint,
        "requests": [r.to_json() for r in f.requests[:MAX_REQUESTS_KEPT]],
    }


def to_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "tool": "humanloop-mock check",
        "target": outcome.url,
        "result": outcome.result,
        "exit_code": outcome.exit_code,
        "fail_on": outcome.fail_on,
        "error": outcome.error,
        "error_cause": outcome.cause,
        "seed": outcome.seed,
        "options": outcome.options,
        "target_is_mock": outcome.target_is_mock,
        "cases": {"generated": outcome.cases_generated, "digest": outcome.cases_digest},
        "requests": {"sent": outcome.requests_sent, "digest": outcome.requests_digest,
                     "chat_calls": outcome.chat_calls},
        "seconds": round(outcome.seconds, 3),
        "coverage": outcome.coverage,
        "checks": check_records(outcome.applied, outcome.failed, outcome.findings),
        "violations": [finding_record(f, outcome.fail_on) for f in outcome.findings],
        "notes": outcome.notes,
        "api_key": f"not recorded; curls read it from {KEY_PLACEHOLDER}",
    }


def write_json(outcome: Outcome, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(to_json(outcome), handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def write_junit(outcome: Outcome, path: str, *, suite_name: str = "humanloop-mock check",
                checks: Iterable[Check] | None = None) -> None:
    """One test case per check (`checks`, default all), with its severity: failed with its findings when
    they fail the run (--fail-on), passed with them listed when they do not, skipped if it never applied."""
    checks = list(CHECKS.values() if checks is None else checks)
    suite = ET.Element("testsuite", name=suite_name, tests=str(len(checks)), time=f"{outcome.seconds:.3f}")
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="fail_on", value=outcome.fail_on)
    failures = skipped = 0
    for check in checks:
        case = ET.SubElement(suite, "testcase", classname="humanloop-mock.check", name=check.name)
        ET.SubElement(ET.SubElement(case, "properties"), "property", name="severity", value=check.severity)
        found = [f for f in outcome.findings if f.violation.check == check.name]
        summary = check.summary
        if found and counts_at(check.name, outcome.fail_on):
            failures += 1
            first = found[0]
            failure = ET.SubElement(case, "failure", type=check.severity, message=(
                f"{sum(f.count for f in found)} violation(s): {first.field}: {_clip(first.violation.message)}"))
            failure.text = "\n".join(finding_lines(found))
        elif found:
            summary += (f"\n{sum(f.count for f in found)} deviation(s), not failing the run (--fail-on "
                        f"{outcome.fail_on}):\n" + "\n".join(finding_lines(found)))
        elif not outcome.applied.get(check.name):
            skipped += 1
            ET.SubElement(case, "skipped", message="did not apply to any exchange of this run")
        ET.SubElement(case, "system-out").text = summary
    if outcome.error:
        case = ET.SubElement(suite, "testcase", classname="humanloop-mock.check", name="run")
        ET.SubElement(case, "error", message=outcome.error, type=outcome.cause or "error")
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "1" if outcome.error else "0")
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
