"""The other CPython versions the mock is checked under, each in a venv of its own in the checkout.

`python -m tests.support.pythons` (run by `.ci/run`) makes a venv for each supported version other than the
running one (`.venv-py312` and `.venv-py313` beside `.venv` under 3.11), from the interpreters it finds
(`python3.12` on PATH, or pyenv's `~/.pyenv/versions/3.12.*`), with the package and its runtime dependencies
only: tests/api/test_cross_python.py runs `serve` and the CLI there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUPPORTED = ("3.11", "3.12", "3.13")  # pyproject says >=3.11
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHER_VERSIONS = tuple(version for version in SUPPORTED if version != RUNNING)  # 3.12 and 3.13 in CI (on 3.11)


def venv_python(version: str) -> Path:
    return ROOT / f".venv-py{version.replace('.', '')}" / "bin" / "python"


def interpreter(version: str) -> str | None:
    """An interpreter of `version` (`3.12`): on PATH, else pyenv's newest of that version. (pyenv's shim
    `python3.12` is on PATH whatever pyenv's chosen version is, and fails where that is another: tried.)"""
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "-c", "pass"], capture_output=True).returncode == 0:
        return found
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates = [path for path in pyenv.glob(f"{version}.*/bin/python") if path.parent.parent.name.count(".") == 2]
    candidates.sort(key=lambda path: tuple(int(part) for part in path.parent.parent.name.split(".")
                                           if part.isdigit()))
    return str(candidates[-1]) if candidates else None


def ready(version: str) -> bool:
    """Whether `version`'s venv runs the mock from this checkout."""
    python = venv_python(version)
    if not python.exists():
        return False
    done = subprocess.run([str(python), "-c", "import mockserver; print(mockserver.__file__)"], capture_output=True,
                          text=True, cwd="/")
    return done.returncode == 0 and Path(done.stdout.strip()).is_relative_to(ROOT)


def make(version: str) -> bool:
    """Make `version`'s venv unless it is ready; False if no such interpreter is here or the install failed."""
    if ready(version):
        return True
    base = interpreter(version)
    if base is None:
        print(f"no CPython {version} here (python{version} on PATH or ~/.pyenv/versions/{version}.*)",
              file=sys.stderr)
        return False
    folder = venv_python(version).parent.parent
    subprocess.run([base, "-m", "venv", "--clear", str(folder)], check=True)
    installed = subprocess.run([str(venv_python(version)), "-m", "pip", "install", "-q", "-e", str(ROOT)])
    return installed.returncode == 0 and ready(version)


if __name__ == "__main__":  # one after the other: each editable install writes the checkout's egg-info
    sys.exit(0 if all([make(version) for version in OTHER_VERSIONS]) else 1)
