"""Start `humanloop-mock serve` as a real subprocess on a free loopback port, and stop it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

URL = re.compile(r"at (http://127\.0\.0\.1:\d+/v4)")


@contextmanager
def serve_process(*args: str, hash_seed: str = "random") -> Iterator[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "mockserver.cli", "serve", "--port", "0", "--log-level", "warning", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            match = URL.search(line)
            if match:
                yield match.group(1)
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
