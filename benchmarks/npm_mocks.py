"""Prism and Mockoon, the other mock servers this project is compared with, from the npm registry.

They are installed into a folder outside the repository (a temp folder by default; nothing of
node_modules is ever committed) and serve the upstream OpenAPI document as it is. Without node and
npm the comparison rows are skipped with a message saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.servers import ServerCommand

PRISM = "@stoplight/prism-cli@5.16.0"  # pinned: tests/checker/test_prism.py names its exact deviations
PACKAGES = (PRISM, "@mockoon/cli@9")
DEFAULT_FOLDER = Path(tempfile.gettempdir()) / "humanloop-mock-bench-npm"
REFERENCE = Path(os.environ.get("HUMANLOOP_MOCK_REFERENCE", Path(__file__).resolve().parents[2] / "shared" /
                                "reference"))
UPSTREAM_DOCUMENT = REFERENCE / "upstream" / "v4-openapi-2024-08-05.json"


def missing_reason() -> str | None:
    """Why the npm mocks cannot run here, or None if they can."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed, so Prism and Mockoon are skipped (install Node.js to compare)"
    if not UPSTREAM_DOCUMENT.is_file():
        return f"the upstream document {UPSTREAM_DOCUMENT} is missing, so Prism and Mockoon are skipped"
    return None


def install(folder: Path = DEFAULT_FOLDER) -> Path:
    """The folder's `node_modules/.bin`, installing the two packages there first if needed."""
    bin_dir = folder / "node_modules" / ".bin"
    if not (bin_dir / "prism").exists() or not (bin_dir / "mockoon-cli").exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), *PACKAGES],
                       check=True, capture_output=True, timeout=900)
    return bin_dir


def install_prism(folder: Path, npm_cache: Path | None = None) -> Path:
    """Prism alone, at the pinned version, into `folder` (kept between runs); its `prism` binary.
    Install scripts are not run (the only one is a usage ping)."""
    binary = folder / "node_modules" / ".bin" / "prism"
    manifest = folder / "node_modules" / "@stoplight" / "prism-cli" / "package.json"
    if binary.exists() and manifest.exists() and json.loads(manifest.read_text())["version"] == PRISM.rsplit("@", 1)[1]:
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    cache = ["--cache", str(npm_cache), "--prefer-offline"] if npm_cache else []
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", *cache,
                    "--prefix", str(folder), PRISM], check=True, capture_output=True, timeout=900)
    return binary


def versions(bin_dir: Path) -> dict[str, str]:
    found = {}
    for package in ("@stoplight/prism-cli", "@mockoon/cli"):
        manifest = bin_dir.parent / package / "package.json"
        found[package] = json.loads(manifest.read_text())["version"] if manifest.exists() else "?"
    return found


def prism(bin_dir: Path) -> ServerCommand:
    """`prism mock` of the upstream document (static examples, request validation, no streaming).
    Prism drops the servers' `/v4` prefix."""
    return ServerCommand("prism", (str(bin_dir / "prism"), "mock", "-h", "127.0.0.1", "-p", "{port}",
                                   str(UPSTREAM_DOCUMENT)), "/chat-experiment", start_timeout=60)


def mockoon(bin_dir: Path) -> ServerCommand:
    """`mockoon-cli start` on the upstream document (no request validation, no streaming)."""
    return ServerCommand("mockoon", (str(bin_dir / "mockoon-cli"), "start", "-d", str(UPSTREAM_DOCUMENT), "-l",
                                     "127.0.0.1", "-p", "{port}"), "/v4/chat-experiment", start_timeout=60)
