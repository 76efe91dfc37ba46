"""Start `examples/scaling/run.sh` (HAProxy in front of N `serve --isolate-keys` processes) and stop it.

Used by tests/server/test_scaling.py and benchmarks/scaling.py. The script runs as it would in CI: in a
session of its own (no terminal), with standard input closed, and `humanloop-mock` taken from PATH
(this interpreter's environment first, so the checkout under test is what serves).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_SH = ROOT / "examples" / "scaling" / "run.sh"
# Where run.sh looks for haproxy: PATH, then the sbin folders a non-root PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
_PROXY = re.compile(r"^\s*proxy 127\.0\.0\.1:(\d+) pid (\d+)$")
_BACKEND = re.compile(r"^\s*backend (\S+) 127\.0\.0\.1:(\d+) pid (\d+)$")


@dataclass(frozen=True)
class Backend:
    name: str
    port: int
    pid: int

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Deployment:
    """A running run.sh: its process, what it printed, the proxy and the backends it reported."""

    process: subprocess.Popen[str]
    port: int
    output: list[str] = field(default_factory=list)
    proxy_pid: int = 0
    backends: list[Backend] = field(default_factory=list)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/v4"

    def text(self) -> str:
        return "".join(self.output)

    def pids(self) -> list[int]:
        return [pid for pid in (self.proxy_pid, *(b.pid for b in self.backends)) if pid]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return not Path("/proc").is_dir()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), **(extra or {})}


def _default_sigint() -> None:
    # A test runner may ignore SIGINT in its workers; the script must see Ctrl-C as a terminal would send it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def launch(count: int, *serve_args: str, env: dict[str, str] | None = None,
           port: int | None = None) -> Deployment:
    """Start run.sh with stdin closed in a new session; return at once (see `wait_ready`)."""
    port = port or free_port()
    command = ["bash", "-c", 'exec "$0" "$@" <&-', str(RUN_SH), str(count), str(port), *serve_args]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=_environment(env), start_new_session=True,
                               preexec_fn=_default_sigint)
    deployment = Deployment(process, port)
    threading.Thread(target=_drain, args=(deployment,), daemon=True).start()
    return deployment


def _drain(deployment: Deployment) -> None:
    assert deployment.process.stdout is not None
    with deployment.process.stdout:
        for line in deployment.process.stdout:
            deployment.output.append(line)


def wait_ready(deployment: Deployment, timeout: float = 45.0) -> Deployment:
    deadline = time.monotonic() + timeout
    while not any(line.startswith("ready: ") for line in deployment.output):
        if deployment.process.poll() is not None or time.monotonic() > deadline:
            time.sleep(0.2)  # let the reader thread collect the last lines
            raise RuntimeError(f"run.sh did not get ready (exit {deployment.process.poll()}):\n{deployment.text()}")
        time.sleep(0.05)
    return parse_started(deployment)


def parse_started(deployment: Deployment) -> Deployment:
    """Read the proxy and backends run.sh reported (each line printed as soon as that process is up)."""
    deployment.backends = []
    for line in list(deployment.output):
        if match := _PROXY.match(line):
            deployment.proxy_pid = int(match.group(2))
        elif match := _BACKEND.match(line):
            deployment.backends.append(Backend(match.group(1), int(match.group(2)), int(match.group(3))))
    return deployment


def stop(deployment: Deployment, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
    """Send `sig` to run.sh and wait for it; return its exit status."""
    if deployment.process.poll() is None:
        deployment.process.send_signal(sig)
    try:
        return deployment.process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(deployment.process.pid, signal.SIGKILL)  # never leave a test's processes behind
        deployment.process.wait()
        raise


@contextmanager
def running(count: int, *serve_args: str, env: dict[str, str] | None = None) -> Iterator[Deployment]:
    deployment = launch(count, *serve_args, env=env)
    try:
        yield wait_ready(deployment)
    finally:
        stop(deployment)
        for pid in deployment.pids():
            if alive(pid) and _ours(pid):  # a failed test must not leave processes behind either
                os.kill(pid, signal.SIGKILL)


def _ours(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"humanloop-mock" in command or b"haproxy" in command


def backend_stats(state_dir: Path) -> dict[str, dict[str, str]]:
    """HAProxy's `show stat` for the mock servers behind it, by server name, in HAProxy's order (via the
    stats socket run.sh sets up)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(state_dir / "haproxy.sock"))
        sock.sendall(b"show stat\n")
        data = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    header, *rows = [line for line in data.splitlines() if line]
    names = header.lstrip("# ").split(",")
    table = [dict(zip(names, row.split(","), strict=False)) for row in rows]
    return {row["svname"]: row for row in table
            if row["pxname"] == "mocks" and row["svname"] not in ("BACKEND", "FRONTEND")}
