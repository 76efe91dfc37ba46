"""The benchmark's own parts: the stream checker catches broken streams, the concurrent client counts
what it read, the npm comparison is skipped with a reason when node is missing, and the in-process cost's
instruction count reads valgrind's figure and leaves start-up out."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks import app_cost, npm_mocks
from benchmarks.concurrent_streams import StreamProblem, check_events, concurrent_streams
from benchmarks.throughput import ratios
from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer

GOOD = (b'data: {"data":[{"id":"data_a","output":"Hel","finish_reason":null}],"usage":null}\n\n'
        b'data: {"data":[{"id":"data_a","output":"lo","finish_reason":"stop"}],"usage":{"total_tokens":3}}\n\n')


def test_check_events_counts_a_good_stream() -> None:
    assert check_events(GOOD) == 2


@pytest.mark.parametrize(("stream", "problem"), [
    (GOOD[:-1], "does not end with a blank line"),
    (GOOD.replace(b"data: ", b"data:", 1), "not one `data: ` line"),
    (GOOD.replace(b'"lo"', b'"lo'), "not JSON"),
    (GOOD.replace(b'"data_a","output":"lo"', b'"data_b","output":"lo"'), "different ids"),
    (GOOD.replace(b'"stop"', b"null"), "no event carries the finish_reason"),
    (GOOD + GOOD[:GOOD.index(b"\n\n") + 2], "finish_reason before the last event"),
])
def test_check_events_refuses_broken_streams(stream: bytes, problem: str) -> None:
    with pytest.raises(StreamProblem, match=problem):
        check_events(stream)


def test_concurrent_client_reads_and_checks_every_stream() -> None:
    with BackgroundServer(create_app(MockSettings())) as server:
        result = concurrent_streams(server.base_url.removesuffix("/v4"), 40, timeout=60)
    assert result["well_formed"] == 40 and result["errors"] == 0
    assert result["peak_in_flight"] == 40  # every request was sent before any answer was read to its end
    assert result["events_checked"] >= 40 * 2


def test_npm_rows_are_skipped_with_a_reason_without_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(npm_mocks.shutil, "which", lambda tool: None if tool == "node" else f"/usr/bin/{tool}")
    assert npm_mocks.missing_reason() == (
        "node is not installed, so Prism and Mockoon are skipped (install Node.js to compare)")
    monkeypatch.setattr(npm_mocks.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(npm_mocks, "UPSTREAM_DOCUMENT", npm_mocks.UPSTREAM_DOCUMENT.with_name("missing.json"))
    assert "is missing, so Prism and Mockoon are skipped" in (npm_mocks.missing_reason() or "")


def test_the_headline_ratio_pairs_each_round_with_its_own_baseline() -> None:
    # The two medians may come from different rounds (here the mock's from round 2, the baseline's from
    # round 3); the headline compares each run with the baseline run next to it in time.
    result = ratios([6_000, 15_000, 17_000], [12_000, 24_000, 18_000])
    assert result["per_round"] == [0.5, 0.625, 0.944]
    assert result["median"] == 0.625
    assert result["of_medians"] == round(15_000 / 18_000, 3)
    assert (result["min"], result["max"]) == (0.5, 0.944)


def test_instruction_count_is_read_from_cachegrind_output() -> None:
    output = ("==14138== Cachegrind, a high-precision tracing profiler\n==14138== \n"
              "==14138== I   refs:      2,942,187,460\n")
    assert app_cost.instructions(output) == 2_942_187_460
    with pytest.raises(RuntimeError, match="no instruction count"):
        app_cost.instructions("valgrind: command not found")


def test_instructions_per_call_leave_start_up_out(monkeypatch: pytest.MonkeyPatch) -> None:
    per_call = {"bare": 100, "json": 250, "sse": 400}
    start_up = 7_000_000  # the same in both runs of a case: it cancels out
    monkeypatch.setattr(app_cost, "_counted", lambda case, calls: start_up + per_call[case] * calls)
    result = app_cost.count(1000)
    assert result["instructions_per_call"] == per_call
    assert result["json_ratio_to_bare"] == 0.4 and result["sse_ratio_to_bare"] == 0.25


@pytest.mark.parametrize("case", app_cost.CASES)
def test_the_counted_loop_answers_every_call(case: str) -> None:
    # `_call` raises on any status but 200: a loop of refused calls would count the wrong work.
    assert asyncio.run(app_cost.only(case, 3)) > 3 * 40
