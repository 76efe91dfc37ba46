"""The Node consumer example (examples/node_consumer) runs its own `node --test` suite, with the npm
client `humanloop@0.5.36` unmodified, against a `humanloop-mock serve --isolate-keys` started here.

Runs wherever `node` and `npm` are found (`.ci/run` installs them); in CI a missing one fails the tests,
elsewhere they skip with the reason.
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

from tests.support.browser import in_ci
from tests.support.process import serve_process

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node_consumer"
EXPECTED_TESTS = 5  # the `test(...)` calls in examples/node_consumer/test/: none may go missing or skip
NPM_CACHE = Path(os.environ.get("HUMANLOOP_MOCK_NPM_CACHE")
                 or Path(tempfile.gettempdir()) / "humanloop-mock-npm-cache")
SUMMARY = re.compile(r"^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def node_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """(node, npm, a copy of the example with its dependencies installed by `npm ci`)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        reason = "node and npm are not installed: the Node consumer example cannot run here (apt-get install " \
                 "nodejs npm; .ci/run does it)"
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    project = tmp_path_factory.mktemp("node") / "node_consumer"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("node_modules"))
    install = subprocess.run(
        [npm, "ci", "--cache", str(NPM_CACHE), "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund",
         "--loglevel=error"],
        cwd=project, capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    installed = (project / "node_modules" / "humanloop" / "package.json").read_text()
    assert '"version": "0.5.36"' in installed
    return node, npm, project


def test_node_consumer_suite_passes_against_a_shared_isolated_server(node_project: tuple[str, str, Path]) -> None:
    node, _, project = node_project
    declared = len(re.findall(r"^test\(", "".join(
        p.read_text() for p in sorted((EXAMPLE / "test").glob("*.test.mjs"))), re.MULTILINE))
    assert declared == EXPECTED_TESTS

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


@pytest.mark.parametrize("command", [None, "/no/such/humanloop-mock"])
def test_npm_test_without_a_server_says_what_to_install_or_set(node_project: tuple[str, str, Path],
                                                               tmp_path: Path, command: str | None) -> None:
    """`npm test` with no HUMANLOOP_MOCK_URL and no `humanloop-mock` to start: a sentence saying what to do,
    not spawn's bare `ENOENT`."""
    node, npm, project = node_project
    tools = tmp_path / "bin"  # PATH holds node, npm and sh only
    tools.mkdir()
    for tool in (node, npm, shutil.which("sh")):
        assert tool is not None
        (tools / Path(tool).name).symlink_to(Path(tool).resolve())
    env = {name: value for name, value in os.environ.items()
           if name not in ("HUMANLOOP_MOCK_URL", "HUMANLOOP_MOCK_COMMAND")}
    env["PATH"] = str(tools)
    if command is not None:
        env["HUMANLOOP_MOCK_COMMAND"] = command
    assert shutil.which("humanloop-mock", path=env["PATH"]) is None
    run = subprocess.run([npm, "test", "--", "--test-reporter=tap"], cwd=project, capture_output=True, text=True,
                         timeout=180, check=False, env=env)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    said = "`humanloop-mock` is not on PATH" if command is None else f"HUMANLOOP_MOCK_COMMAND names `{command}`"
    assert f"Cannot start humanloop-mock: {said}" in output, output
    for advice in ("pip install /path/to/humanloop-mock", "HUMANLOOP_MOCK_COMMAND to the full path",
                   "HUMANLOOP_MOCK_URL=http://127.0.0.1:8000/v4"):
        assert advice in output, advice
