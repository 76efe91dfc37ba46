"""What a user drives the checker with: curls that run as printed, --fail-on, --input, --replay, the hints,
and a summary that lists every check."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from contracts.check import CHECKS, CheckOptions, Outcome, run_check
from contracts.check.exchange import Request
from contracts.check.hints import wrong_base_url
from contracts.check.replay import replay_report
from contracts.check.report import curl_command
from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from tests.checker.mutants import KEY as MUTANT_KEY
from tests.checker.mutants import Mutant, mutant_router
from tests.checker.raw_server import RawServer, json_answer
from tests.conftest import spec_with_configs

KEY = "options-key"
ODD_ID = "exp?x [sed] {consequat} 100%"  # needs escaping in a path, and curl must not read it as a pattern


def check(url: str, **options: Any) -> tuple[Outcome, str]:
    out = io.StringIO()
    options.setdefault("max_first_byte", 10.0)  # a busy test machine is not a slow server
    outcome = run_check(CheckOptions(url=url, api_key=KEY, **options), out=out)
    return outcome, out.getvalue()


def test_ids_that_need_escaping_reach_the_mock_and_pass() -> None:
    with BackgroundServer(create_app(MockSettings(seed=4, api_keys=(KEY,)))) as server:
        outcome, printed = check(server.base_url, experiment_ids=(ODD_ID, "sed consequat"), max_examples=2, sdk=False)
    assert outcome.exit_code == 0, printed  # no 405 or 404 from an id put into the URL raw
    assert outcome.coverage["operations"]["GET /experiments/{experiment_id}/model-config"].get("200", 0) >= 2


def _run_curl(curl: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUMANLOOP_API_KEY": KEY}
    return subprocess.run(["bash", "-c", curl + " -o /dev/null"], capture_output=True, text=True, env=env, timeout=30,
                          check=False)


def test_every_curl_runs_as_printed_and_sends_what_the_checker_sent(tmp_path: Path) -> None:
    with RawServer(lambda seen: json_answer(b'{"detail": "boom"}', 500)) as server:
        outcome, printed = check(server.url + "/v4", experiment_ids=(ODD_ID,), max_examples=6, sdk=False,
                                 report=str(tmp_path / "report.json"))  # the official client sends its own bytes
        sent = {(s.method, s.path, s.body, s.headers.get("x-api-key")) for s in server.seen}
        printed_curls = [line.split("curl ", 1)[1] for line in printed.splitlines() if line.startswith("    ")
                         and "curl -sS" in line]
        kept = [Request.from_json(r) for v in json.loads((tmp_path / "report.json").read_text())["violations"]
                for r in v["requests"]]
        curls = ["curl " + c for c in printed_curls] + [curl_command(server.url + "/v4", r) for r in kept]
        server.seen.clear()
        for curl in curls:
            ran = _run_curl(curl)
            assert ran.returncode == 0, (curl, ran.stderr)
        again = list(server.seen)
    assert outcome.exit_code == 1 and len(printed_curls) >= 3 and len(kept) >= 20, printed
    assert any("%3F" in c and "%5B" in c for c in curls) and any("$'" in c for c in curls)  # escapes, raw bytes
    assert len(again) == len(curls)
    for seen in again:  # byte for byte what the checker sent: method, path with its escapes, body, key
        assert (seen.method, seen.path, seen.body, seen.headers.get("x-api-key")) in sent, seen


def _contract_only_mock() -> BackgroundServer:
    """The mock started without --api-key: it takes any key, which breaks no client."""
    return BackgroundServer(create_app(MockSettings(seed=5)))


def test_fail_on_breaks_clients_passes_a_contract_deviation_and_says_so(tmp_path: Path) -> None:
    with _contract_only_mock() as server:
        strict, printed = check(server.base_url, max_examples=2, sdk=False)
        lenient, lenient_printed = check(server.base_url, max_examples=2, sdk=False, fail_on="breaks-clients",
                                         junit=str(tmp_path / "junit.xml"), report=str(tmp_path / "report.json"))
    assert strict.exit_code == 1 and strict.failed_checks == ["auth_required"], printed
    assert "auth_required [contract]: POST /chat-experiment: X-API-KEY" in printed
    assert "hint: the target is humanloop-mock started without --api-key" in printed  # and how to start it
    assert lenient.exit_code == 0 and lenient.failed_checks == ["auth_required"], lenient_printed
    assert "PASS (--fail-on breaks-clients): nothing found breaks the official clients" in lenient_printed
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    severity = cases["auth_required"].find("properties/property[@name='severity']")
    assert severity is not None and severity.get("value") == "contract"
    assert "not failing the run (--fail-on breaks-clients)" in (cases["auth_required"].findtext("system-out") or "")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["fail_on"] == "breaks-clients" and report["violations"][0]["fails_run"] is False
    assert {c["name"]: c["severity"] for c in report["checks"]} == {n: c.severity for n, c in CHECKS.items()}
    # the summary lists every check, with how often it ran and passed
    for name, entry in CHECKS.items():
        assert re.search(rf"^  {name} +{entry.severity} +(\d+ ran +\d+ passed|did not apply)$", printed,
                         re.MULTILINE), name
    assert re.search(r"^  auth_required +contract +2 ran +1 passed$", printed, re.MULTILINE)


def test_input_fills_the_template_and_its_absence_is_hinted() -> None:
    spec = spec_with_configs({"id": "config_topic", "model": "gpt-4o",
                              "chat_template": [{"role": "system", "content": "Talk about {{topic}}."}]},
                             experiment_id="exp_topic")
    with BackgroundServer(create_app(MockSettings(seed=6, api_keys=(KEY,), spec=spec))) as server:
        without, printed = check(server.base_url, experiment_ids=("exp_topic",), max_examples=2, sdk=False)
        given, given_printed = check(server.base_url, experiment_ids=("exp_topic",), max_examples=2,
                                     inputs=(("topic", "the sea"),))
    assert without.exit_code == 1 and "valid_request_accepted" in without.failed_checks, printed
    assert "hint: the experiment's template needs inputs the requests lack: pass --input topic=VALUE" in printed
    assert given.exit_code == 0, given_printed
    assert given.applied["sdk_sync"] == 1 and given.coverage["chat_stream_2xx"] > 0


def test_input_needs_a_name_and_an_equals_sign(tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "mockserver.cli", "check", "http://127.0.0.1:9/v4", "--api-key", "k",
                          "--input", "topic"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert bad.returncode == 2 and "expected NAME=VALUE" in bad.stderr


@pytest.mark.parametrize(("url", "words"), [
    ("http://127.0.0.1:99999/v4", "the port is not a number from 1 to 65535"),  # was a traceback
    ("http://127.0.0.1:abc/v4", "the port is not a number from 1 to 65535"),  # was 22 requests, all "broke"
    ("http://user:secret@127.0.0.1:9/v4", "expected no user:password@"),  # the password was in every curl
    ("http://127.0.0.1:9/v4?x=1", "?query"),  # every request went to /v4?x=1/chat-experiment
    ("http://127.0.0.1:9/v4#frag", "#fragment"),  # every request went to /v4
])
def test_a_base_url_the_paths_cannot_be_appended_to_is_refused(url: str, words: str, tmp_path: Path) -> None:
    bad = subprocess.run([sys.executable, "-m", "mockserver.cli", "check", url, "--api-key", "k"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert bad.returncode == 2 and words in bad.stderr + bad.stdout, (bad.stdout, bad.stderr)
    assert "Traceback" not in bad.stderr and "secret" not in bad.stderr + bad.stdout


def test_replay_resends_only_the_failing_cases_and_says_which_still_fail(tmp_path: Path) -> None:
    broken = Mutant("no-streams", "stream_flag_content_type",
                    rewrite_request=lambda path, headers, body: {**body, "stream": False})
    report = tmp_path / "report.json"
    with BackgroundServer(mutant_router([broken])) as server, \
            BackgroundServer(create_app(MockSettings(seed=1, api_keys=(KEY,)))) as fixed:
        url = f"http://127.0.0.1:{server.port}/m/no-streams/v4"
        out = io.StringIO()
        outcome = run_check(CheckOptions(url=url, api_key=MUTANT_KEY, max_examples=2, report=str(report)), out=out)
        printed = out.getvalue()
        assert outcome.exit_code == 1 and "stream_flag_content_type" in outcome.failed_checks, printed
        kept = sum(len(v["requests"]) for v in json.loads(report.read_text())["violations"])
        still = io.StringIO()
        code = replay_report(str(report), CheckOptions(url="", api_key=MUTANT_KEY), out=still)  # the report's target
        still_out = still.getvalue()
        now = io.StringIO()
        fixed_code = replay_report(str(report), CheckOptions(url=fixed.base_url, api_key=KEY), out=now)
    assert code == 1, still_out
    assert re.search(r"^still fails: stream_flag_content_type \[breaks-clients\]: POST /chat-experiment: "
                     r"Content-Type: ", still_out, re.MULTILINE), still_out
    assert re.search(r"^not replayed: coverage \[breaks-clients\]: .*judged over a whole run", still_out, re.MULTILINE)
    sent = int(re.search(r"requests sent: (\d+)", still_out.splitlines()[-1]).group(1))  # type: ignore[union-attr]
    assert 0 < sent <= kept + 3, (sent, kept)  # the requests behind the violations, not a whole run
    assert fixed_code == 0, now.getvalue()
    assert "passes now: stream_flag_content_type" in now.getvalue()


def test_replay_of_something_that_is_not_a_report_cannot_run(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    out = io.StringIO()
    assert replay_report(str(other), CheckOptions(url="", api_key=KEY), out=out) == 2
    assert "not a report of humanloop-mock check" in out.getvalue()


@pytest.mark.parametrize(("url", "words"), [
    ("http://h:8000/v4/v4", "it has /v4 twice: try http://h:8000/v4"),
    ("http://h:8000", "it has no /v4: upstream and humanloop-mock serve the API under /v4, so try http://h:8000/v4"),
    ("http://h:8000/api/v4", "probably wrong. The contract expects POST http://h:8000/api/v4/chat-experiment"),
])
def test_a_base_url_every_request_gets_404_at_is_named(url: str, words: str) -> None:
    with RawServer(lambda seen: json_answer(b'{"detail": "Not Found"}', 404)) as server:
        outcome, printed = check(server.url + url.removeprefix("http://h:8000"), max_examples=2, sdk=False)
    assert outcome.exit_code == 2 and outcome.cause == "base_url", printed
    assert "every request was answered 404, even malformed ones" in printed
    assert words in (wrong_base_url(url, []) or "") or words.replace("http://h:8000", server.url) in printed


def test_the_per_answer_checks_work_on_one_exchange_alone() -> None:
    """For code that watches traffic it did not send (issue 19): one exchange in, the verdicts out."""
    from contracts.check.judge import judge_answer

    stream = b'data: {"data": [{"id": "d", "index": 0, "output": "Hi", "finish_reason": "stop"}]}\n'
    verdict = judge_answer("POST", "/chat-experiment", b'{"experiment_id": "e", "messages": [], "stream": true}', 200,
                           {"Content-Type": "text/event-stream"}, stream)
    assert {v.check for v in verdict.violations} >= {"stream_framing"} and not verdict.passed
    events = ['{"data": [{"id": "d", "index": 0, "output": "Hi", "raw_output": "Hi", "finish_reason": "stop", '
              '"model_config_id": "c", "output_message": {"role": "assistant", "content": "Hi"}}], '
              '"provider_responses": []}']
    framed = judge_answer("POST", "/chat-experiment", b'{"experiment_id": "e", "messages": [], "stream": true}', 200,
                          {"content-type": "text/event-stream"}, events)
    assert framed.passed and "stream_finish_reason" in framed.applied, framed.violations
    refused = judge_answer("GET", "/experiments/exp%3Fx/model-config", None, 418, {}, b"")
    assert [v.check for v in refused.violations] == ["status_code_documented", "valid_request_accepted"]
    unknown = judge_answer("GET", "/somewhere-else", None, 200, {"content-type": "text/plain"}, b"x")
    assert unknown.passed  # nothing of the contract to judge it by
