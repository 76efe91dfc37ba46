"""Same seed, same requests, same bytes: on CPython 3.11, 3.12 and 3.13, and whatever the machine's locale,
file-system encoding, time zone, hash seed, umask or working directory.

Each test runs tests/support/wire_probe.py (a real `serve` read over raw sockets: status lines, headers,
bodies, every event of every stream, the admin views and journal, the cassette `--record` wrote, and the
CLI's `openapi` and `check-config`; and tests/api/test_wire_bytes.py's script of every kind of call, answered
in process) in two or more settings at once, and compares every byte. The probe's
requests hold what once made the versions differ: characters Unicode 15 and 15.1 added (token counts,
streamed chunks, quoted error messages, integers in a query), statuses whose reason phrase Python 3.13
renamed, a JSON trailing comma, JSON nested deeper than 3.11's decoder reaches.

The other versions run from `.venv-py312` and `.venv-py313` (`python -m tests.support.pythons` makes them;
`.ci/run` does). Without them this test skips on your machine and fails in CI.

A cassette records when each exchange happened and how long it took (`startedDateTime`, `time`, `timings`
and each event's offset): those are measured, and compared only as present; the rest of it is compared byte
for byte.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.pythons import OTHER_VERSIONS, ROOT, ready, venv_python
from tests.support.wire_probe import EXCHANGES

# The settings every probe shares unless a test changes them.
PLAIN_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
             "LANG": "C.UTF-8", "TZ": "UTC", "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
# Another machine: an ASCII locale with UTF-8 mode off (file names and stdio in ASCII), Latin-1 stdio, a
# time zone 5:45 from UTC, another hash seed, a tight umask and another working directory.
HOSTILE_ENV = {**PLAIN_ENV, "LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": "latin-1",
               "TZ": "Asia/Kathmandu", "PYTHONHASHSEED": "12345"}
MEASURED = re.compile(r'("startedDateTime": )"[^"]*"|("(?:time|offsetMs|send|wait|receive)": )-?[0-9.]+')


def without_measured_times(cassette: str) -> str:
    return MEASURED.sub(lambda found: (found.group(1) or found.group(2)) + "<measured>", cassette)


def as_shown_in_latin_1(output: str) -> str:
    """UTF-8 output (read as Latin-1 by the probe) as a Latin-1 stream with `backslashreplace` writes it."""
    return output.encode("latin-1").decode("utf-8").encode("latin-1", "backslashreplace").decode("latin-1")


def probe(python: str, out: Path, env: dict[str, str], cwd: str = str(ROOT), umask: int | None = None) -> Any:
    """Start the probe (a Popen); `finish` waits for it and reads what it wrote."""
    return subprocess.Popen([python, "-m", "tests.support.wire_probe", str(out)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=None if umask is None else (lambda: os.umask(umask)))


def finish(process: subprocess.Popen[bytes], out: Path, label: str) -> dict[str, str]:
    output = process.communicate(timeout=240)[0].decode(errors="replace")
    assert process.returncode == 0, f"the probe failed under {label}:\n{output[-3000:]}"
    got = json.loads(out.read_text(encoding="utf-8"))
    got["cassette"] = without_measured_times(got["cassette"])
    return got


def first_difference(wanted: str, got: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(wanted, got, strict=False)) if a != b), min(len(wanted), len(got)))
    return (f"{len(wanted)} vs {len(got)} characters, first difference at {at}:\n"
            f"  {wanted[max(0, at - 100):at + 100]!r}\n  {got[max(0, at - 100):at + 100]!r}")


def assert_same(reference: dict[str, str], other: dict[str, str], label: str) -> None:
    assert reference.keys() == other.keys()
    different = {name: first_difference(reference[name], other[name]) for name in reference
                 if reference[name] != other[name]}
    assert not different, f"{label} differs from {sys.version.split()[0]} (plain environment):\n" + "\n".join(
        f"- {name}: {detail}" for name, detail in different.items())


def assert_worth_comparing(got: dict[str, str]) -> None:
    """What was compared is the whole script, and it is large: streams, events, errors and a cassette."""
    answers = [got[name] for name, *_ in EXCHANGES]
    assert len(answers) == len(EXCHANGES) >= 35
    assert all(answer.startswith("HTTP/1.1 ") for answer in answers)  # each read from its status line on
    streams = [answer for answer in answers if "content-type: text/event-stream" in answer]
    assert len(streams) >= 5
    assert sum(stream.count("\ndata: ") for stream in streams) >= 40  # events compared
    assert sum(answer.startswith(("HTTP/1.1 4", "HTTP/1.1 5")) for answer in answers) >= 15  # error answers
    assert got["cassette"].count('"startedDateTime"') >= 20  # exchanges the cassette holds
    in_process = json.loads(got["tests/api/test_wire_bytes.py's script, in process"])
    assert sum(len(script["answers"]) for script in in_process.values()) >= 100
    assert sum(map(len, got.values())) > 500_000


def test_same_bytes_whatever_the_environment(tmp_path: Path) -> None:
    plain = probe(sys.executable, tmp_path / "plain.json", PLAIN_ENV)
    hostile = probe(sys.executable, tmp_path / "hostile.json", HOSTILE_ENV, cwd="/", umask=0o077)
    reference = finish(plain, tmp_path / "plain.json", "the plain environment")
    other = finish(hostile, tmp_path / "hostile.json", "LC_ALL=C PYTHONUTF8=0 TZ=Asia/Kathmandu ...")
    reference.pop("python"), other.pop("python")
    assert_worth_comparing(reference)
    for stream in ("serve's stdout", "serve's stderr"):  # a Latin-1 terminal gets escapes for what it cannot show
        reference[stream] = as_shown_in_latin_1(reference[stream])
    assert "caf\xe9\\u2615" in reference["serve's stdout"]  # (the access log's line for the path beyond ASCII)
    assert_same(reference, other, "LC_ALL=C, PYTHONUTF8=0, PYTHONIOENCODING=latin-1, TZ=Asia/Kathmandu, "
                                  "PYTHONHASHSEED=12345, umask 077, cwd /")


def test_same_bytes_on_every_python(tmp_path: Path) -> None:
    missing = [version for version in OTHER_VERSIONS if not ready(version)]
    if missing:
        message = (f"no venv for CPython {', '.join(missing)} ({', '.join(str(venv_python(v)) for v in missing)}); "
                   "make them with `python -m tests.support.pythons`")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    running = {"this Python": probe(sys.executable, tmp_path / "this.json", PLAIN_ENV)}
    running |= {f"CPython {version}": probe(str(venv_python(version)), tmp_path / f"{version}.json", PLAIN_ENV)
                for version in OTHER_VERSIONS}
    outs = {"this Python": tmp_path / "this.json"} | {f"CPython {v}": tmp_path / f"{v}.json" for v in OTHER_VERSIONS}
    got = {label: finish(process, outs[label], label) for label, process in running.items()}
    versions = {label: value.pop("python") for label, value in got.items()}
    assert len(set(versions.values())) == 1 + len(OTHER_VERSIONS), versions  # really three interpreters
    reference = got.pop("this Python")
    assert_worth_comparing(reference)
    for label, other in got.items():
        assert_same(reference, other, label)
