"""`serve`'s standard output and error (the banner, the access log, log lines), written by threads of their own.

What is behind stdout and stderr is the host's choice, and none of it may stop the server. A pipe
nobody reads is full after 64 KiB, and a write from the event loop would then block it: every client
and `/healthz` would wait for ever (a parent that starts `serve` with `stdout=PIPE` or `stderr=PIPE`
and never reads does exactly that; a client sending unknown experiment ids makes a warning each). A
full disk, a closed stdout or a pipe whose reader left make a write raise instead. So the event loop
only queues text (`write` never blocks and never raises), and a daemon thread writes it with plain
`os.write` calls on the stream's descriptor (no buffer holds text that failed, to be retried or
complained about at exit). What cannot be written is dropped and counted, and said on stderr once (a
warning): while stdout raises, or while more than `MAX_PENDING_BYTES` wait behind a reader that does
not read. When a write goes through again (room on the disk, a reader that reads), that is said too,
with how many were lost. stderr gets the same treatment (`queue_stderr`), minus the warnings: there is
nowhere left to say them.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import sys
import threading
import time
from typing import TextIO

log = logging.getLogger("humanloop_mock")

MAX_PENDING_BYTES = 1 << 20  # text queued for a slow or stuck stdout before lines are dropped


class Console:
    """Text for stdout (or for `stream`), queued by `write` and written by a daemon thread."""

    def __init__(self, stream: TextIO | None = None, max_pending: int = MAX_PENDING_BYTES,
                 say_trouble: bool = True, name: str = "stdout") -> None:
        self.stream = stream  # None: sys.stdout, looked up when writing
        self.name = name
        self.max_pending = max_pending
        self.say_trouble = say_trouble  # (not for stderr itself: the warning would queue behind the trouble)
        self.dropped = 0  # lines never written
        self._pending: list[str] = []
        self._pending_size = 0
        self._busy = False  # the thread holds a batch it is writing
        self._trouble: str | None = None  # why lines are being dropped, while they are
        self._dropped_in_trouble = 0
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def write(self, text: str) -> None:
        """Queue `text` (whole lines) for stdout; never blocks, never raises."""
        if not text:
            return
        with self._ready:
            if self._pending_size + len(text) > self.max_pending:
                self._drop(text.count("\n") or 1, "nothing reads it: more than "
                           f"{self.max_pending} bytes are waiting")
                return
            self._pending.append(text)
            self._pending_size += len(text)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"humanloop-mock {self.name}", daemon=True)
                self._thread.start()
            self._ready.notify()

    def drain(self, timeout: float = 1.0) -> bool:
        """Wait up to `timeout` seconds for what is queued to be written; whether it all was."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._ready.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending:
                    self._ready.wait()
                batch, self._pending, self._pending_size = self._pending, [], 0
                self._busy = True
            text = "".join(batch)
            try:
                self._write_out(text)
            except Exception as failed:  # (OSError, ValueError; AttributeError: stdout is None): never ends the thread
                with self._ready:
                    self._drop(text.count("\n") or 1, _reason(failed))
            else:
                with self._ready:
                    self._recovered()
            finally:
                with self._ready:
                    self._busy = False
                    self._ready.notify_all()

    def _write_out(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        if stream is None:
            raise AttributeError("standard output is closed")
        try:
            descriptor = stream.fileno()
        except (OSError, ValueError, AttributeError):  # not a file (a test's StringIO): its own write
            stream.write(text)
            stream.flush()
            return
        stream.flush()  # anything written to it before, first (click's echo, a print)
        data = text.encode(getattr(stream, "encoding", None) or "utf-8", "backslashreplace")
        while data:
            data = data[os.write(descriptor, data):]

    def _drop(self, lines: int, reason: str) -> None:
        """Count lines that will never be written; say so once per spell of trouble (lock held)."""
        self.dropped += lines
        self._dropped_in_trouble += lines
        if self._trouble is None:
            self._trouble = reason
            if self.say_trouble:
                log.warning("Standard output cannot be written (%s): its lines are dropped; the server goes "
                            "on serving.", reason)

    def _recovered(self) -> None:
        if self._trouble is not None:
            if self.say_trouble:
                log.warning("Standard output is written again; %d line(s) were dropped.", self._dropped_in_trouble)
            self._trouble, self._dropped_in_trouble = None, 0


def _reason(failed: BaseException) -> str:
    if isinstance(failed, OSError) and failed.strerror:
        return failed.strerror
    return str(failed) or type(failed).__name__


def fill_closed_streams() -> list[str]:
    """Point a closed stdout or stderr (`serve >&-`: Python makes it None) at /dev/null; their names.

    uvicorn's logging set-up needs both streams, and the descriptor stays taken, so no socket the server
    opens later becomes descriptor 1 or 2 (where a stray write would land in a client's connection)."""
    filled = []
    for number, name in ((1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is None:
            null = os.open(os.devnull, os.O_WRONLY)
            if null != number:
                os.dup2(null, number)
                os.close(null)
            setattr(sys, name, open(number, "w", closefd=False))  # noqa: SIM115 (lives as long as the process)
            filled.append(name)
    return filled


class QueuedStream(io.TextIOBase):
    """A text stream whose writes are queued on a `Console`: `sys.stderr` while `serve` runs, so the
    log handlers set up after it (ours, uvicorn's) never block the event loop either."""

    def __init__(self, console: Console, original: TextIO) -> None:
        self.console = console
        self.original = original

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # as a text stream does (click probes with b"" for a binary one)
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.console.write(text)
        return len(text)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.original.isatty()

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", None) or "utf-8"


def queue_stderr() -> None:
    """From now on, what is written to `sys.stderr` is queued and written by a thread (see the module doc).
    Call before logging is set up: handlers keep the stream they were given. What is queued gets a moment
    to go out when the process exits normally (a `click` error message, say)."""
    global stderr
    if isinstance(sys.stderr, QueuedStream):
        return
    stderr = Console(sys.stderr, say_trouble=False, name="stderr")
    sys.stderr = QueuedStream(stderr, sys.stderr)
    atexit.register(drain_all)


def drain_all(timeout: float = 1.0) -> None:
    """Give what stdout and stderr still have queued up to `timeout` seconds each to be written."""
    stdout.drain(timeout)
    if stderr is not None:
        stderr.drain(timeout)


stdout = Console()  # the process's own
stderr: Console | None = None  # set by `queue_stderr`
