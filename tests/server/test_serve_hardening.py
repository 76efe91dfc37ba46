"""`humanloop-mock serve` as a process: file limits, floods, shutdown, secrets and log lines (issue 8,
cases 4, 5, 6 and 7).

Each test starts the real CLI in a subprocess on a loopback port with small limits, so the whole
file stays within a few seconds per test. The time bounds are hang checks far from the failures they
catch (20 s of refused clients, 30-40 s shutdowns), not performance measurements.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import resource
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.process import serve_logged

SECRET = "s3cr3t-key-do-not-print"


def port_of(url: str) -> int:
    return urlsplit(url).port or 80


def open_file_limit(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-file limit listed")


def low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (100, 200))


def test_open_file_limit_is_raised_and_a_slow_flood_does_not_lock_others_out(tmp_path: Path) -> None:
    """The issue's case: 1,100 slow connections under `ulimit -n 1024` left other clients failing for
    20 s. Here: hard limit 200, so at most 136 connections; 170 half-sent requests."""
    with serve_logged(tmp_path, "--header-timeout", "1", "--log-level", "warning",
                      preexec_fn=low_file_limit) as (url, process, log):
        assert open_file_limit(process.pid) == (200, 200)  # soft raised to hard at start
        assert "serving at most 136 connections" in log.read_text()
        slow = []
        for _ in range(170):
            sock = socket.create_connection(("127.0.0.1", port_of(url)))
            sock.sendall(b"POST /v4/chat-experiment HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never more
            slow.append(sock)
        try:
            started = time.monotonic()
            with httpx.Client(timeout=5) as client:
                during = client.get(f"{url}/healthz")
            assert during.status_code in (200, 503) and time.monotonic() - started < 1.5  # answered, not hung
            time.sleep(1.5)  # past the header timeout: the slow ones are closed
            with httpx.Client(timeout=5) as client:
                assert client.get(f"{url}/healthz").status_code == 200
            assert sum(1 for sock in slow if _closed(sock)) == len(slow)
        finally:
            for sock in slow:
                sock.close()
        assert process.poll() is None
    assert "Too many open files" not in log.read_text()


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(2)
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass
    return True


DELAYED_STREAMS = "faults:\n  - event_delay: 0.5\n    times: null\n"


@contextlib.contextmanager
def stalled_clients(url: str, count: int) -> Iterator[list[socket.socket]]:
    """Clients that ask for a large JSON answer or a slow stream, and never read a byte (closed on exit)."""
    with contextlib.ExitStack() as stack:
        clients = []
        for index in range(count):
            body = json.dumps({"experiment_id": f"exp_{index}", "stream": index % 2 == 1, "num_samples": 4,
                               "messages": [{"role": "user", "content": "x" * 500_000}]}).encode()
            sock = stack.enter_context(socket.socket())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port_of(url)))
            sock.sendall(b"POST /v4/chat-experiment HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-KEY: k\r\n"
                         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            clients.append(sock)
        yield clients


def test_sigterm_with_stalled_readers_exits_within_the_shutdown_timeout(tmp_path: Path) -> None:
    config = tmp_path / "delays.yaml"
    config.write_text(DELAYED_STREAMS)
    with serve_logged(tmp_path, "--config", str(config), "--shutdown-timeout", "1", "--send-timeout", "60",
                      "--log-level", "warning") as (url, process, _log), stalled_clients(url, 6):
        time.sleep(1.0)  # every request is being answered (or is stuck sending)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        took = time.monotonic() - started
    assert took < 1 + 2.5, f"shutdown took {took:.1f} s"


def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    config = tmp_path / "delays.yaml"
    config.write_text(DELAYED_STREAMS)
    with serve_logged(tmp_path, "--config", str(config), "--shutdown-timeout", "60",
                      "--log-level", "warning") as (url, process, log), stalled_clients(url, 2):
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None  # still waiting for the streams (60 s allowed)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        took = time.monotonic() - started
    assert took < 1.0, f"the second signal took {took:.1f} s"
    assert process.returncode == 128 + signal.SIGTERM
    assert "Second SIGTERM: exiting now." in log.read_text()


def test_keys_are_never_printed_and_client_text_cannot_forge_log_lines(tmp_path: Path) -> None:
    forged = "exp_x\nERROR humanloop_mock: FORGED line\x00\x1b[2J"
    with serve_logged(tmp_path, "--api-key", SECRET, "--log-level", "info") as (url, process, log), \
            httpx.Client(base_url=url, timeout=10) as client:
        ok = client.post("/chat-experiment", headers={"X-API-KEY": SECRET},
                         json={"experiment_id": forged, "messages": [{"role": "user", "content": "Hi"}]})
        assert ok.status_code == 200
        assert client.post("/chat-experiment", headers={"X-API-KEY": SECRET[:-1]}, json={}).status_code == 401
        assert client.get("/x%0AERROR%20humanloop_mock:%20FORGED%20path").status_code == 404
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    output = log.read_text(errors="replace")
    assert "serving Humanloop v4" in output and "HUMANLOOP_API_KEY" in output  # the banner, with a stand-in
    assert SECRET not in output
    lines = output.splitlines()
    assert not [line for line in lines if line.startswith("ERROR humanloop_mock: FORGED")]
    assert "\x00" not in output and "\x1b" not in output
    assert "exp_x\\nERROR humanloop_mock: FORGED line\\x00\\x1b[2J" in output  # escaped, on one line
    assert any("chat-experiment" in line and "200" in line for line in lines)  # the access log is on


def test_keys_can_come_from_the_environment(tmp_path: Path) -> None:
    with serve_logged(tmp_path, "--log-level", "warning",
                      env={"HUMANLOOP_MOCK_API_KEYS": f"{SECRET} other-key"}) as (url, _process, log), \
            httpx.Client(base_url=url, timeout=10) as client:
        body = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hi"}]}
        assert client.post("/chat-experiment", headers={"X-API-KEY": SECRET}, json=body).status_code == 200
        assert client.post("/chat-experiment", headers={"X-API-KEY": "other-key"}, json=body).status_code == 200
        assert client.post("/chat-experiment", headers={"X-API-KEY": "any"}, json=body).status_code == 401
    assert SECRET not in log.read_text()


def test_key_check_compares_every_key_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit and no length or prefix leak: the sent key's hash is compared (with
    `hmac.compare_digest`) against every configured key's hash, whichever key it is."""
    from mockserver.world import auth

    calls: list[tuple[int, int]] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    keys = ("first-key", "second", "a-much-longer-third-key")
    for sent, expected in [("first-key", True), ("a-much-longer-third-key", True), ("f", False), ("", False)]:
        calls.clear()
        assert auth.key_matches(sent, keys) is expected
        assert calls == [(32, 32)] * len(keys)
    # A non-ASCII key is sent as UTF-8; header values arrive decoded as latin-1.
    assert auth.key_matches("é".encode().decode("latin-1"), ("é",))
    assert not auth.key_matches("é", ("é",))


def test_every_serve_flag_is_documented() -> None:
    from mockserver.cli import serve

    flags = {opt for param in serve.params for opt in param.opts if opt.startswith("--")}
    table = (Path(__file__).resolve().parents[2] / "docs" / "server.md").read_text()
    missing = sorted(flag for flag in flags if f"| `{flag}`" not in table)
    assert not missing, f"not in docs/server.md's flag table: {missing}"
