"""Chat-experiment throughput against a bare Starlette baseline, in one run, same server settings.

Each app runs in its own uvicorn process (one worker, pinned to core 0 when `taskset` exists) and
`wrk` (pinned to core 1) drives it over loopback for a fixed time. Reported: JSON requests/s
(num_samples=1), SSE streams/s, and each as a ratio to the bare endpoint measured in the same run.

    python -m benchmarks.throughput [--seconds 10] [--connections 32]

Needs `wrk` (Debian: `apt-get install -y wrk`). Traffic goes to 127.0.0.1 only; the run stops itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAT_BODY = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Summarise our Q3 results."}]}
MOCK_FACTORY = "mockserver.app:create_app"
BARE_APP = "benchmarks.baseline_app:app"
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pinned(command: list[str], core: int) -> list[str]:
    return ["taskset", "-c", str(core), *command] if shutil.which("taskset") and os.cpu_count() >= 2 else command


def start_server(target: str, port: int, factory: bool) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log", "--workers", "1", *(["--factory"] if factory else [])]
    process = subprocess.Popen(pinned(command, 0), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{target} did not start: {process.stderr.read().decode() if process.stderr else ''}")


def wrk(url: str, body: dict | None, seconds: int, connections: int) -> tuple[float, int]:
    """Requests per second, and how many answers were not 2xx."""
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"',
             'wrk.headers["X-API-KEY"] = "bench"', f"wrk.body = {json.dumps(json.dumps(body or {}))}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    command = pinned(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url], 1)
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    os.unlink(script.name)
    rate = _RATE.search(output)
    errors = _ERRORS.search(output)
    if rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return float(rate.group(1)), int(errors.group(1)) if errors else 0


def measure(target: str, path: str, body: dict | None, seconds: int, connections: int) -> tuple[float, int]:
    port = free_port()
    server = start_server(target, port, factory=target == MOCK_FACTORY)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        wrk(url, body, 1, connections)  # warm-up
        return wrk(url, body, seconds, connections)
    finally:
        server.terminate()
        server.wait(timeout=10)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="bare/JSON/SSE runs alternate this many times")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk)")
    runs: dict[str, list[float]] = {"bare": [], "json": [], "sse": []}
    failures = 0
    for _ in range(args.rounds):  # interleaved, so drift on a noisy machine hits all three alike
        runs["bare"].append(measure(BARE_APP, "/v4/constant", None, args.seconds, args.connections)[0])
        rate, errors = measure(MOCK_FACTORY, "/v4/chat-experiment", CHAT_BODY, args.seconds, args.connections)
        runs["json"].append(rate)
        failures += errors
        rate, errors = measure(MOCK_FACTORY, "/v4/chat-experiment", {**CHAT_BODY, "stream": True}, args.seconds,
                               args.connections)
        runs["sse"].append(rate)
        failures += errors
    bare, chat, sse = (median(runs[name]) for name in ("bare", "json", "sse"))
    results = {
        "bare_starlette_json_rps": round(bare, 1),
        "chat_experiment_json_rps": round(chat, 1),
        "chat_experiment_sse_streams_per_s": round(sse, 1),
        "json_ratio_to_bare": round(chat / bare, 3),
        "sse_ratio_to_bare": round(sse / bare, 3),
        "json_ratio_per_round": [round(c / b, 3) for c, b in zip(runs["json"], runs["bare"], strict=True)],
        "non_2xx": failures,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
