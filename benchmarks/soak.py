"""Soak: many mixed chat requests against one `serve` process, and what its memory does meanwhile.

    python -m benchmarks.soak [--requests 100000] [--concurrency 16] [--max-seconds 1200] [serve flags...]

One `humanloop-mock serve` process on a free loopback port; an asyncio client sends `--requests`
chat-experiment calls, `--concurrency` at a time, cycling through this mix (per 10 calls):

- 6 JSON answers (`num_samples` 1 or 2), 3 streams read to the end, 1 stream dropped after its first
  event (the client closes the connection mid-stream);
- half the bodies are unique (every memo table misses and keeps something new), half repeat from a
  pool of 64 (the memo tables hit).

It prints the server's RSS at start, after a warm-up of 1,000 calls ("before"), every 10% of the run,
and at the end ("after"), with its peak (VmHWM), then what the server says it keeps
(`/__admin/info` and `/__admin/server`: journal entries, the byte budget). Traffic goes to
127.0.0.1 only; the run stops by itself after `--requests` calls or `--max-seconds`, whichever comes
first. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

URL = re.compile(r"at (http://127\.0\.0\.1:\d+/v4)")
KEY = {"X-API-KEY": "soak"}
WARM_UP = 1_000
REPEATED_BODIES = 64


def start_server(log: Path, serve_flags: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", "--log-level", "warning",
               *serve_flags]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not (match := URL.search(log.read_text(errors="replace"))):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("serve did not start:\n" + log.read_text(errors="replace"))
        time.sleep(0.05)
    return process, match.group(1)


def memory_mib(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) of the process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    values = {key: int(re.search(rf"{key}:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
              for key in ("VmRSS", "VmHWM")}
    return values["VmRSS"], values["VmHWM"]


def body_for(index: int) -> tuple[dict[str, Any], str]:
    """The request body of call `index`, and its kind: json, stream, or dropped."""
    kind = ("json",) * 6 + ("stream",) * 3 + ("dropped",)
    which = kind[index % 10]
    text = (f"Soak call {index}: summarise our quarter." if index % 2 else
            f"Repeated question {index % REPEATED_BODIES}: summarise our quarter.")
    body = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": text}],
            "num_samples": 1 + (index % 3 == 0), "stream": which != "json"}
    return body, which


async def one_call(client: httpx.AsyncClient, index: int, tally: dict[str, int]) -> None:
    body, which = body_for(index)
    try:
        if which == "json":
            response = await client.post("/chat-experiment", json=body)
            tally["ok" if response.status_code == 200 else "not_ok"] += 1
            return
        async with client.stream("POST", "/chat-experiment", json=body) as response:
            events = 0
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    events += 1
                    if which == "dropped":
                        break  # leaving the block closes the connection mid-stream
            tally["ok" if response.status_code == 200 and events else "not_ok"] += 1
            tally["dropped" if which == "dropped" else "streams"] += 1
    except httpx.HTTPError:
        tally["errors"] += 1


async def run_calls(url: str, start: int, stop: int, concurrency: int, deadline: float,
                    tally: dict[str, int]) -> int:
    """Calls `start`..`stop`, `concurrency` at a time; the index reached (earlier if past `deadline`)."""
    next_index = start
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=KEY, timeout=60, limits=limits) as client:

        async def worker() -> None:
            nonlocal next_index
            while next_index < stop and time.monotonic() < deadline:
                index = next_index
                next_index += 1
                await one_call(client, index, tally)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return next_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=1200)
    args, serve_flags = parser.parse_known_args()
    tally = {"ok": 0, "not_ok": 0, "errors": 0, "streams": 0, "dropped": 0}
    with tempfile.TemporaryDirectory() as scratch:
        process, url = start_server(Path(scratch) / "serve.log", serve_flags)
        try:
            started = time.monotonic()
            deadline = started + args.max_seconds
            rows = [("start", 0, *memory_mib(process.pid))]
            done = asyncio.run(run_calls(url, 0, WARM_UP, args.concurrency, deadline, tally))
            rows.append(("before (after warm-up)", done, *memory_mib(process.pid)))
            measured_from = time.monotonic()
            step = max(1, args.requests // 10)
            while done < WARM_UP + args.requests and time.monotonic() < deadline:
                target = min(done + step, WARM_UP + args.requests)
                done = asyncio.run(run_calls(url, done, target, args.concurrency, deadline, tally))
                rows.append((f"{done - WARM_UP:,} calls", done, *memory_mib(process.pid)))
            seconds = time.monotonic() - measured_from
            rows.append(("after", done, *memory_mib(process.pid)))
            admin = url.removesuffix("/v4") + "/__admin"
            info = httpx.get(admin + "/info", headers=KEY, timeout=10).json()
            info.update(httpx.get(admin + "/server", headers=KEY, timeout=10).json())
            health = httpx.get(url.removesuffix("/v4") + "/healthz", timeout=10).status_code
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"serve flags: {' '.join(serve_flags) or '(defaults)'}; concurrency {args.concurrency}")
    print(f"calls after warm-up: {done - WARM_UP:,} in {seconds:.0f} s ({(done - WARM_UP) / seconds:,.0f}/s); "
          f"tally: {json.dumps(tally)}; health afterwards: {health}")
    print("\n| point | calls sent | RSS MiB | peak RSS MiB |\n| --- | --- | --- | --- |")
    for label, calls, rss, peak in rows:
        print(f"| {label} | {calls:,} | {rss:.0f} | {peak:.0f} |")
    kept = info.get("kept", {})
    print(f"\nserver keeps: {info.get('journal')} journal entries; byte budget {json.dumps(kept)}")
    if done < WARM_UP + args.requests:
        print(f"STOPPED EARLY at --max-seconds {args.max_seconds:g}: {done - WARM_UP:,} of {args.requests:,} calls")


if __name__ == "__main__":
    main()
