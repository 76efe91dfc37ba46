"""The standalone server driven from outside its process: curl only, the official client, remote-mode fixtures."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from humanloop import Humanloop
from humanloop.exceptions import ApiException

from tests.support.process import serve_process

ROOT = Path(__file__).resolve().parents[2]
WALKTHROUGH = ROOT / "examples" / "admin" / "walkthrough.sh"


def curl_step(root: str, key: str, step: str) -> str:
    done = subprocess.run(["bash", str(WALKTHROUGH), root, key, step], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.endswith("\n"), repr(done.stdout)  # a step's output never runs into the next prompt
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_a_shell_script_with_curl_drives_what_the_official_client_sees() -> None:
    with serve_process("--isolate-keys") as url:
        root = url.removesuffix("/v4")
        setup = curl_step(root, "ci-job-1", "setup")
        assert '"experiments":["exp_support"]' in setup and '"id":"script-1"' in setup and '"id":"fault-1"' in setup
        client = Humanloop(api_key="ci-job-1", host=url)
        ask = [{"role": "user", "content": "Where is my refund?"}]
        with pytest.raises(ApiException) as refused:
            client.chat_experiment(experiment_id="exp_support", messages=ask)
        assert refused.value.status == 429 and refused.value.headers["Retry-After"] == "1"
        answer = client.chat_experiment(experiment_id="exp_support", messages=ask)
        assert answer.data[0].output == "Your refund is on its way."
        assert curl_step(root, "ci-job-1", "count") == "2"
        journal = curl_step(root, "ci-job-1", "journal")
        assert '"status":429' in journal and '"faults":["fault-1"]' in journal
        assert "ci-job-1" not in journal  # the key is redacted
        # Another key on the same server: none of that setup or journal.
        other = Humanloop(api_key="ci-job-2", host=url).chat_experiment(
            experiment_id="exp_demo", messages=ask)
        assert other.data[0].output != "Your refund is on its way."
        assert curl_step(root, "ci-job-2", "count") == "1"
        curl_step(root, "ci-job-1", "reset")
        assert curl_step(root, "ci-job-1", "count") == "0"


def test_the_plugins_own_tests_pass_in_remote_mode_against_one_shared_server() -> None:
    """The fixture tests, the guide's examples and the example project, run by `pytest -n 2
    --humanloop-url` against one `serve --isolate-keys`: one tenant per worker, no cross-talk."""
    with serve_process("--isolate-keys") as url:
        command = [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider",
                   "tests/plugin/test_fixture.py", "tests/plugin/test_guide.py", "examples/support_app",
                   "--humanloop-url", url]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 30 and "failed" not in summary, summary
    assert f"humanloop-mock: remote mode, {url}" in done.stdout
