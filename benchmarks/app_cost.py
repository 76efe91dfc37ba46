"""The app's own CPU per chat answer, in process: no sockets, no server, no other process.

    python -m benchmarks.app_cost [--calls 2000] [--rounds 7]

Drives the ASGI apps directly with a fake scope, `receive` and `send`: `create_app()` with `serve`'s
defaults (access log on, written to nowhere) answering `POST /v4/chat-experiment` as JSON and as SSE,
and the bare Starlette app (`benchmarks/baseline_app.py`) answering its constant JSON. The three take
turns, `--calls` each per round; printed are the µs per call (median of the rounds) and each ratio to
bare (bare's µs over the mock's, the median of the per-round ratios), the same sense as
`benchmarks.throughput`'s ratios. The server's share (uvicorn, the connection layer) is not in these
figures: this tells the app's changes apart from noise on a shared machine; `benchmarks.throughput`
says what a client sees.

    python -m benchmarks.app_cost --instructions [--calls 1000]

counts instead of timing: the CPU instructions per call of each case, under valgrind's cachegrind. Each
case runs twice in a process of its own (`--only CASE`), with 200 calls and with 200 + `--calls`; the
difference over `--calls` leaves out start-up, imports and the first calls' memo building. A count does
not move with the machine's load (the same tree gives the same count to about 0.01%), so it tells a cut
of a fraction of a microsecond apart where timing cannot; it does not see what a cache miss costs.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.baseline_app import app as bare_app
from benchmarks.throughput import CHAT_BODY, STREAM_BODY
from mockserver.app import create_app
from mockserver.settings import MockSettings

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
CASES = ("bare", "json", "sse")
WARM_CALLS = 200  # calls in the shorter of `--instructions`' two runs


def _scope(path: str, body: bytes) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"content-length", str(len(body)).encode()),
               (b"content-type", b"application/json"), (b"x-api-key", b"bench")]  # (as `benchmarks.load` sends)
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 40000), "scheme": "http", "method": "POST",
            "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers,
            "state": {}}


async def _call(app: App, path: str, body: bytes) -> int:
    """One request through `app`; the number of body bytes it answered (to check it answered well)."""
    sent, status = 0, 0
    request = {"type": "http.request", "body": body, "more_body": False}
    disconnect: asyncio.Future[dict[str, Any]] | None = None

    async def receive() -> dict[str, Any]:
        nonlocal request, disconnect
        if request is not None:
            message, request = request, None
            return message
        disconnect = asyncio.get_running_loop().create_future()
        return await disconnect  # (never set: the client stays)

    async def send(message: dict[str, Any]) -> None:
        nonlocal sent, status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            sent += len(message.get("body", b""))

    await app(_scope(path, body), receive, send)
    if status != 200:
        raise RuntimeError(f"{path} answered {status}")
    return sent


async def _timed(app: App, path: str, body: bytes, calls: int) -> float:
    """µs of process CPU per call over `calls` calls."""
    start = time.process_time()
    for _ in range(calls):
        await _call(app, path, body)
    return 1e6 * (time.process_time() - start) / calls


def _cases() -> tuple[Any, dict[str, tuple[App, str, bytes]]]:
    """The mock app (its access log written to nowhere) and each case's (app, path, body)."""
    mock = create_app(MockSettings(access_log=True))
    mock.state.access_log.stream = io.StringIO()  # (emptied now and then by the callers)
    json_body, sse_body = json.dumps(CHAT_BODY).encode(), json.dumps(STREAM_BODY).encode()
    return mock, {"bare": (bare_app, "/v4/constant", json_body),
                  "json": (mock, "/v4/chat-experiment", json_body),
                  "sse": (mock, "/v4/chat-experiment", sse_body)}


async def only(case: str, calls: int) -> int:
    """`calls` calls of one case, untimed (what `--instructions` counts); the body bytes answered."""
    mock, cases = _cases()
    app, path, body = cases[case]
    sent = 0
    for number in range(calls):
        if number % 500 == 0:
            mock.state.access_log.stream = io.StringIO()
        sent += await _call(app, path, body)
    return sent


def instructions(valgrind_output: str) -> int:
    """The instructions cachegrind counted (its `I refs` line)."""
    found = re.search(r"I\s+refs:\s+([\d,]+)", valgrind_output)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {valgrind_output[-500:]}")
    return int(found.group(1).replace(",", ""))


def _counted(case: str, calls: int) -> int:
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               sys.executable, "-m", "benchmarks.app_cost", "--only", case, "--calls", str(calls)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1],
                          env={**os.environ, "PYTHONHASHSEED": "0"})  # (the same dict layouts every run)
    return instructions(done.stderr)


def count(calls: int) -> dict[str, Any]:
    """Instructions per call of each case (see the module doc), and the ratios to bare."""
    per_call = {case: (_counted(case, WARM_CALLS + calls) - _counted(case, WARM_CALLS)) // calls for case in CASES}
    result: dict[str, Any] = {"calls": calls, "instructions_per_call": per_call}
    for name in ("json", "sse"):
        result[f"{name}_ratio_to_bare"] = round(per_call["bare"] / per_call[name], 3)
    return result


async def run(calls: int, rounds: int) -> dict[str, Any]:
    mock, cases = _cases()
    for app, path, body in cases.values():  # warm-up: imports, memo tables, templates
        await _timed(app, path, body, max(1, calls // 10))
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (app, path, body) in cases.items():
            times[name].append(await _timed(app, path, body, calls))
        mock.state.access_log.stream = io.StringIO()
    result: dict[str, Any] = {"calls": calls, "rounds": rounds,
                              "us_per_call": {name: round(statistics.median(t), 1) for name, t in times.items()}}
    for name in ("json", "sse"):
        per_round = [b / m for b, m in zip(times["bare"], times[name], strict=True)]
        result[f"{name}_ratio_to_bare"] = round(statistics.median(per_round), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, help="calls of each app per round (2000); with --instructions, "
                        "counted calls of each (1000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (each app takes a turn in each)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per call under valgrind instead of timing")
    parser.add_argument("--only", choices=CASES, help=argparse.SUPPRESS)  # (one case, untimed: `--instructions`)
    args = parser.parse_args()
    if args.only:
        asyncio.run(only(args.only, args.calls or 1))
    elif args.instructions:
        print(json.dumps(count(args.calls or 1000), indent=2))
    else:
        print(json.dumps(asyncio.run(run(args.calls or 2000, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
