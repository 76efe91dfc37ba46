"""What recording and replay matching cost per call, as a share of the call itself.

    python -m benchmarks.recording [--calls 200] [--recordings 200]

Baseline, in the same process and session: the same chat call (JSON, and a stream) made over
loopback to a served mock with httpx. Then, for the bytes that call returned: recording it
(`ExchangeCapture` fed the way a server would, redaction included, appended to a cassette with its
flush), matching it among `--recordings` recorded exchanges (`Replayer.answer`), and planning its
replay (`Hit.plan`). Each figure is the median of its rounds; the share is what matters (timings on
a shared machine are noisy, ratios within one run much less so).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from mockserver.recording import CassetteWriter, ExchangeCapture, Hit, Replayer

HEADERS = {"X-API-KEY": "benchmark-key-0123456789", "Content-Type": "application/json"}


def _body(stream: bool, number: int = 0) -> bytes:
    return json.dumps({"experiment_id": "exp_demo", "stream": stream, "provider_api_keys": {},
                       "messages": [{"role": "user", "content": f"Question {number}: what is the capital?"}]}).encode()


def _median_seconds(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _one_kind(client: httpx.Client, url: str, stream: bool, calls: int, recordings: int, folder: Path) -> list[str]:
    body = _body(stream)
    answer: dict[str, object] = {}

    def call() -> None:
        with client.stream("POST", url, content=body, headers=HEADERS) as response:
            answer["chunks"] = list(response.iter_raw())
            answer["head"] = (response.status_code, list(response.headers.items()))

    baseline = _median_seconds(call, calls)
    status, head = answer["head"]  # type: ignore[misc]
    chunks: list[bytes] = answer["chunks"]  # type: ignore[assignment]

    def capture(request: bytes = body) -> ExchangeCapture:
        recording = ExchangeCapture("POST", url, list(HEADERS.items()), request)
        recording.response_head(status, head)
        for chunk in chunks:
            recording.response_bytes(chunk)
        return recording

    with CassetteWriter(folder / f"bench-{stream}.har") as writer:
        record = _median_seconds(lambda: writer.append(capture().finish()), calls)
    replayer = Replayer([capture(_body(stream, n)).finish() for n in range(1, recordings)] + [capture().finish()])

    def match() -> Hit:
        replayer.rewind()
        hit = replayer.answer("POST", "/v4/chat-experiment", body, list(HEADERS.items()))
        assert isinstance(hit, Hit)
        return hit

    matching = _median_seconds(match, calls)
    plan = max(_median_seconds(lambda: match().plan(speed=0), calls) - matching, 0.0)
    events = sum(chunk.count(b"\n\n") for chunk in chunks)
    return [
        f"{f'stream ({events} events)' if stream else 'JSON call'}: the call over loopback "
        f"{baseline * 1e3:.2f} ms (baseline)",
        f"  recording it (capture, redact, append + flush): {record * 1e3:.2f} ms = {record / baseline:.0%} "
        "of the call",
        f"  matching it among {recordings} recordings: {matching * 1e6:.0f} us = {matching / baseline:.1%}",
        f"  planning its replay: {plan * 1e6:.0f} us = {plan / baseline:.1%}",
    ]


def measure(calls: int, recordings: int) -> list[str]:
    with BackgroundServer(create_app(MockSettings(seed=7))) as server, httpx.Client() as client, \
            tempfile.TemporaryDirectory() as folder:
        url = f"{server.base_url}/chat-experiment"
        return [line for stream in (False, True)
                for line in _one_kind(client, url, stream, calls, recordings, Path(folder))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="rounds per figure")
    parser.add_argument("--recordings", type=int, default=200, help="exchanges the replayer holds")
    arguments = parser.parse_args(argv)
    for line in measure(arguments.calls, arguments.recordings):
        print(line)


if __name__ == "__main__":
    main()
