"""What the pytest plugin costs a test suite: start-up, per-test reset, per-request latency.

    python -m benchmarks.plugin_overhead [--requests 500] [--tests 300]

All figures are medians of repeated runs in this one process (or pytest sessions started from it),
so they compare with each other; they are not promises about another machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from mockserver import MockSettings, create_app
from mockserver.control.service import MockControl
from mockserver.http.server import BackgroundServer
from pytest_plugin import HumanloopMock

BODY = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Summarise our Q3 results."}]}


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median seconds of `action` over `repeat` runs."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def session_start_and_stop(repeat: int) -> tuple[float, float]:
    starts, stops = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        server = BackgroundServer(create_app(MockSettings())).start()
        starts.append(time.perf_counter() - started)
        started = time.perf_counter()
        server.stop()
        stops.append(time.perf_counter() - started)
    return statistics.median(starts), statistics.median(stops)


def request_latencies(count: int) -> dict[str, float]:
    app = create_app(MockSettings())
    with BackgroundServer(app) as server:
        mock = HumanloopMock(MockControl(app.state.mock), server.base_url, app=app)
        with mock.httpx_client() as in_process, httpx.Client(base_url=server.base_url, headers=mock.headers) as socket:
            for client in (in_process, socket):  # warm-up
                client.post("/chat-experiment", json=BODY)
            return {
                "in_process_json": timed(lambda: in_process.post("/chat-experiment", json=BODY), count),
                "socket_json": timed(lambda: socket.post("/chat-experiment", json=BODY), count),
                "in_process_stream": timed(lambda: in_process.post("/chat-experiment", json={**BODY, "stream": True}),
                                           count // 5),
                "socket_stream": timed(lambda: socket.post("/chat-experiment", json={**BODY, "stream": True}),
                                       count // 5),
                "healthz_socket": timed(lambda: socket.get("/healthz"), count),
            }


def reset_cost(repeat: int) -> float:
    app = create_app(MockSettings())
    with BackgroundServer(app) as server:
        mock = HumanloopMock(MockControl(app.state.mock), server.base_url, app=app)
        with httpx.Client(base_url=server.base_url, headers=mock.headers) as client:
            for _ in range(20):  # a test's worth of state and journal to clear
                client.post("/chat-experiment", json=BODY)
        return timed(mock.reset, repeat)


def pytest_session(tests: int, with_mock: bool) -> float:
    """Wall time of a pytest run of `tests` trivial tests, with or without the fixture."""
    argument = "humanloop_mock" if with_mock else ""
    source = textwrap.dedent(f"""
        import pytest

        @pytest.mark.parametrize("n", range({tests}))
        def test_trivial({argument + ", " if argument else ""}n):
            assert n >= 0
    """)
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "test_bench.py").write_text(source)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", folder],
                       check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--tests", type=int, nargs=2, default=[200, 1000], metavar=("SMALL", "LARGE"),
                        help="two session sizes; per-test cost is the slope between them")
    parser.add_argument("--sessions", type=int, default=3)
    args = parser.parse_args()
    start, stop = session_start_and_stop(10)
    latency = request_latencies(args.requests)
    reset = reset_cost(1000)
    small, large = args.tests
    sessions: dict[str, float] = {}
    for label, size, with_mock in (("plain_small", small, False), ("plain_large", large, False),
                                   ("mock_small", small, True), ("mock_large", large, True)):
        sessions[label] = statistics.median(pytest_session(size, with_mock) for _ in range(args.sessions))
    # Fixed costs (imports, server start and stop) cancel out in the slope between the two sizes.
    per_test = ((sessions["mock_large"] - sessions["mock_small"])
                - (sessions["plain_large"] - sessions["plain_small"])) / (large - small)
    plain_per_test = (sessions["plain_large"] - sessions["plain_small"]) / (large - small)
    ms = 1000.0
    print(json.dumps({
        "session_start_ms": round(start * ms, 2),
        "session_stop_ms": round(stop * ms, 2),
        "reset_ms": round(reset * ms, 3),
        "per_test_overhead_ms": round(per_test * ms, 3),
        "pytest_per_test_without_mock_ms": round(plain_per_test * ms, 3),
        "pytest_sessions_s": {k: round(v, 2) for k, v in sessions.items()},
        "request_latency_ms": {k: round(v * ms, 3) for k, v in latency.items()},
        "tests_per_session": args.tests,
        "sessions_per_size": args.sessions,
    }, indent=2))


if __name__ == "__main__":
    main()
