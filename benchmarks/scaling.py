"""Chat throughput through HAProxy with 1, 2 and 4 `serve --isolate-keys` backends, next to one server alone.

Every configuration gets the same load: `wrk` (one thread, loopback only) posting the demo chat request,
each request with the next of `--keys` distinct X-API-KEY values (a Lua script rotates them), so the
proxy spreads tenants over the backends as it would spread CI jobs. Configurations alternate for
`--rounds` rounds; medians are reported, with each proxied run's share of requests per backend (from
HAProxy's stats socket). Also measured: HAProxy alone answering a body of the same size itself, the
most this machine's proxy could pass on with no backend work at all. Besides requests/s (which on a
shared 2-core machine depend on whatever else runs), each run reports the CPU time the mock processes
and HAProxy used per request (from /proc): the figures the scaling model in docs/performance.md uses.

    python -m benchmarks.scaling [--seconds 8] [--rounds 3] [--keys 1000] [--connections 64]
                                 [--only one proxy1 proxy2 proxy4 alone]

Needs `wrk` and `haproxy` (Debian: apt-get install -y wrk haproxy). Runs stop themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.scaling import backend_stats, free_port, running

CHAT_BODY = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Summarise our Q3 results."}]}
SERVE_ARGS = ("--max-tenants", "4096", "--log-level", "warning")  # every key keeps its world: no evictions
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: (.*)")
_URL = re.compile(r"at (http://127\.0\.0\.1:\d+)/v4")
_COUNT = re.compile(r"(\d+) requests in")
_TICKS = os.sysconf("SC_CLK_TCK")
SHORT_NAMES = {"one": "one server, no proxy", "proxy1": "HAProxy + 1 backend", "proxy2": "HAProxy + 2 backends",
               "proxy4": "HAProxy + 4 backends", "alone": "HAProxy alone (answers itself)"}
SHORT_NAMES_BY_TITLE = {title: short for short, title in SHORT_NAMES.items()}


@dataclass
class Running:
    """One configuration under test: where to send requests, and which processes do the work."""

    root: str
    mock_pids: list[int] = field(default_factory=list)
    proxy_pid: int | None = None
    state_dir: Path | None = None  # run.sh's, for HAProxy's stats socket


Started = AbstractContextManager[Running]


def wrk_script(keys: int, path: str, body: bytes) -> str:
    """A wrk Lua script: POST `body` to `path`, each request with the next of `keys` tenant keys."""
    return "\n".join([
        f"local keys = {keys}",
        "local counter = 0",
        f"local body = {json.dumps(body.decode())}",
        'local headers = {["Content-Type"] = "application/json"}',
        "request = function()",
        "  counter = counter + 1",
        '  headers["X-API-KEY"] = "tenant-" .. (counter % keys)',
        f'  return wrk.format("POST", "{path}", headers, body)',
        "end",
        "",
    ])


@dataclass
class WrkRun:
    rate: float
    requests: int
    non_2xx: int
    socket_errors: str
    cpu_seconds: float  # wrk's own


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def wrk(root: str, script: str, seconds: int, connections: int) -> WrkRun:
    """Run wrk once: rate, requests completed, answers that were not 2xx, socket errors (if any)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, root]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.unlink(handle.name)
    rate, count = _RATE.search(output), _COUNT.search(output)
    errors, socket_errors = _ERRORS.search(output), _SOCKET_ERRORS.search(output)
    if rate is None or count is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return WrkRun(float(rate.group(1)), int(count.group(1)), int(errors.group(1)) if errors else 0,
                  socket_errors.group(1) if socket_errors else "",
                  after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)


@contextmanager
def one_server() -> Iterator[Running]:
    """`humanloop-mock serve --isolate-keys` on its own, no proxy."""
    command = [str(Path(sys.executable).parent / "humanloop-mock"), "serve", "--isolate-keys", "--port", "0",
               *SERVE_ARGS]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if match := _URL.search(line):
                yield Running(match.group(1), mock_pids=[process.pid])
                break
        else:
            raise RuntimeError("serve did not start")
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout:
            process.stdout.close()


def behind_proxy(count: int) -> Callable[[], Started]:
    @contextmanager
    def start() -> Iterator[Running]:
        with tempfile.TemporaryDirectory() as state_dir, \
                running(count, *SERVE_ARGS, env={"HUMANLOOP_MOCK_SCALING_DIR": state_dir}) as deployment:
            yield Running(deployment.root_url, [b.pid for b in deployment.backends], deployment.proxy_pid,
                          Path(state_dir))

    return start


