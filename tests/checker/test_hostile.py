"""The checker against targets nobody here wrote: whatever they send, a verdict and named checks, in time.

In-process, Hypothesis feeds every per-answer check any status, headers and body (JSON of the right
shape with anything anywhere, any JSON, streams framed any way, bytes). Over loopback, a raw server
sends whole answers however broken (resets, early ends, drips, endless bodies, compression, redirects)
and the whole command runs against it. The issue's named cases each get their own run, and a target
that stops answering or drips ends within the promised time with the defaults, showing progress.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.check import CHECKS, CheckOptions, Outcome, run_check, scenarios
from contracts.check.fuzz import generate_cases
from contracts.check.judge import judge_answer
from contracts.check.session import KEPT_BODY_BYTES, Session
from tests.checker.hostile import bodies, content_types, frame, good_answers, statuses, wire_answers
from tests.checker.raw_server import (
    CLOSE,
    FOREVER,
    RESET,
    Answer,
    Pause,
    RawServer,
    Repeat,
    Seen,
    json_answer,
    stream_answer,
)

KEY = "hostile-key"
FAST = {"timeout": 0.5, "stream_timeout": 1.0, "deadline": 20.0, "max_examples": 1, "max_first_byte": 5.0}
STOP_CAUSES = {"unreachable", "key_refused", "base_url"}
SILENT = Answer(head=b"", parts=(Pause(3600),))  # not a byte back

chat_requests = st.fixed_dictionaries({"experiment_id": st.just("exp_demo"), "messages": st.just([])}, optional={
    "stream": st.booleans(), "num_samples": st.integers(0, 4) | st.text(max_size=2),
    "response_format": st.sampled_from([{"type": "json_object"}, {"type": "text"}, "json_object"]),
})
paths = st.sampled_from([("POST", "/chat-experiment"), ("GET", "/experiments/exp_demo/model-config"),
                         ("GET", "/projects/pr_x/experiments"), ("DELETE", "/experiments/e"),
                         ("POST", "/model-configs"), ("GET", "/not-a-route")])


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(route=paths, request=chat_requests | st.binary(max_size=20).map(lambda b: {"raw": b.hex()}),
       status=statuses | st.just(0), content_type=content_types, body=bodies(), has_key=st.booleans(),
       first_byte=st.floats(0, 5))
def test_every_check_judges_any_answer_without_crashing(route: tuple[str, str], request: dict[str, Any], status: int,
                                                        content_type: str, body: bytes, has_key: bool,
                                                        first_byte: float) -> None:
    method, path = route
    sent = json.dumps(request).encode() if method != "GET" else None
    verdict = judge_answer(method, path, sent, status, {"content-type": content_type}, body, has_key=has_key,
                           first_byte_seconds=first_byte, error="reset" if status == 0 else None)
    assert all(v.check in CHECKS for v in verdict.violations)
    crashed = [v for v in verdict.violations if v.field == "(check)"]
    assert crashed == [], crashed  # the safety net exists, but no check should need it
    assert "response_received" in verdict.applied


def test_the_answers_of_the_issue_get_named_violations_not_crashes() -> None:
    answer, events = good_answers()
    forty_two = {**answer, "data": [{**answer["data"][0], "output": 42}, *answer["data"][1:]]}
    request = json.dumps({"experiment_id": "e", "messages": [], "response_format": {"type": "json_object"}}).encode()
    verdict = judge_answer("POST", "/chat-experiment", request, 200, {"content-type": "application/json"},
                           json.dumps(forty_two).encode())
    assert {(v.check, v.field) for v in verdict.violations} >= {("response_schema", "data[0].output")}
    assert "json_mode_output" in verdict.applied and not any(v.field == "(check)" for v in verdict.violations)
    streamed = [{**e, "data": [{**e["data"][0], "output": 42}]} for e in events[:3]]
    verdict = judge_answer("POST", "/chat-experiment", json.dumps({**json.loads(request), "stream": True}).encode(),
                           200, {"content-type": "text/event-stream"}, [json.dumps(e) for e in streamed])
    assert "json_mode_output" in verdict.applied and not any(v.field == "(check)" for v in verdict.violations)
    # an error answer in application/problem+json is what the clients handle: not a content_type_json matter
    for status in (401, 404, 409, 429):
        verdict = judge_answer("POST", "/chat-experiment", request, status,
                               {"content-type": "application/problem+json"}, b'{"title": "no"}')
        assert "content_type_json" not in verdict.applied, status
    verdict = judge_answer("POST", "/chat-experiment", request, 422, {"content-type": "application/problem+json"},
                           b'{"detail": []}')
    assert [v.field for v in verdict.violations if v.check == "content_type_json"] == ["Content-Type"]


@pytest.fixture(scope="module", autouse=True)
def drawn_cases() -> None:
    """The checker draws its generated cases with Hypothesis; draw them (cached per process) before any
    test here runs under Hypothesis itself, which does not nest."""
    generate_cases(False, FAST["max_examples"], 0)
    generate_cases(False, 20, 0)


def run(url: str, **options: Any) -> tuple[Outcome, str, float]:
    out = io.StringIO()
    started = time.monotonic()
    outcome = run_check(CheckOptions(url=url, api_key=KEY, **{**FAST, **options}), out=out)
    return outcome, out.getvalue(), time.monotonic() - started


def assert_verdict(outcome: Outcome, printed: str, seconds: float, deadline: float) -> None:
    """What every run against any target must end with."""
    assert outcome.exit_code in (0, 1, 2), printed
    assert "Traceback" not in printed
    assert all(f.violation.check in CHECKS for f in outcome.findings)
    assert [f.violation for f in outcome.findings if f.field == "(check)"] == [], printed
    assert outcome.exit_code != 2 or outcome.cause in STOP_CAUSES, printed
    assert seconds < deadline + 15, (seconds, printed[-2000:])  # the deadline, then the verdict (and shrinking)
    assert re.search(r"^(PASS|FAIL|ERROR)", printed.splitlines()[-1]), printed[-500:]


@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(answers=st.lists(wire_answers(), min_size=1, max_size=3))
def test_a_hostile_target_gets_a_verdict_within_its_deadline(answers: list[Answer]) -> None:
    count = iter(range(10**9))
    with RawServer(lambda seen: answers[next(count) % len(answers)]) as server:
        outcome, printed, seconds = run(server.url + "/v4", deadline=10.0)
    assert_verdict(outcome, printed, seconds, 10.0)


def chat_only(answer: Answer) -> Callable[[Seen], Answer]:
    """This answer to every chat request; 404 to the rest (the mock-only probes among them)."""
    return lambda seen: answer if seen.path.endswith("/chat-experiment") else json_answer(b'{"detail": "x"}', 404)


def _good_json() -> bytes:
    return json.dumps(good_answers()[0]).encode()


def _events() -> bytes:
    return frame(good_answers()[1])


NAMED_CASES: dict[str, tuple[Callable[[], Answer], str, str, dict[str, Any]]] = {
    # case: (the answer to every chat request, the check that must name it, words of its message, options)
    "any status": (lambda: json_answer(b'{"detail": "teapot"}', 599), "not_a_server_error", "599", {}),
    "not JSON": (lambda: json_answer(b"<html>oops</html>"), "content_type_json", "not JSON", {}),
    "invalid UTF-8": (lambda: json_answer(b'{"data": "\xff\xfe"}'), "content_type_json", "not JSON", {}),
    "empty body": (lambda: json_answer(b""), "content_type_json", "not JSON", {}),
    "ends early": (lambda: Answer(200, (("Content-Type", "application/json"), ("Content-Length", "9999")),
                                  (_good_json()[:50], CLOSE)), "response_received", "broke", {}),
    "expands past the limit": (lambda: Answer(200, (("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
                                              (gzip.compress(b"0" * (8 * 1024 * 1024), mtime=0),)),
                               "response_received", "expands past", {"max_answer_bytes": 1024 * 1024}),
    "redirect, same host": (lambda: Answer(307, (("Location", "/v4/elsewhere"),)), "status_code_documented",
                            "redirects to '/v4/elsewhere' (not followed)", {}),
    "reset mid-stream": (lambda: Answer(200, (("Content-Type", "text/event-stream"),), (_events()[:300], RESET),
                                        content_length=False), "response_received", "broke", {}),
    "endless stream": (lambda: Answer(200, (("Content-Type", "text/event-stream"), ("Connection", "close")),
                                      (Repeat(_events()[:_events().index(b"\n\n") + 2], FOREVER),), False),
                       "response_received", "past 100 events", {"max_stream_events": 100}),
    "endless stream, lone CR line ends": (lambda: Answer(
        200, (("Content-Type", "text/event-stream"), ("Connection", "close")),
        (Repeat(b'data: {"data": []}\r\r', FOREVER),), False), "response_received", "past 100 events",
        {"max_stream_events": 100}),
    "slow drip": (lambda: Answer(200, (("Content-Type", "application/json"), ("Connection", "close")),
                                 (Repeat(b" ", FOREVER, 0.2),), False), "response_received", "no whole answer", {}),
    "one huge event": (lambda: stream_answer(frame([{**good_answers()[1][0], "pad": "x" * (600 * 1024)}])),
                       "event_line_size", "bytes", {}),
    # one name repeated: merged into one header by the client library, but 120 lines to the Python client
    "120 repeated header lines": (lambda: Answer(200, (("Content-Type", "application/json"),
                                                       *(("Set-Cookie", f"n{n}=1") for n in range(120))),
                                                 (_good_json(),)), "header_limits", "122 header lines", {}),
    "a header value of 10 KiB": (lambda: Answer(200, (("Content-Type", "application/json"), ("X-Trace", "t" * 10240)),
                                                (_good_json(),)), "header_limits", "a header line of 10249 bytes", {}),
    # over 8,190 bytes as a line, not as a value: aiohttp's Python parser refuses it, its C parser does not
    "a header line of 8,191 bytes": (lambda: Answer(200, (("Content-Type", "application/json"),
                                                          ("X-Trace", "t" * 8182)), (_good_json(),)),
                                     "header_limits", "a header line of 8191 bytes", {}),
}


@pytest.mark.parametrize("case", list(NAMED_CASES))
def test_each_named_hostile_answer_is_a_named_violation(case: str) -> None:
    make, check, words, options = NAMED_CASES[case]
    with RawServer(chat_only(make())) as server:
        outcome, printed, seconds = run(server.url + "/v4", **options)
    assert_verdict(outcome, printed, seconds, FAST["deadline"])
    assert outcome.exit_code == 1, printed
    messages = [f.violation.message for f in outcome.findings if f.violation.check == check]
    assert any(words in message for message in messages), (check, words, printed[-3000:])


def test_redirects_to_another_host_are_not_followed() -> None:
    with RawServer(lambda seen: json_answer(_good_json())) as elsewhere:
        moved = Answer(308, (("Location", elsewhere.url + "/v4/chat-experiment"),))
        with RawServer(chat_only(moved)) as server:
            outcome, printed, seconds = run(server.url + "/v4")
        assert elsewhere.seen == []  # nothing, not even the key, went to the other host
    assert_verdict(outcome, printed, seconds, FAST["deadline"])
    assert "status_code_documented" in outcome.failed_checks and "not followed" in printed


@pytest.mark.parametrize("status", [204, 304])
def test_a_body_after_a_status_that_has_none_is_not_blamed_on_the_next_request(status: int) -> None:
    """HTTP gives a 204 or 304 no body, so bytes sent after one stay on the connection; read as the
    next request's answer they once gave that request an `illegal status line` it never caused."""
    def respond(seen: Seen) -> Answer:
        if seen.path.endswith("/chat-experiment"):
            return Answer(status, (("Content-Type", "application/json"),), (_good_json(),))  # Content-Length too
        return json_answer(b'{"detail": "x"}', 404)

    with RawServer(respond) as server:
        outcome, printed, seconds = run(server.url + "/v4", sdk=False)
    assert_verdict(outcome, printed, seconds, FAST["deadline"])
    assert "response_received" not in outcome.failed_checks, printed
    assert outcome.failed["status_code_documented"] >= 10, printed  # each chat answer judged as what it was


