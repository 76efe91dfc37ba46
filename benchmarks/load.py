"""Drive a server with `wrk` (one thread, pinned to the client core) and read its rate."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

from benchmarks.servers import CLIENT_CORE, pinned

_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class LoadResult:
    rate: float  # responses per second
    failures: int  # non-2xx answers plus socket errors


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def wrk(url: str, body: dict[str, Any], seconds: int, connections: int) -> LoadResult:
    """POST `body` as JSON (with an X-API-KEY) to `url` for `seconds` over `connections` keep-alive connections."""
    script = "\n".join([
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        'wrk.headers["X-API-KEY"] = "bench"',
        f"wrk.body = {json.dumps(json.dumps(body))}",
    ]) + "\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = pinned(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url], CLIENT_CORE)
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(handle.name)
    rate = _RATE.search(output)
    if rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    failures = sum(int(m.group(1)) for m in [_NON_2XX.search(output)] if m)
    errors = _SOCKET_ERRORS.search(output)
    if errors:
        failures += sum(int(value) for value in errors.groups())
    return LoadResult(float(rate.group(1)), failures)
