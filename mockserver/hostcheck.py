"""Refuse requests whose `Host` header names a host this server was not meant to be reached by.

A web page can make a browser send requests to a loopback server by pointing its own domain at
127.0.0.1 (DNS rebinding); the browser then sends that domain in `Host`. A loopback server that only
answers `Host: 127.0.0.1`, `localhost` or `[::1]` (any port), plus names you allow, is out of such a
page's reach. The server runner puts this in front of the app when it binds a loopback address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from mockserver.errors import ApiError, error_response

ALWAYS_ALLOWED = frozenset({"127.0.0.1", "localhost", "::1"})
ANY_HOST = "*"


def is_loopback(host: str) -> bool:
    """Whether binding `host` only listens on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host part of a `Host` header, lower-cased, without port or IPv6 brackets."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheck:
    """ASGI middleware: 400 for a `Host` outside the allow-list (a request without `Host` passes)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str] = (),
                 on_refused: Callable[[Scope, int, str], None] | None = None) -> None:
        self.app = app
        self.allowed = ALWAYS_ALLOWED | {host_name(h) for h in allowed}
        self.on_refused = on_refused  # told of each refused request (scope, status, reason), to journal it
        self._passes: set[bytes] = set()  # `Host` values seen to pass: clients repeat theirs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"host":
                    if value in self._passes:
                        break
                    host = host_name(value.decode("latin-1"))
                    if host in self.allowed:
                        if len(self._passes) < 256:
                            self._passes.add(value)
                    else:
                        error = ApiError(400, f"Host {host[:100]!r} is not allowed: this server answers "
                                              "127.0.0.1, localhost and [::1], and hosts given with --allowed-host.",
                                         {"Connection": "close"})
                        if self.on_refused is not None:
                            self.on_refused(scope, error.status, error.detail)
                        await error_response(error)(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)


def with_host_check(app: ASGIApp, bind_host: str, allowed: Iterable[str],
                    on_refused: Callable[[Scope, int, str], None] | None = None) -> ASGIApp:
    """`app` behind a Host check when bound to loopback (or when hosts are listed), unless `*` is."""
    allowed = tuple(allowed)
    if ANY_HOST in allowed or not (is_loopback(bind_host) or allowed):
        return app
    return HostCheck(app, allowed, on_refused)
