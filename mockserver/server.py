"""Run the app under uvicorn: in the foreground (`serve`) or in a background thread (tests, fixtures)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette

from mockserver.protocol import http_protocol

LOOPBACK = "127.0.0.1"


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


def uvicorn_config(app: Starlette, log_level: str = "warning", access_log: bool = False) -> uvicorn.Config:
    """uvicorn's settings for the mock. Its httptools protocol, writing each event-loop pass's output
    with one system call (`mockserver.protocol`). No proxy-header rewriting: the mock never reads the
    client's address (only its access log prints it), and the check cost every request a scan of its
    headers. No `date` header: it is the one wall-clock value a client would see, and the mock's
    answers are byte-identical from run to run; no `server` header either (each costs a check per
    response). No websockets: the mock has none."""
    return uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="off", proxy_headers=False,
                          server_header=False, date_header=False, http=http_protocol(), ws="none")


@dataclass
class BackgroundServer:
    """A uvicorn server on a loopback port in a daemon thread. Use as a context manager or start/stop."""

    app: Starlette
    host: str = LOOPBACK
    port: int = 0
    _server: uvicorn.Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return base_url(self.host, self.port)

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn_config(self.app))
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
