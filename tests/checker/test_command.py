"""`humanloop-mock check` as people run it: exit codes, what it prints and writes, what it sends."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts.check import CHECKS, CheckOptions, Outcome, run_check
from contracts.check.fuzz import generate_cases
from contracts.check.runner import cases_digest
from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from tests.support.process import serve_process

KEY = "command-key"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache home for every run of the command here (Hypothesis keeps its Unicode tables there)."""
    return tmp_path_factory.mktemp("cache")


def run_command(cwd: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONUNBUFFERED": "1"}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    return subprocess.run([sys.executable, "-m", "mockserver.cli", "check", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def check(url: str, **options: Any) -> tuple[Outcome, str]:
    out = io.StringIO()
    options.setdefault("max_first_byte", 10.0)  # a busy test machine is not a slow server
    outcome = run_check(CheckOptions(url=url, api_key=KEY, **options), out=out)
    return outcome, out.getvalue()


def test_command_passes_the_served_mock_and_writes_only_what_it_is_asked(tmp_path: Path, cache: Path) -> None:
    work = tmp_path
    with serve_process("--api-key", KEY) as url:
        result = run_command(work, cache, url, "--api-key", KEY, "--experiment-id", "exp_demo", "--max-examples", "3",
                             "--seed", "5", "--junit", "junit.xml", "--report", "report.json", "--max-first-byte", "10")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "paid model call upstream" in result.stdout and "PASS" in result.stdout
    assert sorted(p.name for p in work.iterdir()) == ["junit.xml", "report.json"]  # nothing else left behind
    report = json.loads((work / "report.json").read_text())
    assert report["result"] == "pass" and report["exit_code"] == 0 and report["violations"] == []
    assert report["coverage"]["chat_json_2xx"] > 0 and report["coverage"]["chat_stream_2xx"] > 0
    assert report["coverage"]["stream_events"] > report["coverage"]["chat_stream_2xx"]
    # the same seed gives the same cases in another process, installed or not, inside pytest or not
    assert report["cases"]["digest"] == cases_digest(generate_cases(False, 3, 5))
    suite = ET.parse(work / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == str(len(CHECKS)) and suite.get("failures") == "0"
    assert {case.get("name") for case in suite.iter("testcase")} == set(CHECKS)
    for text in (result.stdout, (work / "report.json").read_text(), (work / "junit.xml").read_text()):
        assert KEY not in text


def test_command_exit_codes_against_a_strict_server(tmp_path: Path, cache: Path) -> None:
    with serve_process("--strict", "--api-key", KEY) as url:
        unknown = run_command(tmp_path, cache, url, "--api-key", KEY, "--experiment-id", "exp_unknown",
                              "--max-examples", "1", "--junit", "unknown.xml")
        refused = run_command(tmp_path, cache, url, "--api-key", "not-the-key", "--max-examples", "1")
    assert unknown.returncode == 1, unknown.stdout[-3000:]
    assert re.search(r"coverage \[breaks-clients\]: POST /chat-experiment: JSON answers: chat-experiment was never "
                     r"answered 2xx as JSON .*404", unknown.stdout), unknown.stdout[-3000:]
    assert "never answered 2xx as a stream" in unknown.stdout
    suite = ET.parse(tmp_path / "unknown.xml").getroot().find("testsuite")
    assert suite is not None
    failed = {case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None}
    assert "coverage" in failed and "valid_request_accepted" in failed
    assert refused.returncode == 2, refused.stdout[-3000:]
    assert "refused with 401" in refused.stdout


def test_command_could_not_run(tmp_path: Path, cache: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]  # nothing listens once the socket is closed
    unreachable = run_command(tmp_path, cache, f"http://127.0.0.1:{closed_port}/v4", "--api-key", KEY)
    assert unreachable.returncode == 2 and "cannot connect" in unreachable.stdout, unreachable.stdout
    bad_rate = run_command(tmp_path, cache, "http://127.0.0.1:1/v4", "--api-key", KEY, "--rate-limit", "fast")
    assert bad_rate.returncode == 2 and "--rate-limit" in bad_rate.stderr
    bad_url = run_command(tmp_path, cache, "127.0.0.1:8000", "--api-key", KEY)
    assert bad_url.returncode == 2 and "expected http(s)://" in bad_url.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_same_seed_same_cases_against_fresh_targets() -> None:
    outcomes = []
    for seed in (7, 7, 8):
        with BackgroundServer(create_app(MockSettings(seed=1, api_keys=(KEY,)))) as server:
            outcomes.append(check(server.base_url, max_examples=3, seed=seed, sdk=False)[0])
    first, again, other = outcomes
    assert first.exit_code == again.exit_code == other.exit_code == 0
    assert first.cases_generated == again.cases_generated > 0
    assert first.cases_digest == again.cases_digest and first.requests_digest == again.requests_digest
    assert other.cases_digest != first.cases_digest


class Recorder:
    """Wraps an app; keeps (method, path) of every request, and can hide the mock-only routes."""

    def __init__(self, app: ASGIApp, hide_mock_routes: bool = False) -> None:
        self.app = app
        self.hide = hide_mock_routes
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"]))
            path = scope["path"]
            if self.hide and (path.endswith(("/healthz", "/openapi.json")) or path.startswith("/__admin")):
                await send({"type": "http.response.start", "status": 404,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": b'{"detail": "Not Found"}'})
                return
        await self.app(scope, receive, send)


def test_read_only_by_default_and_mock_routes_never_required() -> None:
    recorder = Recorder(create_app(MockSettings(seed=2, api_keys=(KEY,))), hide_mock_routes=True)
    with BackgroundServer(recorder) as server:  # type: ignore[arg-type]
        outcome, printed = check(server.base_url, experiment_ids=("exp_demo",), max_examples=3, sdk=False)
    assert outcome.exit_code == 0, printed
    assert not outcome.target_is_mock and "determinism_repeatable" not in outcome.applied
    writes = [(m, p) for m, p in recorder.seen if m != "GET" and p != "/v4/chat-experiment"]
    assert writes == []
    assert {m for m, _ in recorder.seen} == {"GET", "POST"}
    assert sum(1 for m, _ in recorder.seen if m == "POST") == outcome.chat_calls


def test_request_budget_is_a_hard_limit() -> None:
    with BackgroundServer(create_app(MockSettings(seed=2, api_keys=(KEY,)))) as server:
        outcome, printed = check(server.base_url, max_examples=3, max_requests=25, sdk=False)
    assert outcome.requests_sent == 25
    assert any("budget exhausted" in note for note in outcome.notes), printed
    # the explicit scenarios come first, so even a cut-short run got real answers both ways
    assert outcome.coverage["chat_json_2xx"] > 0 and outcome.coverage["chat_stream_2xx"] > 0


@pytest.mark.parametrize("allow_writes", [False, True])
def test_generated_cases_stay_off_what_the_user_owns(allow_writes: bool) -> None:
    recorder = Recorder(create_app(MockSettings(seed=2, api_keys=(KEY,))))
    with BackgroundServer(recorder) as server:  # type: ignore[arg-type]
        outcome, printed = check(server.base_url, experiment_ids=("exp_demo",), max_examples=4, sdk=False,
                                 allow_writes=allow_writes)
    assert outcome.exit_code == 0, printed
    touched = [(m, p) for m, p in recorder.seen if m in ("PATCH", "DELETE") and "exp_demo" in p]
    assert touched == []  # the user's experiment is chatted with and sampled, never changed or deleted
