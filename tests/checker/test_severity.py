"""Every check's severity is what the official clients do with answers that fail it (tests/checker/client_evidence.py).

The clients are run here, against answers served over loopback: Python humanloop 0.7.32 (sync, async,
stream) and npm humanloop 0.5.36 (JSON, stream, experiments). Needs node and npm (CI has them).
"""

from __future__ import annotations

from contracts.check.checks import CHECKS
from tests.checker.client_evidence import MODES, derived_severities, gather, table
from tests.support.npm import npm_client


def test_severities_are_what_the_official_clients_do() -> None:
    evidence = gather(npm_client())
    shown = "\n".join(table(evidence))
    for item in evidence:
        assert [o.client for o in item.outcomes] == list(MODES[item.witness.mode]), shown  # every client ran
        if item.witness.fails:
            assert item.flagged in (True, None), (item.witness, shown)  # the witness fails the check it is for
        else:  # an answer the check must let pass: it does, and no client minds it
            assert item.flagged is False and item.broken == [], (item.witness, shown)
    derived = derived_severities(evidence)
    assert set(derived) == set(CHECKS), set(CHECKS) ^ set(derived)  # every check has evidence
    declared = {name: check.severity for name, check in CHECKS.items()}
    assert derived == declared, {n: (declared[n], derived[n]) for n in CHECKS if declared[n] != derived[n]}
    # the cases the issue names: a JSON answer labelled anything but JSON breaks the async client, while
    # a 401 in application/problem+json breaks none
    by_name = {item.witness.name: item for item in evidence}
    assert "python-async" in by_name["a JSON answer labelled application/problem+json"].broken
    assert by_name["a 401 as application/problem+json"].broken == []
    # aiohttp's two parsers draw the header-line limit apart: the Python one (where the C extension is not
    # installed) refuses a line over 8,190 bytes whose value is under it; the C one reads it
    assert by_name["a header line of 8,191 bytes (a value of 8,182)"].broken == ["python-async-py"]
