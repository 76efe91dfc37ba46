"""The checker against mutants of the mock: each breaks one rule and must be caught by the check
named for it; the unmodified mock must pass, under three seeds, with real coverage."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from contracts.check import CheckOptions, Outcome, run_check
from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from tests.checker.mutants import KEY, Mutant, all_mutants, mutant_router

MUTANTS = all_mutants()
MAX_EXAMPLES = 2  # generated cases per operation and mode: the scenarios carry most of the weight here


@pytest.fixture(scope="module")
def mutant_server() -> Iterator[str]:
    with BackgroundServer(mutant_router(MUTANTS)) as server:  # type: ignore[arg-type]
        yield f"http://127.0.0.1:{server.port}"


def check(url: str, **options: object) -> tuple[Outcome, str]:
    out = io.StringIO()
    outcome = run_check(CheckOptions(url=url, api_key=KEY, **options), out=out)  # type: ignore[arg-type]
    return outcome, out.getvalue()


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_is_caught_by_name(mutant_server: str, mutant: Mutant) -> None:
    outcome, printed = check(f"{mutant_server}/m/{mutant.name}{mutant.base}", experiment_ids=(mutant.experiment_id,),
                             max_examples=MAX_EXAMPLES, allow_writes=mutant.allow_writes,
                             max_first_byte=mutant.max_first_byte, **mutant.options)
    assert "Traceback" not in printed
    assert [f.violation for f in outcome.findings if f.field == "(check)"] == []  # no check failed to judge
    assert KEY not in printed  # the key is never echoed; curls read it from $HUMANLOOP_API_KEY
    if mutant.caught_by is None:  # innocent: what it does is fine, and the checks named judged it
        assert outcome.exit_code == 0 and outcome.findings == [], printed
    elif mutant.caught_by == "base_url":  # the run cannot go on, and says why
        assert outcome.exit_code == 2 and outcome.cause == "base_url", printed
        assert "base URL is probably wrong (it has /v4 twice" in printed
    else:
        assert outcome.exit_code == 1, printed
        assert mutant.caught_by in outcome.failed_checks, printed
        lines = [line for line in printed.splitlines() if line.startswith(f"  {mutant.caught_by} [")]
        field = lines[0].split(": ")[2]
        assert field, lines  # every violation line names a field
        finding = next(f for f in outcome.findings if f.violation.check == mutant.caught_by)
        if mutant.names_field is not None:
            assert field == finding.field == mutant.names_field, lines
            assert len(lines) == 1, lines  # one cause, one line, however many items or answers showed it
        if mutant.caught_by != "coverage":
            assert finding.curl is not None and finding.curl.startswith("curl "), printed
    for name in mutant.not_flagged:
        assert name not in outcome.failed_checks, printed
    if "content_type_json" in mutant.not_flagged:
        assert outcome.applied["content_type_json"] > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_unmodified_mock_passes_with_real_coverage(seed: int) -> None:
    # seed 2 also ends its streams with `data: [DONE]` (serve --stream-done-event), which clients ignore
    app = create_app(MockSettings(seed=seed, api_keys=(KEY,), stream_done_event=seed == 2))
    with BackgroundServer(app) as server:
        outcome, printed = check(server.base_url, experiment_ids=("exp_demo",), max_examples=4, seed=seed,
                                 allow_writes=seed == 3, max_first_byte=10.0)  # a busy machine is not a slow server
    assert outcome.exit_code == 0, printed
    assert outcome.target_is_mock
    coverage = outcome.coverage
    assert coverage["chat_json_2xx"] >= 6 and coverage["chat_stream_2xx"] >= 2, coverage
    assert coverage["stream_events"] > coverage["chat_stream_2xx"], coverage
    assert coverage["samples"] >= 10, coverage
    for name in ("stream_framing", "stream_finish_reason", "determinism_stream_matches_json", "sdk_stream",
                 "auth_required", "validation_error_shape"):
        assert outcome.applied.get(name, 0) > 0, (name, outcome.applied)
    operations = coverage["operations"]
    succeeded = {op for op, statuses in operations.items() if any(s.startswith("2") for s in statuses)}
    assert succeeded == set(operations), operations  # every operation checked was answered 2xx at least once
    if seed == 3:
        assert outcome.applied["delete_status"] > 0 and outcome.applied["use_after_delete"] == 2
        assert "DELETE /experiments/{experiment_id}" in operations
