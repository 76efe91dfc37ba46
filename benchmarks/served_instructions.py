"""CPU instructions the server process spends per served request, counted under valgrind's cachegrind.

    python -m benchmarks.served_instructions [--revision NAME=DIR]... [--requests 1000]

`benchmarks.throughput`'s servers (the bare Starlette endpoint, `humanloop-mock serve` as the README starts
it, and the same from other checkouts), each run twice under cachegrind: once answering 200 requests and
once 200 + `--requests`, one keep-alive connection from this process, one request at a time. The
difference over the extra requests is the server's instructions per request: start-up, imports and the
first requests' memo building cancel out. Printed: each server's count and its ratio to bare's (bare's
count over the server's, as `benchmarks.throughput`'s ratios), JSON and SSE for the mock.

A count does not move with the machine's load, where a timed run on a shared machine can halve between
rounds; it counts user-space instructions only (not the kernel's share of a send, nor cache misses), so it
answers "does this tree do more work than that one", and `benchmarks.throughput` what a client sees.
Needs valgrind (Debian: `apt-get install -y valgrind`); each run takes a minute or so.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.app_cost import instructions
from benchmarks.servers import ServerCommand, bare_starlette, free_port, mock_serve
from benchmarks.throughput import CHAT_BODY, STREAM_BODY

WARM_REQUESTS = 200
HEADERS = {"Content-Type": "application/json", "X-API-KEY": "bench"}


def _counted(server: ServerCommand, body: dict[str, Any], requests: int) -> int:
    """Instructions the server's process ran, from start to exit, answering `requests` requests."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "cachegrind.txt"
        command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                   f"--log-file={log}", *server.command(port)]
        process = subprocess.Popen(command, cwd=server.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONHASHSEED": "0"}, start_new_session=True)
        try:
            connection = _connect(port, process)
            data = json.dumps(body).encode()
            for _ in range(requests):
                connection.request("POST", server.path, data, HEADERS)
                answer = connection.getresponse()
                answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"{server.name} answered {answer.status}")
            connection.close()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=300)  # (valgrind writes its count as the process exits)
        return instructions(log.read_text())


def _connect(port: int, process: subprocess.Popen[bytes], timeout: float = 300) -> http.client.HTTPConnection:
    deadline = time.monotonic() + timeout  # (a Python server starts some 30 times slower under valgrind)
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.connect()
            return connection
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {port} did not start under valgrind") from None
            time.sleep(0.2)


def per_request(server: ServerCommand, body: dict[str, Any], requests: int) -> int:
    return (_counted(server, body, WARM_REQUESTS + requests) - _counted(server, body, WARM_REQUESTS)) // requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests counted per server")
    parser.add_argument("--revision", action="append", default=[], metavar="NAME=DIR",
                        help="also count `serve` from this checkout (repeatable)")
    args = parser.parse_args()
    cases: list[tuple[str, ServerCommand, dict[str, Any]]] = [("bare", bare_starlette(), CHAT_BODY)]
    for name, checkout in [("main", None), *(r.split("=", 1) for r in args.revision)]:
        server = mock_serve() if checkout is None else mock_serve(checkout=Path(checkout))
        prefix = "" if checkout is None else f"{name}:"
        cases += [(f"{prefix}json", server, CHAT_BODY), (f"{prefix}sse", server, STREAM_BODY)]
    counts = {}
    for name, server, body in cases:
        counts[name] = per_request(server, body, args.requests)
        print(f"{name}: {counts[name]:,} instructions per request", flush=True)
    print(json.dumps({"requests": args.requests, "instructions_per_request": counts,
                      "ratio_to_bare": {name: round(counts["bare"] / count, 3) for name, count in counts.items()
                                        if name != "bare"}}, indent=2))


if __name__ == "__main__":
    main()
