"""The shutdown outputs of the passive checker: report, JUnit file, summary line."""

from __future__ import annotations

import json
import os
import stat
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from mockserver.proxy.checking import Observed, PassiveChecker
from mockserver.proxy.outputs import (
    RunFacts,
    cannot_write,
    per_answer_checks,
    report_json,
    summary_line,
    write_junit,
    write_report,
)

KEY = "sk-live-0123456789abcdef"
REQUEST = json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hi"}],
                      "provider_api_keys": {"openai": "sk-provider-secret-99"}}).encode()
FACTS = RunFacts("proxy", "http://127.0.0.1:9000/v4", 12.5)


def _checker() -> PassiveChecker:
    checker = PassiveChecker()
    checker.judge_now(Observed(1, "POST", "/chat-experiment", REQUEST, 500, {"content-type": "application/json"},
                               b'{"detail": "boom"}', api_key=KEY))
    checker.judge_now(Observed(2, "POST", "/chat-experiment", REQUEST, 500, {"content-type": "application/json"},
                               b'{"detail": "boom again"}', api_key=KEY))
    return checker


def test_report_names_each_violation_with_a_curl_and_no_key(tmp_path: Path) -> None:
    checker = _checker()
    path = tmp_path / "report.json"
    write_report(checker.book, FACTS, path)
    text = path.read_text()
    document = json.loads(text)
    assert document["result"] == "fail" and document["mode"] == "proxy" and document["seconds"] == 12.5
    assert document["exchanges"]["judged"] == 2 and document["exchanges"]["with_violations"] == 2
    found = {v["check"]: v for v in document["violations"]}
    assert found["not_a_server_error"]["count"] == 2
    assert found["not_a_server_error"]["curl"].startswith("curl -sS http://127.0.0.1:9000/v4/chat-experiment")
    assert '-H "X-API-KEY: $HUMANLOOP_API_KEY"' in found["not_a_server_error"]["curl"]
    checks = {c["name"]: c for c in document["checks"]}
    assert set(checks) == {c.name for c in per_answer_checks()}
    assert checks["not_a_server_error"] == {**checks["not_a_server_error"], "ran": 2, "passed": 0, "violations": 2}
    assert "coverage" not in checks  # run-level checks cannot apply to one exchange
    assert KEY not in text and "sk-provider-secret-99" not in text
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_junit_has_one_case_per_check_and_fails_the_broken_ones(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(_checker().book, FACTS, path)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "humanloop-mock serve (passive checks)"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {c.name for c in per_answer_checks()}
    failure = cases["not_a_server_error"].find("failure")
    assert failure is not None and "2 violation(s)" in (failure.get("message") or "")
    assert cases["status_code_documented"].find("failure") is None
    assert int(suite.get("failures") or 0) >= 1 and KEY not in path.read_text()


def test_a_clean_run_passes_everywhere(tmp_path: Path, client: TestClient) -> None:
    good = client.post("/v4/chat-experiment", content=REQUEST, headers={"X-API-KEY": KEY})
    checker = PassiveChecker()
    assert checker.judge_now(Observed(1, "POST", "/chat-experiment", REQUEST, good.status_code,
                                      dict(good.headers), good.content, api_key=KEY)) == []
    document = report_json(checker.book, FACTS)
    assert document["result"] == "pass" and document["violations"] == []
    write_junit(checker.book, FACTS, tmp_path / "j.xml")
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert summary_line(checker.book) == "passive checks: 1 exchanges judged, no violations"


def test_summary_line_names_checks_and_what_was_not_judged() -> None:
    checker = _checker()
    checker.book.skipped("queue_full")
    line = summary_line(checker.book)
    assert line.startswith("passive checks: 2 exchanges judged, 2 with violations: ")
    assert "not_a_server_error x2" in line and line.endswith("; 1 not judged (1 queue_full)")


def test_a_curl_keeps_the_query_it_was_sent_with_and_no_key_in_it(tmp_path: Path) -> None:
    """The request behind a finding is re-sent as it was, its query included (provider keys in it replaced):
    without the query, the curl would ask the upstream something else."""
    checker = PassiveChecker()
    checker.judge_now(Observed(1, "GET", "/experiments/exp_demo/model-config", None, 500,
                               {"content-type": "application/json"}, b'{"detail": "boom"}', api_key=KEY,
                               query=b"verbose=1&openai_api_key=sk-provider-secret-99&tag=a%20b"))
    path = tmp_path / "report.json"
    write_report(checker.book, FACTS, path)
    text = path.read_text()
    curl = {v["check"]: v for v in json.loads(text)["violations"]}["not_a_server_error"]["curl"]
    assert "/v4/experiments/exp_demo/model-config?verbose=1&openai_api_key=" in curl and "tag=a%20b" in curl
    assert "sk-provider-secret-99" not in text and KEY not in text


def test_a_key_sent_again_in_the_query_under_another_name_is_not_in_the_curl(tmp_path: Path) -> None:
    """The query of a finding's request is scrubbed of every key the request carried, whatever the parameter
    is called, as is or percent-encoded; `;` separates parameters as `&` does."""
    cases = [(f"state={KEY}", "?state=[redacted]"), ("trace=sk-provider-secret-99", "?trace=[redacted]"),
             ("trace=sk%2Dprovider%2Dsecret%2D99", "?trace=[redacted]"),
             ("a=1;api_key=sk-other-secret-0123456789", "?a=1;api_key=[redacted]")]
    for number, (query, shown) in enumerate(cases):
        checker = PassiveChecker()
        checker.judge_now(Observed(1, "POST", "/chat-experiment", REQUEST, 500, {"content-type": "application/json"},
                                   b'{"detail": "boom"}', api_key=KEY, query=query.encode()))
        path = tmp_path / f"report-{number}.json"
        write_report(checker.book, FACTS, path)
        text = path.read_text()
        curl = {v["check"]: v for v in json.loads(text)["violations"]}["not_a_server_error"]["curl"]
        assert shown in curl, (query, curl)
        for secret in (KEY, "sk-provider-secret-99", "sk%2Dprovider%2Dsecret%2D99", "sk-other-secret-0123456789"):
            assert secret not in text, (query, secret)


def test_a_report_reaches_a_pipe_or_a_linked_file_and_gets_the_usual_mode(tmp_path: Path) -> None:
    """`--report /dev/stdout`-like targets. Before, the report was written to a temporary file and renamed
    over the path: a pipe (or, as root, a device node such as /dev/stdout's) was replaced by a plain file,
    so its reader got nothing; a symbolic link was replaced by a file; and the report was mode 0600."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    write_report(_checker().book, FACTS, pipe)
    reader.join(5)
    if reader.is_alive():  # (the old code left the reader waiting: open the pipe once to release it)
        with open(pipe, "wb"):
            pass
        reader.join(5)
    assert pipe.is_fifo()
    assert json.loads(received[0])["exchanges"]["judged"] == 2

    real = tmp_path / "reports" / "junit.xml"
    real.parent.mkdir()
    link = tmp_path / "junit.xml"
    link.symlink_to(real)
    write_junit(_checker().book, FACTS, link)
    assert link.is_symlink() and ET.parse(real).getroot().tag == "testsuites"

    previous = os.umask(0o022)
    try:
        write_report(_checker().book, FACTS, tmp_path / "report.json")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml", "pipe", "report.json", "reports"]


def test_a_report_that_cannot_be_written_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        write_report(_checker().book, FACTS, tmp_path / "taken")  # a folder where the report should go
    with pytest.raises(OSError):
        write_report(_checker().book, FACTS, tmp_path / "missing" / "report.json")
    assert [p.name for p in tmp_path.iterdir()] == ["taken"] and not list((tmp_path / "taken").iterdir())


def test_whether_a_report_can_be_written_is_asked_without_leaving_anything(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    assert cannot_write(tmp_path / "report.json") is None
    assert cannot_write(pipe) is None  # (not opened: that would wait for a reader)
    assert "No such file or directory" in (cannot_write(tmp_path / "missing" / "r.json") or "")
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]
