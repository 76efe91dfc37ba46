"""What a downstream test run pays at start-up for the pytest plugins this package's dependencies bring.

    python benchmarks/startup.py [--rounds 7] [--suite plain|mock] [--no-bytecode]

Run it with the Python of the environment to measure (it needs only the standard library there).
Installing humanloop-mock installs Faker, Schemathesis (and with it Hypothesis) and, through
Starlette and httpx, anyio; each registers a pytest plugin that every pytest process imports. This
times `pytest` on a tiny generated project (two plain tests and one that uses `humanloop_mock`),
run as a whole process, in three ways, interleaved round by round:

- `default`: every installed plugin loads (what a downstream project gets);
- `opt-out`: `-p no:schemathesis -p no:hypothesispytest -p no:faker -p no:anyio` (docs/testing-guide.md);
- `baseline`: plugin autoloading off, only this package's plugin (`-p pytest_plugin.plugin`).

Each way runs over the plain tests only (a run that does not touch the mock) and over all three.
`--no-bytecode` measures a machine where bytecode is not cached (PYTHONDONTWRITEBYTECODE=1, as many
container images set, or a read-only site-packages): the runs may not write bytecode, and pytest's
cached rewritten modules (`__pycache__/*-pytest-*.pyc` in site-packages) are deleted first; without
it, bytecode may be written and the warm-up run fills the caches. Figures are medians of CPU seconds
(user + system, from the kernel's accounting of the child) and wall seconds, and the ratio to the
baseline of the same round.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import site
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = "def test_add():\n    assert 1 + 2 == 3\n\n\ndef test_join():\n    assert 'a' + 'b' == 'ab'\n"
MOCKED = """
def test_scripted(humanloop_mock):
    humanloop_mock.script("Paris.", message="capital")
    with humanloop_mock.httpx_client() as http:
        reply = http.post("/chat-experiment", json={"experiment_id": "exp_demo",
                          "messages": [{"role": "user", "content": "The capital?"}]})
    assert reply.json()["data"][0]["output"] == "Paris."
"""
OPT_OUT = ("-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:faker", "-p", "no:anyio")
SUITES = {"plain": ("plain tests only", ["test_plain.py"]),
          "mock": ("with the mock", ["test_plain.py", "test_mocked.py"])}
WAYS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "default": ((), {}),
    "opt-out": (OPT_OUT, {}),
    "baseline": (("-p", "pytest_plugin.plugin"), {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}),
}


def run(project: Path, files: list[str], extra: tuple[str, ...], env: dict[str, str]) -> tuple[float, float]:
    """CPU and wall seconds of one pytest process; fails loudly if the tests did not pass."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, *files],
                          cwd=project, env={**os.environ, **env}, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"pytest {' '.join(extra)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def forget_rewritten_modules() -> int:
    """Delete pytest's cached assertion-rewritten modules in site-packages; returns how many."""
    found = [pyc for root in site.getsitepackages() for pyc in Path(root).glob("**/__pycache__/*-pytest-*.pyc")]
    for pyc in found:
        pyc.unlink()
    return len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--suite", choices=["plain", "mock"], action="append",
                        help="only these suites (default: both)")
    parser.add_argument("--no-bytecode", action="store_true", help="as where bytecode is not cached")
    args = parser.parse_args()
    bytecode = {"PYTHONDONTWRITEBYTECODE": "1"} if args.no_bytecode else {}
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if args.no_bytecode:
        print(f"deleted {forget_rewritten_modules()} cached rewritten modules", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "pytest.ini").write_text("[pytest]\n")
        (project / "test_plain.py").write_text(PLAIN)
        (project / "test_mocked.py").write_text(MOCKED)
        suites = {label: files for key, (label, files) in SUITES.items() if key in (args.suite or SUITES)}
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for suite, files in suites.items():
            for extra, env in WAYS.values():
                run(project, files, extra, {**env, **bytecode})  # warm-up (fills the caches it may)
            for _ in range(args.rounds):
                for way, (extra, env) in WAYS.items():
                    samples.setdefault((suite, way), []).append(run(project, files, extra, {**env, **bytecode}))
    report = {}
    for (suite, way), runs in samples.items():
        baseline = samples[(suite, "baseline")]
        report[f"{suite} / {way}"] = {
            "cpu_s": round(statistics.median(c for c, _ in runs), 3),
            "wall_s": round(statistics.median(w for _, w in runs), 3),
            "cpu_ratio_to_baseline": round(statistics.median(c / b[0] for (c, _), b in zip(runs, baseline,
                                                                                          strict=True)), 2),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