@contextmanager
def proxy_alone(body: bytes) -> Iterator[Running]:
    """HAProxy answering every request itself with `body`: the proxy's own ceiling on this machine."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "answer.json").write_bytes(body)
        port = free_port()
        config = Path(folder) / "haproxy.cfg"
        config.write_text("\n".join([
            "global", "    maxconn 4000",
            "defaults", "    mode http", "    timeout connect 1s", "    timeout client 30s", "    timeout server 30s",
            "frontend alone", f"    bind 127.0.0.1:{port}",
            f"    http-request return status 200 content-type application/json file {folder}/answer.json",
            "",
        ]))
        process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError("haproxy did not start") from None
                    time.sleep(0.05)
            yield Running(f"http://127.0.0.1:{port}", proxy_pid=process.pid)
        finally:
            process.terminate()
            process.wait(10)


def requests_per_backend(state_dir: Path) -> list[int]:
    """How many requests HAProxy has sent to each backend server so far (`lbtot` in `show stat`)."""
    return [int(row["lbtot"] or 0) for row in backend_stats(state_dir).values()]


def shares(before: list[int], after: list[int]) -> list[float]:
    sent = [b - a for a, b in zip(before, after, strict=True)]
    return [round(n / (sum(sent) or 1), 3) for n in sent]


def chat_answer_bytes() -> bytes:
    with one_server() as started:
        response = httpx.post(started.root + "/v4/chat-experiment", json=CHAT_BODY, headers={"X-API-KEY": "size"})
        response.raise_for_status()
        return response.content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8, help="length of each measured run")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured run first (creates the tenants' worlds)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=1000, help="distinct X-API-KEY values, rotated per request")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--only", nargs="+", choices=list(SHORT_NAMES), help="measure only these configurations")
    args = parser.parse_args()
    for tool in ("wrk", "haproxy"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (Debian: apt-get install -y {tool})")

    body = json.dumps(CHAT_BODY).encode()
    chat_script = wrk_script(args.keys, "/v4/chat-experiment", body)
    answer = chat_answer_bytes()
    targets: dict[str, Callable[[], Started]] = {
        "one server, no proxy": one_server,
        "HAProxy + 1 backend": behind_proxy(1),
        "HAProxy + 2 backends": behind_proxy(2),
        "HAProxy + 4 backends": behind_proxy(4),
        "HAProxy alone (answers itself)": lambda: proxy_alone(answer),
    }
    if args.only:
        targets = {name: start for name, start in targets.items() if SHORT_NAMES_BY_TITLE[name] in args.only}
    rates: dict[str, list[float]] = {name: [] for name in targets}
    mock_us: dict[str, list[float]] = {name: [] for name in targets}
    proxy_us: dict[str, list[float]] = {name: [] for name in targets}
    wrk_us: list[float] = []
    spread: dict[str, list[list[float]]] = {name: [] for name in targets}
    failures: dict[str, int] = dict.fromkeys(targets, 0)
    socket_errors: list[str] = []
    for round_number in range(args.rounds):
        order = list(targets) if round_number % 2 == 0 else list(reversed(targets))  # drift hits all alike
        for name in order:
            with targets[name]() as started:
                wrk(started.root, chat_script, args.warmup, args.connections)
                before = requests_per_backend(started.state_dir) if started.state_dir else []
                mock_cpu = sum(cpu_seconds(pid) for pid in started.mock_pids)
                proxy_cpu = cpu_seconds(started.proxy_pid) if started.proxy_pid else 0.0
                run = wrk(started.root, chat_script, args.seconds, args.connections)
                mock_cpu = sum(cpu_seconds(pid) for pid in started.mock_pids) - mock_cpu
                proxy_cpu = (cpu_seconds(started.proxy_pid) if started.proxy_pid else 0.0) - proxy_cpu
                if started.state_dir:
                    spread[name].append(shares(before, requests_per_backend(started.state_dir)))
            rates[name].append(run.rate)
            if started.mock_pids:
                mock_us[name].append(1e6 * mock_cpu / max(run.requests, 1))
            if started.proxy_pid:
                proxy_us[name].append(1e6 * proxy_cpu / max(run.requests, 1))
            wrk_us.append(1e6 * run.cpu_seconds / max(run.requests, 1))
            failures[name] += run.non_2xx
            if run.socket_errors:
                socket_errors.append(f"{name}: {run.socket_errors}")
            print(f"round {round_number + 1} {name}: {run.rate:,.0f} req/s", file=sys.stderr, flush=True)

    direct = statistics.median(rates.get("one server, no proxy") or [float("nan")])
    results = {
        name: {
            "requests_per_s": round(statistics.median(values)),
            "ratio_to_one_server": round(statistics.median(values) / direct, 3),
            "runs": [round(v) for v in values],
            "mock_cpu_us_per_request": round(statistics.median(mock_us[name]), 1) if mock_us[name] else None,
            "haproxy_cpu_us_per_request": round(statistics.median(proxy_us[name]), 1) if proxy_us[name] else None,
            "backend_shares_last_run": spread[name][-1] if spread[name] else None,
            "non_2xx": failures[name],
        }
        for name, values in rates.items()
    }
    print(json.dumps({"results": results, "wrk_cpu_us_per_request": round(statistics.median(wrk_us), 1),
                      "socket_errors": socket_errors, "keys": args.keys,
                      "connections": args.connections, "seconds": args.seconds, "rounds": args.rounds,
                      "cores": os.cpu_count(), "load_average_at_end": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
