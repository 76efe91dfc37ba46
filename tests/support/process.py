"""Start `humanloop-mock serve` as a real subprocess on a free loopback port, and stop it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

URL = re.compile(r"at (http://(?:127\.0\.0\.1|\[::1\]):\d+/v4)")


@contextmanager
def serve_process(*args: str, hash_seed: str = "random", with_pid: bool = False,
                  preexec_fn: Callable[[], None] | None = None, env: dict[str, str] | None = None) -> Iterator[Any]:
    """Yields the base URL (or `(url, pid)` with `with_pid`). The banner's lines stay readable."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONUNBUFFERED": "1", **(env or {})}
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", "--log-level", "warning", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               preexec_fn=preexec_fn)
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            match = URL.search(line)
            if match:
                yield (match.group(1), process.pid) if with_pid else match.group(1)
                break
        else:
            raise RuntimeError("serve did not start:\n" + "".join(seen))
    finally:
        if process.stdout is not None:
            process.stdout.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve_logged(tmp_dir: Any, *args: str, preexec_fn: Callable[[], None] | None = None,
                 env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes], Any]]:
    """Like `serve_process`, with all output going to a file (read it with `path.read_text()`), so a
    server that logs a lot never blocks on a full pipe. Yields (url, process, path)."""
    import time
    from pathlib import Path

    path = Path(tmp_dir) / "serve.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", *args]
    with path.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=preexec_fn)
    try:
        deadline = time.monotonic() + 30
        while not (match := URL.search(path.read_text(errors="replace"))):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("serve did not start:\n" + path.read_text(errors="replace"))
            time.sleep(0.02)
        yield match.group(1), process, path
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
