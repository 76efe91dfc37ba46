"""Start the servers a benchmark compares, each in its own process, and stop them again.

Servers run pinned to core 0 and load generators to core 1 (when `taskset` exists and there are two
cores), so the two do not fight over one core. Every server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_CORE = 0
CLIENT_CORE = 1
BARE_APP = "benchmarks.baseline_app:app"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(command: list[str], core: int) -> list[str]:
    """`command` run on one core, when the machine has two and `taskset` is there."""
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(core), *command]
    return command


@dataclass(frozen=True)
class ServerCommand:
    """How to start one server on a given port, and the URL path its benchmark request goes to."""

    name: str
    argv: tuple[str, ...]  # with "{port}" where the port goes
    path: str
    start_timeout: float = 30.0
    cwd: Path = ROOT  # where it runs: the `mockserver` package imported is the one found there first

    def command(self, port: int) -> list[str]:
        return [part.replace("{port}", str(port)) for part in self.argv]


def bare_starlette() -> ServerCommand:
    """The stack's ceiling: a constant JSON endpoint under uvicorn, nothing logged."""
    return ServerCommand("bare", (sys.executable, "-m", "uvicorn", BARE_APP, "--host", "127.0.0.1", "--port",
                                  "{port}", "--log-level", "warning", "--no-access-log", "--workers", "1"),
                         "/v4/constant")


def bare_on_mock_protocol() -> ServerCommand:
    """The same bare app on the mock's own uvicorn protocol (see benchmarks.bare_on_mock_protocol)."""
    return ServerCommand("bare_mock_protocol", (sys.executable, "-m", "benchmarks.bare_on_mock_protocol", "{port}"),
                         "/v4/constant")


def mock_serve(*extra: str, checkout: Path = ROOT) -> ServerCommand:
    """`humanloop-mock serve` exactly as the README starts it (plus only the port, and `extra`), from
    this checkout or another one (another revision, to compare in the same run)."""
    return ServerCommand("mock", (sys.executable, "-m", "mockserver.cli", "serve", "--port", "{port}", *extra),
                         "/v4/chat-experiment", cwd=checkout)


@dataclass(frozen=True)
class Running:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server process has used so far (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def running(server: ServerCommand, log: Path | None = None) -> Iterator[Running]:
    """The server (its base URL and process) while it runs; its output goes to `log` (a throw-away
    file by default), as it would when a CI job redirects it."""
    port = free_port()
    with contextlib.ExitStack() as stack:
        if log is None:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / f"{server.name}.log"
        output = stack.enter_context(log.open("wb"))
        process = subprocess.Popen(pinned(server.command(port), SERVER_CORE), cwd=server.cwd, stdout=output,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_for_port(port, process, server.start_timeout, log)
            yield Running(f"http://127.0.0.1:{port}", process.pid)  # taskset execs: the same process
        finally:
            _stop(process)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start:\n{log.read_text(errors='replace')[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and anything it started (npx starts node in a child process)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, 15)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        process.wait(timeout=10)
