"""Run the app under uvicorn: in the foreground (`serve`) or in a background thread (tests, fixtures).

Both go through `uvicorn_config`, so the connection limits and timeouts (`connection`), the Host
check (`hostcheck`) and the shutdown timeout apply the same way to each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from mockserver import logsafe
from mockserver.http import console
from mockserver.http.connection import ConnectionLimits, guarded_protocol
from mockserver.http.hostcheck import with_host_check
from mockserver.http.phrases import fix_uvicorn_status_lines
from mockserver.http.protocol import gathering
from mockserver.http.refusals import refusal_journal

LOOPBACK = "127.0.0.1"
# File descriptors kept back from --max-connections for everything else the process opens.
RESERVED_FDS = 64
# After the shutdown timeout uvicorn cancels what is still running; if even that has not ended the
# process after this much longer, it exits anyway.
FORCE_GRACE_SECONDS = 2.0

log = logging.getLogger("humanloop_mock")


@dataclass(frozen=True)
class ServerOptions:
    """How the server treats connections (see docs/server.md; each is a `serve` flag)."""

    header_timeout: float = ConnectionLimits.header_timeout  # (the connection layer's defaults: one place)
    body_timeout: float = ConnectionLimits.body_timeout
    idle_timeout: float = 5.0
    send_timeout: float = ConnectionLimits.send_timeout
    max_header_bytes: int = ConnectionLimits.max_header_bytes
    max_connections: int = ConnectionLimits.max_connections  # lowered to the open-file limit
    shutdown_timeout: float = 5.0
    allowed_hosts: tuple[str, ...] = ()

    def limits(self, max_connections: int | None = None) -> ConnectionLimits:
        return ConnectionLimits(
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            send_timeout=self.send_timeout,
            max_header_bytes=self.max_header_bytes,
            max_connections=self.max_connections if max_connections is None else max_connections,
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind first, so the real port (for port 0) is known before the server starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # connections queue from now on, even before the server loop starts
    sock.set_inheritable(True)
    return sock


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v4"


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit (as far as the OS lets it); the
    new soft limit. Each connection is a file descriptor, and the usual soft limit is only 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return soft
    # An unlimited hard limit cannot be the soft one on Linux (fs.nr_open caps it): try 2**20 then.
    targets = [hard] if hard != resource.RLIM_INFINITY else [1 << 20, 1 << 16]
    for target in targets:
        if target <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            continue
    return soft


def connection_cap(options: ServerOptions, open_file_limit: int) -> int:
    """--max-connections, lowered if the process could not open that many sockets."""
    if open_file_limit == resource.RLIM_INFINITY:
        return options.max_connections
    return max(1, min(options.max_connections, open_file_limit - RESERVED_FDS))


def uvicorn_config(app: ASGIApp, host: str = LOOPBACK, options: ServerOptions | None = None,
                   log_level: str = "warning", access_log: bool = False,
                   max_connections: int | None = None) -> uvicorn.Config:
    options = options or ServerOptions()
    refusals = refusal_journal(app)  # requests answered before the app: journaled all the same
    config = uvicorn.Config(
        with_host_check(app, host, options.allowed_hosts, refusals.record if refusals else None),
        log_level=log_level,
        access_log=access_log,
        lifespan="off",
        http=gathering(guarded_protocol(options.limits(max_connections),
                                        refusals.connection_refused if refusals else None)),
        # The mock never reads the client's address (only its access log prints it), and the proxy
        # header check cost every request a scan of its headers.
        proxy_headers=False,
        # `date` is the one wall-clock value a client would see, and the mock's answers are the same
        # bytes on every run; `server` says nothing a client needs. Each also cost a check per answer.
        date_header=False,
        server_header=False,
        timeout_keep_alive=options.idle_timeout,  # type: ignore[arg-type]  # a float works
        timeout_graceful_shutdown=options.shutdown_timeout,  # type: ignore[arg-type]
    )
    logsafe.install()  # after uvicorn has configured its loggers
    fix_uvicorn_status_lines()  # the same reason phrases on every Python (mockserver/http/phrases.py)
    return config


class MockServer(uvicorn.Server):
    """uvicorn's server with a firm end: the first SIGINT/SIGTERM shuts down gracefully (open answers
    get up to the shutdown timeout, then are cancelled); a second one, or a shutdown that still has
    not ended shortly after the timeout, exits the process at once. `on_stopped` runs once the server
    has stopped, before uvicorn hands a caught signal back to the process (which ends it)."""

    def __init__(self, config: uvicorn.Config, on_stopped: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.on_stopped = on_stopped
        self._watchdog: threading.Timer | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            # SIGHUP (the terminal closed, `kill -HUP`) stops the server as SIGTERM does, so the last lines,
            # the report and the cassettes are written; by default it would end the process on the spot.
            # Left alone when ignored (`nohup`) or handled by someone else, and only from the main thread.
            hangup = threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGHUP) == signal.SIG_DFL
            if hangup:
                signal.signal(signal.SIGHUP, self.handle_exit)
            try:
                yield
            finally:
                # The server has stopped: what is left is writing files (a cassette of many large exchanges
                # takes seconds), which the watchdog for a stuck shutdown must not cut off half-written. A
                # second signal still exits at once.
                if self._watchdog is not None:
                    self._watchdog.cancel()
                if hangup:  # (restored first: uvicorn then raises the caught signal again, to end by it)
                    signal.signal(signal.SIGHUP, signal.SIG_DFL)
                if self.on_stopped is not None:
                    self.on_stopped()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown, then a short wait for the answers it cancelled at the timeout: uvicorn does
        not wait for them, so without this `on_stopped` (which writes the cassette, the report) would run
        before they had noted how they ended, and the exchange cut by the shutdown would be lost."""
        await super().shutdown(sockets)
        cancelled = [task for task in self.server_state.tasks if not task.done()]
        if cancelled:  # (uvicorn logs each as an exception with its traceback: it said why already)
            quiet = _CancelledQuietly()
            logging.getLogger("uvicorn.error").addFilter(quiet)
            try:
                await asyncio.wait(cancelled, timeout=FORCE_GRACE_SECONDS / 2)
            finally:
                logging.getLogger("uvicorn.error").removeFilter(quiet)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            force_exit(f"Second {signal.Signals(sig).name}: exiting now.", 128 + sig)
        super().handle_exit(sig, frame)
        timeout = self.config.timeout_graceful_shutdown or 0
        watchdog = threading.Timer(timeout + FORCE_GRACE_SECONDS, force_exit,
                                   args=("Shutdown did not finish in time: exiting now.", 128 + sig))
        watchdog.daemon = True
        watchdog.start()
        self._watchdog = watchdog


class _CancelledQuietly(logging.Filter):
    """Drops the records of answers ended by their cancellation (uvicorn's 'Exception in ASGI application')."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def force_exit(message: str, code: int) -> None:
    log.warning(message)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    console.drain_all(timeout=0.5)  # (bounded: a stdout or stderr nobody reads must not hold the exit)
    os._exit(code)


@dataclass
class BackgroundServer:
    """A uvicorn server on a loopback port in a daemon thread. Use as a context manager or start/stop."""

    app: ASGIApp
    host: str = LOOPBACK
    port: int = 0
    options: ServerOptions = field(default_factory=ServerOptions)
    _server: uvicorn.Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return base_url(self.host, self.port)

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn_config(self.app, self.host, self.options))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="humanloop-mock", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("humanloop-mock server did not start")
            time.sleep(0.001)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # do not wait for idle keep-alive connections
            self._thread.join(timeout)
        self._server = None
        self._thread = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
