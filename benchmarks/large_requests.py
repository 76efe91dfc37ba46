"""Large distinct chat requests against one `serve` process: does its memory stay within the budget?

    python -m benchmarks.large_requests [--count 100] [--megabytes 4] [serve flags, e.g. --max-kept-bytes N]

Sends `--count` chat-experiment calls one after another, each with a different user message of
`--megabytes` MB (so nothing is memoised twice), and prints the server's RSS at start, after each
10% of the calls, and at the end, with its peak, then what it says it keeps (`/__admin/info`, `/__admin/server`). The
issue this answers: 100 such calls once took a server from 51 to 2,756 MB. Loopback only; Linux.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.soak import KEY, memory_mib, start_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--megabytes", type=float, default=4)
    args, serve_flags = parser.parse_known_args()
    size = int(args.megabytes * 1_000_000)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        process, url = start_server(Path(scratch) / "serve.log", serve_flags)
        try:
            rows.append(("start", 0, *memory_mib(process.pid)))
            started = time.monotonic()
            with httpx.Client(base_url=url, headers=KEY, timeout=120) as client:
                for index in range(args.count):
                    body = {"experiment_id": "exp_demo",
                            "messages": [{"role": "user", "content": f"{index} " + "x" * size}]}
                    status = client.post("/chat-experiment", json=body).status_code
                    if status != 200:
                        raise SystemExit(f"call {index} answered {status}")
                    if (index + 1) % max(1, args.count // 10) == 0:
                        rows.append((f"{index + 1} calls", index + 1, *memory_mib(process.pid)))
                admin = url.removesuffix("/v4") + "/__admin"
                info = {**client.get(admin + "/info").json(), **client.get(admin + "/server").json()}
            seconds = time.monotonic() - started
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"serve flags: {' '.join(serve_flags) or '(defaults)'}; {args.count} calls of {args.megabytes:g} MB "
          f"in {seconds:.0f} s")
    print("\n| point | calls | RSS MiB | peak RSS MiB |\n| --- | --- | --- | --- |")
    for label, calls, rss, peak in rows:
        print(f"| {label} | {calls} | {rss:.0f} | {peak:.0f} |")
    print(f"\nserver keeps: {info.get('journal')} journal entries; byte budget {json.dumps(info.get('kept', {}))}")


if __name__ == "__main__":
    main()
