"""`serve` on a hostile host: what is behind its standard output, and the signals it gets.

Each test runs the real CLI in a subprocess on a loopback port and stops it. The time bounds are hang
checks (a server that blocks waits for ever), not performance measurements.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mockserver.recording import load_cassette
from tests.conftest import KEY, chat_body
from tests.support.scaling import free_port

SERVE = [sys.executable, "-m", "mockserver.cli", "serve"]


def _wait_until_up(base: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"serve did not start (exit {process.poll()})")
        time.sleep(0.05)


@contextlib.contextmanager
def _serving(tmp_path: Path, stdout: int | None, *args: str,
             preexec_fn: Callable[[], None] | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """serve on a known port with this stdout; stderr to a file. Yields (root URL, process, stderr file)."""
    port = free_port()
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as stderr:
        process = subprocess.Popen([*SERVE, "--port", str(port), *args], stdout=stdout, stderr=stderr,
                                   preexec_fn=preexec_fn)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}", process, errors
    finally:
        _put_down(process)


def _put_down(process: subprocess.Popen[bytes]) -> None:
    """Never leave the server behind, nor its pipes open."""
    if process.poll() is None:
        process.kill()
    process.wait()
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def _calls_answered(base: str, count: int) -> list[int]:
    with httpx.Client(base_url=base, headers=KEY, timeout=5) as client:
        return [client.post("/v4/chat-experiment", json=chat_body()).status_code for _ in range(count)] + [
            client.get("/healthz").status_code]


def _stopped(process: subprocess.Popen[bytes], how: int = signal.SIGTERM) -> int | None:
    process.send_signal(how)
    return process.wait(timeout=15)


def _close_stdout() -> None:
    os.close(1)


@pytest.mark.parametrize("stdout", ["a full disk (/dev/full)", "closed", "a pipe whose reader left"])
def test_a_stdout_that_cannot_be_written_is_said_once_and_the_server_serves_on(tmp_path: Path, stdout: str) -> None:
    """Before: /dev/full and a closed stdout crashed `serve` at start (the banner's write: OSError,
    AttributeError); a pipe whose reader left printed a traceback on stderr for every access-log batch."""
    preexec, target = None, None
    if stdout.startswith("a full disk"):
        target = os.open("/dev/full", os.O_WRONLY)  # (opened for writing, as a shell's `>/dev/full` does)
    elif stdout == "closed":
        preexec = _close_stdout
    else:
        reader, target = os.pipe()
        os.close(reader)
    try:
        with _serving(tmp_path, target, preexec_fn=preexec) as (base, process, errors):
            assert _calls_answered(base, 30) == [200] * 31
            time.sleep(0.3)  # the access log's batches go out (and fail) meanwhile
            assert _calls_answered(base, 5) == [200] * 6
            assert _stopped(process) == -signal.SIGTERM
            logged = errors.read_text()
    finally:
        if target is not None:
            os.close(target)
    assert "Traceback" not in logged and "Exception" not in logged, logged
    said = [line for line in logged.splitlines() if "Standard output" in line]
    assert len(said) == 1, logged  # once, however many batches failed
    assert {"a full disk (/dev/full)": "No space left on device", "closed": "closed",
            "a pipe whose reader left": "Broken pipe"}[stdout] in said[0]


def test_a_stdout_nobody_reads_never_stops_the_server(tmp_path: Path) -> None:
    """A parent that starts `serve` with stdout=PIPE, reads the banner and stops reading. Before: the pipe
    was full after about 240 access-log lines and the event loop blocked on its write: every client and
    /healthz waited for ever. Now the lines queue (up to 1 MiB, then are dropped and counted) and the
    server answers; once the pipe is read again, the lines that fit come out and the loss is said."""
    port = free_port()
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as stderr:
        process = subprocess.Popen([*SERVE, "--port", str(port)], stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert process.stdout is not None
        while not process.stdout.readline().startswith(b"Unknown experiment ids"):  # the banner's last line
            pass
        padding = "x" * 990  # a 1,000-character target: 1,200 of them are over the 64 KiB pipe and the 1 MiB queue
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=KEY, timeout=5) as client:
            statuses = {client.get(f"/v4/healthz?p={padding}").status_code for _ in range(1200)}
            assert statuses == {200}
            assert client.post("/v4/chat-experiment", json=chat_body()).status_code == 200
            assert client.get("/healthz").status_code == 200
            deadline = time.monotonic() + 10
            while "nothing reads it" not in errors.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "nothing reads it" in errors.read_text()
            out = b""
            while b"written again" not in errors.read_bytes() and time.monotonic() < deadline + 10:
                out += os.read(process.stdout.fileno(), 1 << 20)  # read again: the queue drains
        lines = [line for line in out.decode(errors="replace").splitlines() if "/v4/healthz?p=" in line]
        assert lines, "no access-log line came out once stdout was read"
        assert _stopped(process) == -signal.SIGTERM
    finally:
        _put_down(process)
    assert "line(s) were dropped" in errors.read_text()


def test_sighup_stops_the_server_as_sigterm_does_and_writes_the_cassette(tmp_path: Path) -> None:
    """Before: SIGHUP (a closed terminal) ended the process on the spot: the cassette was left as its
    side file, `--report` unwritten, the last access-log lines lost."""
    cassette = tmp_path / "calls.har"
    with _serving(tmp_path, subprocess.DEVNULL, "--record", str(cassette)) as (base, process, errors):
        assert _calls_answered(base, 3) == [200] * 4
        assert _stopped(process, signal.SIGHUP) == -signal.SIGHUP
    assert "Shutting down" in errors.read_text()
    assert len(json.loads(cassette.read_text())["log"]["entries"]) == 3
    assert not list(tmp_path.glob("*.partial.jsonl"))


def _ignore_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def test_sighup_ignored_by_the_parent_stays_ignored(tmp_path: Path) -> None:
    """`nohup humanloop-mock serve`: the server must outlive the terminal."""
    with _serving(tmp_path, subprocess.DEVNULL, preexec_fn=_ignore_sighup) as (base, process, _):
        process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert process.poll() is None
        assert _calls_answered(base, 1) == [200, 200]
        assert _stopped(process) == -signal.SIGTERM


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only): a disk that fills after a few dozen recorded exchanges. Skipped where
    mounting is not allowed, except under CI=true (CI runs as root), where that is a failure."""
    where = tmp_path / "small-disk"
    where.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True, timeout=30,
    ).returncode == 0
    if not mounted:
        reason = "a 64 KiB tmpfs needs root and `mount` (CI runs as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def test_recording_onto_a_full_disk_answers_every_call_and_says_so_once(tmp_path: Path, full_disk: Path) -> None:
    """Before: one warning per exchange on stderr (a log line per request while the disk stays full),
    and a shutdown line that did not say where the recorded exchanges were."""
    cassette = full_disk / "calls.har"
    with _serving(tmp_path, subprocess.PIPE, "--record", str(cassette)) as (base, process, errors):
        assert _calls_answered(base, 120) == [200] * 121
        journal = httpx.get(f"{base}/__admin/requests", params={"chat": "true", "limit": 0}, headers=KEY).json()
        assert journal["total"] == 120  # the journal lost nothing
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=15)
        assert process.returncode == -signal.SIGTERM
    logged = errors.read_text()
    assert logged.count("could not be recorded") == 1, logged
    assert "No space left on device" in logged and "Traceback" not in logged
    said = out.decode()
    assert f"could not finish the cassette {cassette} (No space left on device)" in said, said
    assert "kept in" in said and "could not be)" in said
    kept = load_cassette(cassette).exchanges  # what fitted is readable: no line cut in the middle
    assert 0 < len(kept) < 120


