"""Chat throughput through HAProxy with 1, 2 and 4 `serve --isolate-keys` backends, next to one server alone.

Every configuration gets the same load: `wrk` (one thread, loopback only) posting the demo chat request,
each request with the next of `--keys` distinct X-API-KEY values (a Lua script rotates them), so the
proxy spreads tenants over the backends as it would spread CI jobs. Configurations alternate for
`--rounds` rounds; medians are reported, with each proxied run's share of requests per backend (from
HAProxy's stats socket). Also measured: HAProxy alone answering a body of the same size itself, the
most this machine's proxy could pass on with no backend work at all.

    python -m benchmarks.scaling [--seconds 8] [--rounds 3] [--keys 1000] [--connections 64]

Needs `wrk` and `haproxy` (Debian: apt-get install -y wrk haproxy). Runs stop themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx

from tests.helpers_scaling import free_port, running

CHAT_BODY = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Summarise our Q3 results."}]}
SERVE_ARGS = ("--max-tenants", "4096", "--log-level", "warning")  # every key keeps its world: no evictions
_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: (.*)")
_URL = re.compile(r"at (http://127\.0\.0\.1:\d+)/v4")
Started = AbstractContextManager[tuple[str, Path | None]]  # (root URL, HAProxy state folder or None)


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


def wrk(root: str, script: str, seconds: int, connections: int) -> tuple[float, int, str]:
    """Requests per second, how many answers were not 2xx, and socket errors (if any)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, root]
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(handle.name)
    rate, errors, socket_errors = _RATE.search(output), _ERRORS.search(output), _SOCKET_ERRORS.search(output)
    if rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    return float(rate.group(1)), int(errors.group(1)) if errors else 0, socket_errors.group(1) if socket_errors else ""


@contextmanager
def one_server() -> Iterator[tuple[str, Path | None]]:
    """`humanloop-mock serve --isolate-keys` on its own, no proxy."""
    command = [str(Path(sys.executable).parent / "humanloop-mock"), "serve", "--isolate-keys", "--port", "0",
               *SERVE_ARGS]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if match := _URL.search(line):
                yield match.group(1), None
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
    def start() -> Iterator[tuple[str, Path | None]]:
        with tempfile.TemporaryDirectory() as state_dir, \
                running(count, *SERVE_ARGS, env={"HUMANLOOP_MOCK_SCALING_DIR": state_dir}) as deployment:
            yield deployment.root_url, Path(state_dir)

    return start


@contextmanager
def proxy_alone(body: bytes) -> Iterator[tuple[str, Path | None]]:
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
            yield f"http://127.0.0.1:{port}", None
        finally:
            process.terminate()
            process.wait(10)


def requests_per_backend(state_dir: Path) -> list[int]:
    """How many requests HAProxy has sent to each backend server so far (`lbtot` in `show stat`)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(state_dir / "haproxy.sock"))
        sock.sendall(b"show stat\n")
        data = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    header, *rows = [line for line in data.splitlines() if line]
    names = header.lstrip("# ").split(",")
    return [int(row["lbtot"] or 0) for row in (dict(zip(names, r.split(","), strict=False)) for r in rows)
            if row["pxname"] == "mocks" and row["svname"] not in ("BACKEND", "FRONTEND")]


def shares(before: list[int], after: list[int]) -> list[float]:
    sent = [b - a for a, b in zip(before, after, strict=True)]
    return [round(n / (sum(sent) or 1), 3) for n in sent]


def chat_answer_bytes() -> bytes:
    with one_server() as (root, _):
        response = httpx.post(root + "/v4/chat-experiment", json=CHAT_BODY, headers={"X-API-KEY": "size"})
        response.raise_for_status()
        return response.content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8, help="length of each measured run")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured run first (creates the tenants' worlds)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keys", type=int, default=1000, help="distinct X-API-KEY values, rotated per request")
    parser.add_argument("--connections", type=int, default=64)
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
    rates: dict[str, list[float]] = {name: [] for name in targets}
    spread: dict[str, list[list[float]]] = {name: [] for name in targets}
    failures: dict[str, int] = dict.fromkeys(targets, 0)
    socket_errors: list[str] = []
    for round_number in range(args.rounds):
        order = list(targets) if round_number % 2 == 0 else list(reversed(targets))  # drift hits all alike
        for name in order:
            with targets[name]() as (root, state_dir):
                wrk(root, chat_script, args.warmup, args.connections)
                before = requests_per_backend(state_dir) if state_dir else []
                rate, errors, sock_errors = wrk(root, chat_script, args.seconds, args.connections)
                if state_dir:
                    spread[name].append(shares(before, requests_per_backend(state_dir)))
            rates[name].append(rate)
            failures[name] += errors
            if sock_errors:
                socket_errors.append(f"{name}: {sock_errors}")
            print(f"round {round_number + 1} {name}: {rate:,.0f} req/s", file=sys.stderr, flush=True)

    direct = statistics.median(rates["one server, no proxy"])
    results = {
        name: {
            "requests_per_s": round(statistics.median(values)),
            "ratio_to_one_server": round(statistics.median(values) / direct, 3),
            "runs": [round(v) for v in values],
            "backend_shares_last_run": spread[name][-1] if spread[name] else None,
            "non_2xx": failures[name],
        }
        for name, values in rates.items()
    }
    print(json.dumps({"results": results, "socket_errors": socket_errors, "keys": args.keys,
                      "connections": args.connections, "seconds": args.seconds, "rounds": args.rounds,
                      "cores": os.cpu_count(), "load_average_after": os.getloadavg()}, indent=2))


if __name__ == "__main__":
    main()
