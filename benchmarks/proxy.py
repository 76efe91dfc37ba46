"""What proxy mode costs: the CPU a `serve --upstream` process spends per call it relays (forwarding,
relaying, journaling and the passive checks, which run in the same process), against the CPU the
upstream mock itself spends answering that call, measured in the same run.

    python -m benchmarks.proxy [--calls 300]

Three processes: the upstream (`serve --seed 7`), the proxy (`serve --upstream URL`) and, for recording,
a second proxy with `--record`. For a JSON call and a 2-sample stream: the calls are sent straight to the
upstream (its CPU per call is the baseline), then through each proxy (its own CPU per call, read from
/proc once every answer is judged). Ratios within one run are what to compare; CPU time is counted in
clock ticks (10 ms), hence the several hundred calls.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.servers import Running, mock_serve, running

HEADERS = {"X-API-KEY": "benchmark-key-0123456789", "Content-Type": "application/json"}
BODIES = {
    "JSON call": {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Capital of France?"}],
                  "provider_api_keys": {}},
    "stream (2 samples)": {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Capital?"}],
                           "stream": True, "num_samples": 2, "provider_api_keys": {}},
}


def _cpu_per_call(server: Running, target: str, body: bytes, calls: int, client: httpx.Client,
                  judged_before: int | None = None) -> float:
    """CPU seconds `server` spent per call of `calls` sent to `target` (waiting for the checks, if any)."""
    before = server.cpu_seconds()
    for _ in range(calls):
        with client.stream("POST", f"{target}/v4/chat-experiment", content=body, headers=HEADERS) as response:
            for _piece in response.iter_raw():
                pass
            assert response.status_code == 200, response.status_code
    if judged_before is not None:  # the passive checks are part of the proxy's cost
        deadline = time.monotonic() + 60
        while _judged(client, target) < judged_before + calls and time.monotonic() < deadline:
            time.sleep(0.05)
    return (server.cpu_seconds() - before) / calls


def _judged(client: httpx.Client, target: str) -> int:
    return int(client.get(f"{target}/__admin/violations", headers=HEADERS).json()["judged"])


def measure(calls: int) -> list[str]:
    lines = []
    with tempfile.TemporaryDirectory() as folder, running(mock_serve("--seed", "7", "--no-access-log")) as upstream, \
            running(mock_serve("--upstream", upstream.url + "/v4", "--no-access-log")) as proxy, \
            running(mock_serve("--upstream", upstream.url + "/v4", "--no-access-log", "--record",
                               str(Path(folder) / "bench.har"))) as recorder, httpx.Client(timeout=60) as client:
        for name, value in BODIES.items():
            body = json.dumps(value).encode()
            _cpu_per_call(upstream, upstream.url, body, 20, client)  # warm up the upstream's memo tables
            baseline = _cpu_per_call(upstream, upstream.url, body, calls, client)
            lines.append(f"{name}: upstream mock {baseline * 1000:.2f} ms CPU per call (baseline)")
            for label, server in (("through the proxy (forward, relay, journal, checks)", proxy),
                                  ("through the proxy with --record", recorder)):
                _cpu_per_call(server, server.url, body, 20, client, _judged(client, server.url))  # warm up
                added = _cpu_per_call(server, server.url, body, calls, client, _judged(client, server.url))
                share = (f" = {added / baseline:.2f}x the upstream's own" if baseline else
                         " (the upstream's own was under one clock tick: more --calls)")
                lines.append(f"  {label}: {added * 1000:.2f} ms CPU per call{share}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    arguments = parser.parse_args(argv)
    for line in measure(arguments.calls):
        print(line)


if __name__ == "__main__":
    main()
