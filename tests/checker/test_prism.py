"""The checker against Prism, a mock server nobody here wrote, mocking upstream's own document.

Prism 5.16.0 (npm `@stoplight/prism-cli`, pinned in benchmarks/npm_mocks.py, installed by .ci/run)
serves `v4-openapi-2024-08-05.json` as it is. The command runs against it as a user runs it, with
every default: it must end well within its deadline, showing progress, and name exactly Prism's real
deviations, each of which a curl shows (docs/contract.md, "Against Prism"), and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path

from benchmarks.npm_mocks import UPSTREAM_DOCUMENT
from tests.support.npm import prism

# (check, operation, field) -> what Prism does
DEVIATIONS = {
    ("stream_flag_content_type", "POST /chat-experiment", "Content-Type"): "cannot stream: stream: true gets JSON",
    ("coverage", "POST /chat-experiment", "stream answers"): "cannot stream: no stream was ever checked",
    ("sdk_stream", "POST /chat-experiment", "(stream)"): "cannot stream: the Python stream client yields nothing",
    ("auth_required", "POST /chat-experiment", "X-API-KEY"): "ignores the key: any key is taken",
    ("sample_indexes", "POST /chat-experiment", "data[].index"): "ignores num_samples: always one sample",
    ("invalid_request_rejected", "POST /chat-experiment", "status"): "does not validate bodies: 200 to any",
    ("response_received", "POST /chat-experiment", "connection"): "never answers a body that is not JSON",
    ("finish_reason_value", "POST /chat-experiment", "data[*].finish_reason"): "answers the placeholder 'string'",
    ("valid_request_accepted", "GET /experiments/{experiment_id}/model-config", "status"):
        "no experiment routes: its document (2024-08-05) has none",
    ("valid_request_accepted", "GET /projects/{project_id}/experiments", "status"):
        "no experiment routes: its document (2024-08-05) has none",
}
PROMISED_SECONDS = 180  # with the defaults, a run against Prism ends within 3 minutes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"prism exited: {log.read_text()[-2000:]}")
        if "Prism is listening" in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"prism did not start: {log.read_text()[-2000:]}")


def test_prism_gets_exactly_its_real_deviations_within_the_deadline(tmp_path: Path) -> None:
    binary = prism()
    assert UPSTREAM_DOCUMENT.is_file(), UPSTREAM_DOCUMENT
    port, log = _free_port(), tmp_path / "prism.log"
    with log.open("wb") as out:
        server = subprocess.Popen([str(binary), "mock", "-h", "127.0.0.1", "-p", str(port), str(UPSTREAM_DOCUMENT)],
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, server, log)
        env = {**os.environ, "HUMANLOOP_API_KEY": "prism-key", "XDG_CACHE_HOME": str(tmp_path / "cache"),
               "PYTHONUNBUFFERED": "1"}
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "mockserver.cli", "check", f"http://127.0.0.1:{port}",
                              "--report", str(tmp_path / "report.json")], capture_output=True, text=True, env=env,
                             timeout=PROMISED_SECONDS + 60, check=False)
        seconds = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(10)
    assert run.returncode == 1, run.stdout[-4000:] + run.stderr[-2000:]
    assert seconds < PROMISED_SECONDS, seconds
    report = json.loads((tmp_path / "report.json").read_text())
    found = {(v["check"], v["operation"], v["field"]) for v in report["violations"]}
    assert found == set(DEVIATIONS), (found ^ set(DEVIATIONS), run.stdout[-4000:])
    assert not any("deadline reached" in note for note in report["notes"]), report["notes"]
    assert "Traceback" not in run.stdout + run.stderr
    by_check = {v["check"]: v for v in report["violations"]}
    assert "wrong X-API-KEY was answered 200" in by_check["auth_required"]["message"]
    assert by_check["sample_indexes"]["message"].startswith("indexes [0], expected [0, 1, 2]")
    assert by_check["stream_flag_content_type"]["severity"] == "breaks-clients"
    assert by_check["finish_reason_value"]["severity"] == "contract"
    # it hung on some requests, was found still answering others, and the run went on
    assert "target_unresponsive" not in by_check and report["requests"]["sent"] > 90
    # progress went to stderr, at least every few seconds, while the report went to stdout
    stamps = [float(s) for s in re.findall(r"^\[check\s+([\d.]+) s\]", run.stderr, re.MULTILINE)]
    assert len(stamps) > 10 and max(b - a for a, b in pairwise(stamps)) < 7, run.stderr
    assert "[check " not in run.stdout
