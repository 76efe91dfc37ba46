"""The Node consumer example (examples/node_consumer) runs its own `node --test` suite, with the npm
client `humanloop@0.5.36` unmodified, against a `humanloop-mock serve --isolate-keys` started here.

Runs wherever `node` and `npm` are found (CI's machines have them); skips with the reason elsewhere.
Dependencies come from the committed package-lock.json through `npm ci`, with npm's cache in a
temporary folder that later runs reuse (`--prefer-offline`), so a second run needs no network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.helpers_process import serve_process

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "node_consumer"
EXPECTED_TESTS = 5  # the `test(...)` calls in examples/node_consumer/test/: none may go missing or skip
NPM_CACHE = Path(os.environ.get("HUMANLOOP_MOCK_NPM_CACHE")
                 or Path(tempfile.gettempdir()) / "humanloop-mock-npm-cache")
SUMMARY = re.compile(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$", re.MULTILINE)


def test_node_consumer_suite_passes_against_a_shared_isolated_server(tmp_path: Path) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip("node and npm are not installed: the Node consumer example cannot run here")
    declared = len(re.findall(r"^test\(", "".join(
        p.read_text() for p in sorted((EXAMPLE / "test").glob("*.test.mjs"))), re.MULTILINE))
    assert declared == EXPECTED_TESTS

    project = tmp_path / "node_consumer"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("node_modules"))
    install = subprocess.run(
        [npm, "ci", "--cache", str(NPM_CACHE), "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund",
         "--loglevel=error"],
        cwd=project, capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    installed = (project / "node_modules" / "humanloop" / "package.json").read_text()
    assert '"version": "0.5.36"' in installed

    with serve_process("--isolate-keys") as url:
        run = subprocess.run(
            [node, "--test", "--test-reporter=tap"], cwd=project, capture_output=True, text=True, timeout=180,
            check=False, env={**os.environ, "HUMANLOOP_MOCK_URL": url})
        no_key_world = httpx.get(url.removesuffix("/v4") + "/__admin/info", timeout=10).json()

    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    counts = {name: int(value) for name, value in SUMMARY.findall(run.stdout)}
    assert counts == {"tests": EXPECTED_TESTS, "pass": EXPECTED_TESTS, "fail": 0, "cancelled": 0, "skipped": 0,
                      "todo": 0}, output
    assert no_key_world["journal"] == 0  # every Node test used its own key's world
