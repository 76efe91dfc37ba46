"""What a run tells people: one line per finding (check, operation, field) with a curl that
reproduces it, and the same as a JSON report and a JUnit file for CI. Never the API key."""

from __future__ import annotations

import json
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from contracts.check.checks import CHECKS
from contracts.check.exchange import Finding, Intent, Request
from contracts.check.options import CheckOptions
from contracts.check.scenarios import CHECK_PROJECT
from contracts.check.transport import API_KEY_HEADER, WRONG_KEY

KEY_PLACEHOLDER = "$HUMANLOOP_API_KEY"


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
    if request.wants_stream:
        parts.append("-N")
    if request.method != ("POST" if request.body is not None else "GET"):
        parts.append(f"-X {request.method}")
    parts.append(shlex.quote(base_url.rstrip("/") + request.path))
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

    @property
    def result(self) -> str:
        return {0: "pass", 1: "fail"}.get(self.exit_code, "error")

    @property
    def failed_checks(self) -> list[str]:
        return list(dict.fromkeys(f.violation.check for f in self.findings))

    @classmethod
    def could_not_start(cls, options: CheckOptions, error: str) -> Outcome:
        return cls(options.url, options.seed, 2, [], {}, {}, 0, "", "", 0, 0, 0.0, False, {}, error=error)


def header_lines(options: CheckOptions) -> list[str]:
    rate = options.effective_rate
    scope = ("writes allowed: model configs, experiments and feedback are created, changed and deleted (in project "
             f"{CHECK_PROJECT!r})" if options.allow_writes else
             "read-only: chat-experiment and reads (--allow-writes adds the experiment and model-config routes)")
    default = "" if options.experiment_ids else " (default; pass --experiment-id for a real deployment)"
    return [
        f"humanloop-mock check {options.base_url}",
        f"  seed {options.seed}; experiments: {', '.join(options.experiments)}{default}",
        f"  {scope}",
        f"  budget {options.max_requests} requests; rate {f'{rate:g}/s' if rate else 'unlimited (loopback)'}; "
        f"first byte within {options.max_first_byte:g} s; {options.max_examples} generated cases per operation "
        "and mode",
        "  note: on a real deployment every chat-experiment call makes a paid model call upstream (one per sample)",
    ]


def result_lines(outcome: Outcome) -> list[str]:
    lines = [f"note: {note}" for note in outcome.notes]
    if outcome.error is None:
        lines += ["coverage:", *outcome.coverage_lines]
        idle = [name for name in CHECKS if not outcome.applied.get(name)]
        lines.append(f"checks: {len(CHECKS) - len(idle)} of {len(CHECKS)} applied"
                     + (f" (did not apply: {', '.join(idle)})" if idle else ""))
    if outcome.findings:
        total = sum(f.count for f in outcome.findings)
        lines.append(f"violations ({len(outcome.findings)} distinct, {total} in all; curls read the key from "
                     f"{KEY_PLACEHOLDER}):")
        lines += finding_lines(outcome.findings)
    counts = (f"{outcome.requests_sent} requests, {outcome.chat_calls} chat-experiment calls, "
              f"{outcome.seconds:.1f} s")
    if outcome.exit_code == 0:
        lines.append(f"PASS: the target honours the contract ({counts})")
    elif outcome.exit_code == 1:
        lines.append(f"FAIL: {len(outcome.findings)} distinct violation(s) of {len(outcome.failed_checks)} "
                     f"check(s): {', '.join(outcome.failed_checks)} ({counts})")
    else:
        lines.append(f"ERROR: could not run: {outcome.error} ({counts})")
    return lines


def finding_lines(findings: list[Finding]) -> list[str]:
    lines = []
    for finding in findings:
        v = finding.violation
        times = f" (x{finding.count})" if finding.count > 1 else ""
        origin = f"  [{finding.origins[0]}]" if finding.origins else ""
        lines.append(f"  {v.check}: {v.operation}: {v.field}: {v.message}{times}{origin}")
        if finding.curl:
            lines.append(f"    {'reduced: ' if finding.reduced else ''}{finding.curl}")
    return lines


def to_json(outcome: Outcome) -> dict[str, Any]:
    return {
        "tool": "humanloop-mock check",
        "target": outcome.url,
        "result": outcome.result,
        "exit_code": outcome.exit_code,
        "error": outcome.error,
        "seed": outcome.seed,
        "options": outcome.options,
        "target_is_mock": outcome.target_is_mock,
        "cases": {"generated": outcome.cases_generated, "digest": outcome.cases_digest},
        "requests": {"sent": outcome.requests_sent, "digest": outcome.requests_digest,
                     "chat_calls": outcome.chat_calls},
        "seconds": round(outcome.seconds, 3),
        "coverage": outcome.coverage,
        "checks": [{"name": c.name, "summary": c.summary, "applied": outcome.applied.get(c.name, 0),
                    "violations": sum(f.count for f in outcome.findings if f.violation.check == c.name)}
                   for c in CHECKS.values()],
        "violations": [{
            "check": f.violation.check, "operation": f.violation.operation, "field": f.violation.field,
            "message": f.violation.message, "count": f.count, "origins": f.origins[:10], "curl": f.curl,
            "reduced": f.reduced,
        } for f in outcome.findings],
        "notes": outcome.notes,
        "api_key": f"not recorded; curls read it from {KEY_PLACEHOLDER}",
    }


def write_json(outcome: Outcome, path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(to_json(outcome), handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def write_junit(outcome: Outcome, path: str) -> None:
    """One test case per check: failed with its findings, skipped if it never applied."""
    suite = ET.Element("testsuite", name="humanloop-mock check", tests=str(len(CHECKS)),
                       time=f"{outcome.seconds:.3f}")
    failures = skipped = 0
    for check in CHECKS.values():
        case = ET.SubElement(suite, "testcase", classname="humanloop-mock.check", name=check.name)
        found = [f for f in outcome.findings if f.violation.check == check.name]
        if found:
            failures += 1
            first = found[0].violation
            failure = ET.SubElement(case, "failure", message=f"{sum(f.count for f in found)} violation(s): "
                                                              f"{first.field}: {first.message}")
            failure.text = "\n".join(finding_lines(found))
        elif not outcome.applied.get(check.name):
            skipped += 1
            ET.SubElement(case, "skipped", message="did not apply to any exchange of this run")
        ET.SubElement(case, "system-out").text = check.summary
    if outcome.error:
        case = ET.SubElement(suite, "testcase", classname="humanloop-mock.check", name="run")
        ET.SubElement(case, "error", message=outcome.error)
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "1" if outcome.error else "0")
    root = ET.Element("testsuites")
    root.append(suite)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
