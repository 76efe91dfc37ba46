"""Progress lines on stderr while a run goes on: the phase, requests sent, violations so far.

A line is written when a phase starts and then every few seconds from a background thread, so that
a run waiting on a slow target still shows it is alive. stdout carries only the report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """`with Progress(stream, every, counts):` then `progress.phase("fuzzing")` as the run moves on.
    `counts()` gives (requests sent, violations so far); a `None` stream writes nothing."""

    def __init__(self, stream: TextIO | None, every: float, counts: Callable[[], tuple[int, int]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.every = every
        self.counts = counts
        self.current = "starting"
        self._clock = clock
        self._started = clock()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Progress:
        if self.stream is not None:
            self._thread = threading.Thread(target=self._tick, name="check-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def phase(self, name: str) -> None:
        self.current = name
        self.line()

    def line(self) -> None:
        if self.stream is None:
            return
        sent, violations = self.counts()
        text = (f"[check {self._clock() - self._started:5.1f} s] {self.current}: {sent} request{'s' * (sent != 1)} "
                f"sent, {violations} violation{'s' * (violations != 1)} so far")
        with self._lock:
            try:
                print(text, file=self.stream, flush=True)
            except (OSError, ValueError):  # stderr closed: progress is a courtesy, never a failure
                self.stream = None

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self.line()