def test_a_run_keeps_only_the_head_of_each_big_answer_after_judging_all_of_it() -> None:
    """A 4 KiB gzip that expands to 4 MiB, as every answer: the run's memory once grew by the whole of
    each (a default run against 32 MiB answers held gigabytes). The checks still see every byte."""
    line = b"data: " + json.dumps({**good_answers()[1][0], "pad": "x" * (600 * 1024)}).encode() + b"\n\n"
    big = gzip.compress(line + b": pad\n" * (4 * 1024 * 1024 // 6), mtime=0)
    answer = Answer(200, (("Content-Type", "text/event-stream"), ("Content-Encoding", "gzip")), (big,))
    with RawServer(lambda seen: answer) as server:
        session = Session.open(CheckOptions(url=server.url + "/v4", api_key=KEY, **FAST))
        try:
            returned = [session.send(scenarios.chat_scenarios("exp_demo", {})[2]) for _ in range(5)]
        finally:
            session.transport.close()
    assert all(len(r.response.body) > 4 * 1024 * 1024 for r in returned if r.response)  # the caller gets it all
    assert session.failed["event_line_size"] == 5  # judged on the whole: the long line is past what is kept
    kept = [len(e.response.body) for e in session.exchanges if e.response]
    assert len(kept) == 5 and max(kept) <= KEPT_BODY_BYTES, kept


def test_a_delete_answered_204_with_a_body_is_named() -> None:
    """The body of a 204 never reaches the checker (HTTP reads none), but its headers announce it."""
    for headers in ({"content-length": "17"}, {"transfer-encoding": "chunked"}):
        verdict = judge_answer("DELETE", "/experiments/exp_x", None, 204, headers, b"")
        assert [(v.check, v.field) for v in verdict.violations] == [("delete_status", "(body)")], headers
    assert judge_answer("DELETE", "/experiments/exp_x", None, 204, {"content-length": "0"}, b"").violations == []
    assert judge_answer("DELETE", "/experiments/exp_x", None, 204, {}, b"").violations == []


def test_an_experiment_created_with_an_empty_id_is_never_renamed_or_deleted() -> None:
    """With --allow-writes the checker renames and deletes only what it created; a target saying it
    created `""` once got `PATCH` and `DELETE /v4/experiments/`, the collection, not an experiment."""
    def respond(seen: Seen) -> Answer:
        if seen.path.endswith("/model-configs"):
            return json_answer(b'{"project_id": "pr_x", "config": {"id": "cfg"}}')
        if seen.method == "POST" and seen.path.endswith("/experiments"):
            return json_answer(b'{"id": "", "name": "n", "project_id": "pr_x", "configs": []}')
        return chat_only(json_answer(_good_json()))(seen)

    with RawServer(respond) as server:
        outcome, printed, seconds = run(server.url + "/v4", allow_writes=True, max_examples=3, sdk=False)
    assert_verdict(outcome, printed, seconds, FAST["deadline"])
    assert sum(1 for seen in server.seen if seen.method == "POST" and seen.path.endswith("/experiments")) >= 2
    assert [seen.path for seen in server.seen if seen.path.rstrip("/").endswith("/experiments")
            and seen.method in ("PATCH", "DELETE")] == []
    assert "write scenarios stopped: creating an experiment failed" in outcome.notes, printed


def test_a_target_that_hangs_on_some_requests_is_not_called_unresponsive() -> None:
    """Prism's way, and worse: it never answers a body it cannot read (here: no `messages`, or a
    `num_samples` that is not a positive integer, which three scenarios in a row send), and answers
    everything else."""
    answer, _ = good_answers()

    def respond(seen: Seen) -> Answer:
        body = seen.json()
        readable = isinstance(body, dict) and "messages" in body and isinstance(body.get("num_samples", 1), int) \
            and body.get("num_samples", 1) > 0
        if seen.method == "POST" and not readable:
            return SILENT  # never, as far as the checker is concerned
        return json_answer(json.dumps(answer).encode()) if "chat" in seen.path else json_answer(b"{}", 404)

    with RawServer(respond) as server:
        # 1 s a request: long enough that a loaded CI machine still answers the re-sent request in time
        # (0.3 s once did not), short enough that three silent ones in a row cost little
        outcome, printed, seconds = run(server.url + "/v4", timeout=1.0, sdk=False)
    assert_verdict(outcome, printed, seconds, FAST["deadline"])
    assert "target_unresponsive" not in outcome.failed_checks, printed
    assert outcome.applied.get("target_unresponsive", 0) >= 1  # three in a row were seen, and the target was tried
    assert "but the target still answers others" in printed
    assert "response_received" in outcome.failed_checks


def test_the_deadline_ends_a_slow_run_with_what_was_seen() -> None:
    """Every answer takes 0.3 s: a 4 s deadline stops the run mid-way, and the request it cut short
    is nobody's fault, so it is not a violation."""
    answer = good_answers()[0]

    def slow(seen: Seen) -> Answer:
        body = json.dumps(answer).encode() if "chat" in seen.path else b'{"detail": "x"}'
        return Answer(200 if "chat" in seen.path else 404, (("Content-Type", "application/json"),), (Pause(0.3), body))

    with RawServer(slow) as server:
        outcome, printed, seconds = run(server.url + "/v4", deadline=4.0, timeout=2.0, sdk=False)
    assert_verdict(outcome, printed, seconds, 4.0)
    assert seconds < 4.0 + 3, seconds
    assert any(note.startswith("deadline reached (--deadline 4 s) during ") for note in outcome.notes), printed
    assert "response_received" not in outcome.failed_checks, printed


def _cli(url: str, cache: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONUNBUFFERED": "1", "HUMANLOOP_API_KEY": KEY}
    return subprocess.Popen([sys.executable, "-m", "mockserver.cli", "check", url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_with_the_defaults_a_dead_or_dripping_target_ends_within_two_minutes_showing_progress(tmp_path: Path) -> None:
    """Both run at once, as users run the command: defaults, report on stdout, progress on stderr."""
    drip = Answer(200, (("Content-Type", "text/event-stream"), ("Connection", "close")), (Repeat(b"d", FOREVER, 1.0),),
                  content_length=False)
    with RawServer(lambda seen: SILENT) as dead, RawServer(lambda seen: drip) as dripping:
        started = time.monotonic()
        runs = {name: _cli(server.url + "/v4", tmp_path) for name, server in (("dead", dead), ("drip", dripping))}
        results = {name: process.communicate(timeout=180) for name, process in runs.items()}
        seconds = time.monotonic() - started
    assert seconds < 120, seconds
    for name, (stdout, stderr) in results.items():
        assert runs[name].returncode == 1, (name, stdout, stderr)
        assert "target_unresponsive [breaks-clients]" in stdout, (name, stdout)
        assert "[check " not in stdout and "Traceback" not in stderr  # progress only on stderr
        stamps = [float(m) for m in re.findall(r"^\[check\s+([\d.]+) s\] ", stderr, re.MULTILINE)]
        assert len(stamps) >= 5, stderr
        gaps = [b - a for a, b in pairwise([0.0, *stamps])]
        assert max(gaps) < 5 + 2, (name, gaps)  # a line at least every few seconds, however long a request waits
        assert re.search(r"\] scenarios: \d+ requests? sent, \d+ violations? so far", stderr), stderr
