"""Chat-experiment throughput against a bare Starlette endpoint, with the server's defaults, in one run.

    python -m benchmarks.throughput [--seconds 8] [--rounds 5] [--connections 32] [--streams 10000]

The mock is started exactly as the README starts it (`humanloop-mock serve`, only the port added;
its log goes to a file, as under CI). The baseline is a bare Starlette app answering constant JSON
under uvicorn with no access log: the stack's ceiling. Each server runs in its own process pinned to
core 0, and `wrk` (one thread, pinned to core 1) drives it over loopback. The servers alternate
every round, so drift on a noisy machine hits all of them alike; figures are medians of the rounds.

Printed: JSON requests/s (`num_samples` 1) and SSE streams/s, each as a ratio to the bare endpoint's
requests/s (the median of the per-round ratios; also by server CPU per response); Prism and
Mockoon on the upstream document (npm, installed outside the repository; skipped with a message
without node); and one run of N concurrent streams from one client process.

Needs `wrk` (Debian: `apt-get install -y wrk`). Traffic goes to 127.0.0.1 only; every run stops itself.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

from benchmarks import npm_mocks
from benchmarks.load import have_wrk, wrk
from benchmarks.servers import (
    CLIENT_CORE,
    ROOT,
    ServerCommand,
    bare_on_mock_protocol,
    bare_starlette,
    mock_serve,
    pinned,
    running,
)

CHAT_BODY = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Summarise our Q3 results."}]}
STREAM_BODY = {**CHAT_BODY, "stream": True}


def measure(server: ServerCommand, body: dict[str, Any], seconds: int, connections: int
            ) -> tuple[float, int, float]:
    """(responses/s, failed responses, server CPU µs per response) of one fresh server process under `wrk`."""
    with running(server) as process:
        wrk(process.url + server.path, body, 1, connections)  # warm-up (memo tables, templates, page cache)
        cpu_before = process.cpu_seconds()
        result = wrk(process.url + server.path, body, seconds, connections)
        cpu = process.cpu_seconds() - cpu_before
    return result.rate, result.failures, 1e6 * cpu / max(1.0, result.rate * seconds)


def concurrency(server: ServerCommand, streams: int) -> dict[str, Any]:
    """One run of `streams` concurrent streams, the client process pinned to the client core."""
    with running(server) as process:
        command = pinned([sys.executable, "-m", "benchmarks.concurrent_streams", "--url", process.url, "--streams",
                          str(streams)], CLIENT_CORE)
        output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True, timeout=900)
    return json.loads(output.stdout)


def summary(rates: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(rates), 1), "min": round(min(rates), 1), "max": round(max(rates), 1)}


def ratios(numerators: list[float], bases: list[float]) -> dict[str, Any]:
    """The median of the per-round ratios (each run against the baseline run of its own round, a few
    seconds apart, so a noisy stretch of the machine hits both), and the ratio of the medians."""
    per_round = [round(n / b, 3) for n, b in zip(numerators, bases, strict=True)]
    return {"median": round(statistics.median(per_round), 3),
            "of_medians": round(statistics.median(numerators) / statistics.median(bases), 3),
            "per_round": per_round, "min": min(per_round), "max": max(per_round)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8, help="length of each measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="the servers alternate this many times")
    parser.add_argument("--streams", type=int, default=10_000, help="concurrent streams (0 skips that run)")
    parser.add_argument("--no-npm", action="store_true", help="skip Prism and Mockoon")
    parser.add_argument("--same-protocol-baseline", action="store_true",
                        help="also run the bare app on the mock's uvicorn protocol (app cost alone)")
    parser.add_argument("--mock-arg", action="append", default=[],
                        help="extra `serve` flag for the mock (e.g. --mock-arg=--log-level=warning)")
    parser.add_argument("--revision", action="append", default=[], metavar="NAME=DIR[,FLAG...]",
                        help="also measure the mock of another checkout (e.g. `git archive main | tar -x -C DIR`), "
                             "or of this one with other `serve` flags (`quiet=.,--no-access-log`), in the same rounds")
    args = parser.parse_args()
    if not have_wrk():
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk)")

    servers = {"bare": (bare_starlette(), CHAT_BODY), "json": (mock_serve(*args.mock_arg), CHAT_BODY),
               "sse": (mock_serve(*args.mock_arg), STREAM_BODY)}
    if args.same_protocol_baseline:
        servers["bare_mock_protocol"] = (bare_on_mock_protocol(), CHAT_BODY)
    revisions = [revision.partition("=")[0] for revision in args.revision]
    for revision in args.revision:
        name, _, spec = revision.partition("=")
        folder, *flags = spec.split(",")
        checkout = (ROOT / folder).resolve()
        servers[f"{name}:json"] = (mock_serve(*flags, checkout=checkout), CHAT_BODY)
        servers[f"{name}:sse"] = (mock_serve(*flags, checkout=checkout), STREAM_BODY)
    notes: list[str] = []
    npm_versions: dict[str, str] = {}
    skip_npm = "skipped (--no-npm)" if args.no_npm else npm_mocks.missing_reason()
    if skip_npm is None:
        bin_dir = npm_mocks.install()
        npm_versions = npm_mocks.versions(bin_dir)
        servers["prism"] = (npm_mocks.prism(bin_dir), CHAT_BODY)
        servers["mockoon"] = (npm_mocks.mockoon(bin_dir), CHAT_BODY)
    else:
        notes.append(f"Prism and Mockoon: {skip_npm}")
        print(f"note: Prism and Mockoon: {skip_npm}", file=sys.stderr)

    rates: dict[str, list[float]] = {name: [] for name in servers}
    cpu: dict[str, list[float]] = {name: [] for name in servers}
    failures: dict[str, int] = dict.fromkeys(servers, 0)
    for round_number in range(1, args.rounds + 1):
        for name, (server, body) in servers.items():
            rate, failed, cpu_per_response = measure(server, body, args.seconds, args.connections)
            rates[name].append(rate)
            cpu[name].append(cpu_per_response)
            failures[name] += failed
            print(f"round {round_number}: {name} {rate:,.0f}/s, {cpu_per_response:.0f} µs CPU each", file=sys.stderr)

    results: dict[str, Any] = {
        "bare_starlette_json_rps": summary(rates["bare"]),
        "chat_experiment_json_rps": summary(rates["json"]),
        "chat_experiment_sse_streams_per_s": summary(rates["sse"]),
        "json_ratio_to_bare": ratios(rates["json"], rates["bare"]),
        "sse_ratio_to_bare": ratios(rates["sse"], rates["bare"]),
        # The same comparison by server CPU per response (bare / mock): what one core can serve, whatever
        # share of the machine wrk and the neighbours took.
        "json_cpu_ratio_to_bare": ratios(cpu["bare"], cpu["json"]),
        "sse_cpu_ratio_to_bare": ratios(cpu["bare"], cpu["sse"]),
    }
    if "bare_mock_protocol" in rates:
        results["bare_on_mock_protocol_rps"] = summary(rates["bare_mock_protocol"])
        results["json_ratio_to_bare_on_mock_protocol"] = ratios(rates["json"], rates["bare_mock_protocol"])
        results["sse_ratio_to_bare_on_mock_protocol"] = ratios(rates["sse"], rates["bare_mock_protocol"])
    for name in revisions:
        results[f"revision {name}"] = {
            "json_rps": summary(rates[f"{name}:json"]), "sse_streams_per_s": summary(rates[f"{name}:sse"]),
            "json_ratio_to_bare": ratios(rates[f"{name}:json"], rates["bare"]),
            "sse_ratio_to_bare": ratios(rates[f"{name}:sse"], rates["bare"]),
        }
    for name in ("prism", "mockoon"):
        if name in rates:
            results[f"{name}_rps"] = summary(rates[name])
            results[f"{name}_ratio_to_bare"] = ratios(rates[name], rates["bare"])
    if args.streams:
        print(f"concurrency: {args.streams} streams", file=sys.stderr)
        results["concurrent_streams"] = concurrency(mock_serve(*args.mock_arg), args.streams)
    results.update({
        "server_cpu_us_per_response": {name: summary(values) for name, values in cpu.items()},
        "failed_responses": failures,
        "npm_versions": npm_versions,
        "notes": notes,
        "mock_command": "humanloop-mock serve --port PORT " + " ".join(args.mock_arg),
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
    })
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