@pytest.mark.parametrize("flag", ["--report", "--junit"])
def test_a_report_that_could_not_be_written_fails_the_start_not_the_end(tmp_path: Path, flag: str) -> None:
    """Before: `serve` ran the whole session and said `could not write ...` only at shutdown."""
    missing = tmp_path / "no-such-folder" / "checks.out"
    result = subprocess.run([*SERVE, "--port", "0", "--upstream", "http://127.0.0.1:9/v4", flag, str(missing)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"Invalid value for {flag}: {missing}: cannot write there: No such file or directory" in result.stderr
    assert "serving" not in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_stderr_nobody_reads_never_stops_the_server(tmp_path: Path) -> None:
    """A parent that pipes stderr and reads only stdout. Each unknown experiment id makes a warning on
    stderr; before, after about 350 of them the pipe was full and the event loop blocked on the next:
    no answer, no /healthz, and not even SIGTERM ended the process (its last words blocked too)."""
    port = free_port()
    process = subprocess.Popen([*SERVE, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, process)
        with httpx.Client(base_url=base, headers=KEY, timeout=5) as client:
            statuses = {client.post("/v4/chat-experiment", json=chat_body(experiment_id=f"exp_new_{n}")).status_code
                        for n in range(700)}
            assert statuses == {200}
            assert client.get("/healthz").status_code == 200
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.poll() == -signal.SIGTERM
        assert process.stderr is not None
        assert b"Unknown experiment exp_new_0: provisioned it" in process.stderr.read()
    finally:
        _put_down(process)
