"""npm tools some tests run: Prism (a mock server nobody here wrote) and the official npm client.

Both are installed once into a folder outside the checkout (`$HUMANLOOP_MOCK_NPM_TOOLS`, by default
`~/.cache/humanloop-mock/npm-tools`) at pinned versions: Prism from `benchmarks.npm_mocks.PRISM`, the
npm client `humanloop@0.5.36` from the Node consumer example's package-lock. `.ci/run` installs them
before the tests (`python -m tests.support.npm`); a test that finds them missing installs them if npm
is there, and otherwise skips on a developer's machine and fails in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from benchmarks.npm_mocks import install_prism
from tests.support.browser import in_ci

TOOLS = Path(os.environ.get("HUMANLOOP_MOCK_NPM_TOOLS") or Path.home() / ".cache" / "humanloop-mock" / "npm-tools")
NPM_CACHE = Path(os.environ.get("HUMANLOOP_MOCK_NPM_CACHE")
                 or Path(tempfile.gettempdir()) / "humanloop-mock-npm-cache")
NODE_CONSUMER = Path(__file__).resolve().parents[2] / "examples" / "node_consumer"
NPM_CLIENT_VERSION = "0.5.36"


def _missing(reason: str) -> None:
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _need_npm(what: str) -> None:
    if not (shutil.which("node") and shutil.which("npm")):
        _missing(f"node and npm are needed for {what} (.ci/run installs it; apt-get install nodejs npm)")


def prism() -> Path:
    """The pinned Prism's binary, installing it if need be."""
    binary = TOOLS / "prism" / "node_modules" / ".bin" / "prism"
    _need_npm("Prism")
    try:
        return install_prism(TOOLS / "prism", NPM_CACHE)
    except (subprocess.SubprocessError, OSError) as failed:
        _missing(f"could not install Prism into {binary.parents[2]}: {failed}")
        raise


def npm_client() -> Path:
    """A folder whose node_modules hold humanloop@0.5.36 (as the Node consumer example pins it)."""
    folder = TOOLS / "npm-client"
    installed = folder / "node_modules" / "humanloop" / "package.json"
    _need_npm("the npm client")
    if installed.exists() and f'"version": "{NPM_CLIENT_VERSION}"' in installed.read_text():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(NODE_CONSUMER / name, folder / name)
    done = subprocess.run(["npm", "ci", "--cache", str(NPM_CACHE), "--prefer-offline", "--ignore-scripts", "--no-audit",
                           "--no-fund", "--loglevel=error"], cwd=folder, capture_output=True, text=True, timeout=600,
                          check=False)
    if done.returncode != 0:
        _missing(f"npm ci of the npm client failed in {folder}: {done.stderr[-500:]}")
    return folder


if __name__ == "__main__":  # .ci/run: install both before the tests
    try:
        print(prism())
        print(npm_client())
    except (pytest.skip.Exception, pytest.fail.Exception) as missing:
        sys.exit(str(missing))
