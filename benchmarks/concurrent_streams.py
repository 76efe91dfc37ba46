"""Many SSE streams at once from one client process, each one checked for being well formed.

    python -m benchmarks.concurrent_streams --url http://127.0.0.1:8000 [--streams 10000]

Every connection is opened first; only when all are open does each send its stream request, so the
server holds all of them in flight together. Each answer must be a 200 `text/event-stream` with
valid chunked framing, made only of whole `data: <JSON>` events (blank line after each), for one
log id, whose last event alone carries the `finish_reason` and usage. Anything else is an error,
counted with its reason.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

CHAT_BODY = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Summarise our Q3 results."}],
             "stream": True}


class StreamProblem(Exception):
    """A stream that was not well formed, with what was wrong."""


@dataclass
class Tally:
    total: int
    connected: int = 0
    connect_failed: int = 0
    in_flight: int = 0  # requests sent whose answer is not read to the end yet
    peak_in_flight: int = 0
    events: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    all_connected: asyncio.Event = field(default_factory=asyncio.Event)

    def settle_connect(self, ok: bool) -> None:
        if ok:
            self.connected += 1
        else:
            self.connect_failed += 1
        if self.connected + self.connect_failed == self.total:
            self.all_connected.set()


def request_bytes(host: str, port: int, path: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-KEY: bench\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
    return head.encode() + payload


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise StreamProblem("bad chunk framing")


def check_events(body: bytes) -> int:
    """The number of events, if `body` is a well-formed stream (raises StreamProblem otherwise)."""
    if not body.endswith(b"\n\n"):
        raise StreamProblem("stream does not end with a blank line")
    blocks = body[:-2].split(b"\n\n")
    log_id = None
    finished = 0
    for number, block in enumerate(blocks, start=1):
        if not block.startswith(b"data: ") or b"\n" in block:
            raise StreamProblem("event is not one `data: ` line")
        try:
            event = json.loads(block[6:])
        except ValueError:
            raise StreamProblem("event data is not JSON") from None
        item = event["data"][0]
        if not isinstance(item.get("output"), str) or not item.get("id"):
            raise StreamProblem("event lacks data[0].output or data[0].id")
        if log_id is None:
            log_id = item["id"]
        elif item["id"] != log_id:
            raise StreamProblem("events of one sample carry different ids")
        if item["finish_reason"] is not None:
            finished += 1
            if number != len(blocks) or event["usage"] is None:
                raise StreamProblem("finish_reason before the last event, or no usage on it")
    if finished != 1:
        raise StreamProblem("no event carries the finish_reason")
    return len(blocks)


async def one_stream(host: str, port: int, request: bytes, tally: Tally, connect_slots: asyncio.Semaphore) -> None:
    try:
        async with connect_slots:
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    except OSError as error:
        tally.settle_connect(False)
        tally.errors[f"connect: {error.__class__.__name__}"] += 1
        return
    tally.settle_connect(True)
    sent = False
    try:
        await tally.all_connected.wait()
        writer.write(request)
        sent = True
        tally.in_flight += 1
        tally.peak_in_flight = max(tally.peak_in_flight, tally.in_flight)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if lines[0].split(" ")[1] != "200":
            raise StreamProblem(f"status {lines[0].split(' ')[1]}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if not headers.get("content-type", "").startswith("text/event-stream"):
            raise StreamProblem("not text/event-stream")
        if headers.get("transfer-encoding") != "chunked":
            raise StreamProblem("not chunked")
        tally.events += check_events(await read_chunked(reader))
        tally.ok += 1
    except StreamProblem as problem:
        tally.errors[str(problem)] += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError, KeyError) as error:
        tally.errors[f"{error.__class__.__name__}"] += 1
    finally:
        if sent:
            tally.in_flight -= 1
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def run(url: str, streams: int, timeout: float, connect_concurrency: int = 256) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = request_bytes(host, port, parts.path.rstrip("/") + "/v4/chat-experiment", CHAT_BODY)
    tally = Tally(streams)
    slots = asyncio.Semaphore(connect_concurrency)
    started = time.perf_counter()
    tasks = [asyncio.ensure_future(one_stream(host, port, request, tally, slots)) for _ in range(streams)]
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        tally.errors["timed out"] += len(pending)
        await asyncio.wait(pending)
    elapsed = time.perf_counter() - started
    return {
        "streams": streams,
        "well_formed": tally.ok,
        "errors": sum(tally.errors.values()),
        "error_kinds": dict(tally.errors),
        "peak_in_flight": tally.peak_in_flight,
        "events_checked": tally.events,
        "seconds": round(elapsed, 2),
    }


def raise_file_limit(needed: int) -> None:
    """Room for one socket per stream (the soft limit is often 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


def concurrent_streams(url: str, streams: int, timeout: float = 300.0) -> dict[str, Any]:
    raise_file_limit(streams + 64)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run(run(url, streams, timeout))
    return uvloop.run(run(url, streams, timeout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the server's root, e.g. http://127.0.0.1:8000")
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    print(json.dumps(concurrent_streams(args.url, args.streams, args.timeout), indent=2))


if __name__ == "__main__":
    main()
