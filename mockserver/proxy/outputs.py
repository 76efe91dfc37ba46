"""What the passive checker leaves at shutdown: a JSON report (`--report FILE`), a JUnit file (`--junit
FILE`) for CI, and one summary line. The checker's own report writers are reused (`contracts.check.
report`): the same check records, finding records, curls and JUnit test cases, one per per-answer check.
Never a key: the findings' requests are redacted when they are kept (`checking`), and curls read the key
from `$HUMANLOOP_API_KEY`.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.check import report
from contracts.check.checks import CHECKS, CONTRACT, Check
from contracts.check.exchange import Finding
from mockserver.proxy.checking import ViolationBook

SUITE = "humanloop-mock serve (passive checks)"


def per_answer_checks() -> list[Check]:
    """The checks that judge one exchange: the ones the passive checker runs."""
    return [check for check in CHECKS.values() if check.run is not None]


@dataclass(frozen=True)
class RunFacts:
    """What the report says about the run around the checks."""

    mode: str  # "proxy", "replay", "mock"
    target: str  # the upstream's origin, the cassette's path, or the mock's base URL
    seconds: float  # how long the server ran


def _findings(book: ViolationBook, facts: RunFacts) -> list[Finding]:
    findings = book.ordered_findings()
    if facts.mode == "proxy":
        for finding in findings:
            if finding.curl is None and finding.requests:
                finding.curl = report.curl_command(facts.target, finding.requests[0])
    return findings


def report_json(book: ViolationBook, facts: RunFacts) -> dict[str, Any]:
    """The `--report` document: the run, every per-answer check with its counts, and each finding."""
    findings = _findings(book, facts)
    seen = book.to_json()
    return {
        "tool": "humanloop-mock serve",
        "mode": facts.mode,
        "target": facts.target,
        "result": "fail" if findings else "pass",
        "seconds": round(facts.seconds, 3),
        "exchanges": {name: seen[name] for name in ("judged", "passed", "with_violations", "not_judged")},
        "checker_failure": seen["checker_failure"],
        "checks": report.check_records(book.applied, book.failed, findings, per_answer_checks()),
        "violations": [report.finding_record(finding, CONTRACT) for finding in findings],
        "by_check": seen["checks"],
        "api_key": f"not recorded; curls read it from {report.KEY_PLACEHOLDER}",
    }


def _replace(path: str | Path, write: Any) -> None:
    """Write through a temporary file in the same folder, then rename: a reader never sees half a report.

    The rename replaces the file a path names, so the path is followed first: a symbolic link keeps
    pointing where it did, at the new report. Something other than a file there (`/dev/stdout`, a pipe,
    a terminal) is written into directly: renaming over it would replace the device node with a file
    (as root) or fail, and the report would never reach it. The report's mode is what the umask
    gives a new file (0644 at the usual 022), as for any file the server writes."""
    target = Path(os.path.realpath(path))
    try:
        special = not stat.S_ISREG(target.stat().st_mode)
    except OSError:  # nothing there yet (or nothing that can be looked at: the write will say why)
        special = False
    if special:
        write(str(target))
        return
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(str(temporary))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise


def cannot_write(path: str | Path) -> str | None:
    """Why a report could not be written at `path`, found by making (and removing) the temporary file
    `_replace` would; None if it can. `serve` asks at start, so a report whose folder is missing or
    read-only fails the start, not the end of a long run. A pipe or a device is not opened (a pipe
    would wait for its reader)."""
    target = Path(os.path.realpath(path))
    try:
        if not stat.S_ISREG(target.stat().st_mode):
            return None if os.access(target, os.W_OK) else f"{path}: not writable"
    except OSError:
        pass  # nothing there yet
    probe = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(probe, "x"):
            pass
        probe.unlink()
    except OSError as failed:
        return f"{path}: cannot write there: {failed.strerror}"
    return None


def write_report(book: ViolationBook, facts: RunFacts, path: str | Path) -> None:
    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(report_json(book, facts), handle, indent=2, ensure_ascii=False)
            handle.write("\n")

    _replace(path, write)


def write_junit(book: ViolationBook, facts: RunFacts, path: str | Path) -> None:
    """One JUnit test case per per-answer check: failed with its findings, passed, or skipped if it never
    applied (the checker's own JUnit writer)."""
    findings = _findings(book, facts)
    outcome = report.Outcome(facts.target, 0, 1 if findings else 0, findings, dict(book.applied), {}, 0, "", "",
                             book.judged, 0, facts.seconds, facts.mode != "proxy", {"mode": facts.mode},
                             failed=dict(book.failed), fail_on=CONTRACT)
    _replace(path, lambda temporary: report.write_junit(outcome, temporary, suite_name=SUITE,
                                                        checks=per_answer_checks()))


def summary_line(book: ViolationBook) -> str:
    """One line for the shutdown log: how many exchanges were judged and what they broke."""
    seen = book.to_json()
    skipped = sum(seen["not_judged"].values())
    tail = f"; {skipped} not judged ({', '.join(f'{n} {k}' for k, n in seen['not_judged'].items() if n)})" \
        if skipped else ""
    if not seen["checks"]:
        return f"passive checks: {seen['judged']} exchanges judged, no violations{tail}"
    checks = ", ".join(f"{c['check']} x{c['violations']}" for c in seen["checks"])
    return (f"passive checks: {seen['judged']} exchanges judged, {seen['with_violations']} with violations: "
            f"{checks}{tail}")
