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

from mockserver.errors import ApiError
from mockserver.http.deliver import deliver
from mockserver.http.request import request_of
from mockserver.http.sent import NotingSend
from mockserver.pipeline.delivery import error_answer

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
    """ASGI middleware: 400 for a `Host` outside the allow-list (`allowed` None: any host), and for a
    request with more than one `Host` line (RFC 9112 3.2 requires that 400), whichever host it names.
    A request without `Host` passes."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str] | None = (),
                 on_refused: Callable[[Scope, int, str], None] | None = None) -> None:
        self.app = app
        self.allowed = None if allowed is None else ALWAYS_ALLOWED | {host_name(h) for h in allowed}
        self.on_refused = on_refused  # told of each refused request (scope, status, reason), to journal it
        self._passes: set[str] = set()  # `Host` values seen to pass: clients repeat theirs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = request_of(scope)  # (its headers are read once per request; the app uses them too)
            if request.repeated_host is not None:
                await self._refuse(scope, receive, send, "The request has more than one Host header; "
                                                        "HTTP/1.1 allows exactly one (RFC 9112, section 3.2).")
                return
            value = request.host
            if self.allowed is not None and value is not None and value not in self._passes:
                host = host_name(value)
                if host not in self.allowed:
                    await self._refuse(scope, receive, send, f"Host {host[:100]!r} is not allowed: this server "
                                       "answers 127.0.0.1, localhost and [::1], and hosts given with --allowed-host.")
                    return
                if len(self._passes) < 256:
                    self._passes.add(value)
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, detail: str) -> None:
        error = ApiError(400, detail, {"Connection": "close"})
        if self.on_refused is not None:
            self.on_refused(scope, error.status, error.detail)
        request = request_of(scope)
        await deliver(error_answer(error), request, scope, receive, NotingSend(request, send))


def with_host_check(app: ASGIApp, bind_host: str, allowed: Iterable[str],
                    on_refused: Callable[[Scope, int, str], None] | None = None) -> ASGIApp:
    """`app` behind a Host check: of the allow-list when bound to loopback (or when hosts are listed),
    unless `*` is; of repeated `Host` lines always."""
    allowed = tuple(allowed)
    if ANY_HOST in allowed or not (is_loopback(bind_host) or allowed):
        return HostCheck(app, None, on_refused)
    return HostCheck(app, allowed, on_refused)
