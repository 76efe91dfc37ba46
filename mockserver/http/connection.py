"""uvicorn's HTTP/1.1 protocol (httptools), plus the limits uvicorn does not have.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but has no deadline for a request's
headers or body, no cap on header size with httptools, no limit on open connections (its
`limit_concurrency` answers 503 but keeps every socket open), and waits forever on a client that
stopped reading. `GuardedHttpProtocol` adds each of these at the connection level, where a slow or
hostile client costs only a timer:

- headers must be complete within `header_timeout` of the request's first byte (or of the connection
  opening), else 408 and close;
- the body must be complete within `body_timeout` of the headers, else 408 and close;
- headers larger than `max_header_bytes` get 431 and close, before they are all buffered;
- past `max_connections` open connections a new one gets 503 and is closed at once (its socket is
  freed, so a flood cannot use up the process's file descriptors);
- a response the client has not read for `send_timeout` (the socket buffer stays full) is dropped;
- a request to switch protocols (a WebSocket upgrade) is answered as plain HTTP, its body read as any
  body is, then the connection closed.

A request that arrives whole in one read (the usual case) arms no timer at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mockserver.errors import error_body
from mockserver.http.phrases import status_line
from mockserver.http.request import request_of


@dataclass(frozen=True)
class ConnectionLimits:
    """What a connection may take, and how long. These defaults are `serve`'s (`ServerOptions` and the flags
    take them from here): 16,384 connections, so 10,000 concurrent streams fit (`serve` lowers it to what
    the open-file limit allows)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    send_timeout: float = 30.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 16_384


@dataclass(frozen=True)
class Refusal:
    """A request this layer ended before its headers did, and what had arrived of its head. `status`
    is None when no answer could be written (one was still going out to an earlier request)."""

    status: int | None
    detail: str
    head: bytes
    client: tuple[str, int] | None


def error_bytes(status: int, detail: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A complete `Connection: close` HTTP/1.1 error answer in the mock's JSON error shape."""
    body = error_body(detail)
    lines = [status_line(status)]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [b"content-type: application/json\r\n", b"content-length: %d\r\n" % len(body),
              b"connection: close\r\n\r\n", body]
    return b"".join(lines)


def _headers_end(data: bytes) -> int:
    """Offset just past the blank line ending the headers in `data`, or -1."""
    crlf = data.find(b"\r\n\r\n")
    if crlf >= 0:
        return crlf + 4
    lf = data.find(b"\n\n")
    return lf + 2 if lf >= 0 else -1


INVALID_HTTP = ("Invalid HTTP request: the request line, a header or the body's framing could not be read as "
                "HTTP/1.1.")


class GuardedHttpProtocol(HttpToolsProtocol):
    """One connection. `limits` and `on_refused` are set on the subclass `guarded_protocol` makes."""

    limits: ConnectionLimits = ConnectionLimits()
    # Told of each request this layer answers itself, with what arrived of its head (for the journal).
    on_refused: Callable[[Refusal], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None  # header or body deadline
        self._stall: asyncio.TimerHandle | None = None  # client not reading the response
        self._awaiting_headers = True
        self._in_body = False
        self._header_bytes = 0
        self._tail = b""  # last bytes of the previous read, while headers are incomplete
        # What arrived of the current request's head, while incomplete (for the journal, if refused):
        # the read itself in the usual one-read case, a bytearray once a head spans reads.
        self._head: bytes | bytearray = b""
        self._refused = False
        # A request asking to switch protocols, with a body: its framing headers until the body is read,
        # then the parser reading it (see `_start_body`).
        self._upgrade_framing: bytes | None = None
        self._body_parser: httptools.HttpRequestParser | None = None

    # --- connection ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, f"Too many open connections (this server allows {self.limits.max_connections}, "
                              "--max-connections); try again shortly.")
            return
        self._arm(self.limits.header_timeout, self._header_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._awaiting_headers and not self._refused and self._head.strip() and self.on_refused is not None:
            # A client gone mid-head was refused nothing, but it sent a request: journal what arrived.
            head, self._head = bytes(self._head), b""
            self.on_refused(Refusal(None, "The client disconnected before its headers were complete.", head,
                                    self.client))
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._awaiting_headers:
            if self._header_bytes + len(data) > self.limits.max_header_bytes and self._headers_too_large(data):
                self._keep_head(data)
                self._refuse(431, f"Request headers are larger than this server's limit of "
                                  f"{self.limits.max_header_bytes} bytes (--max-header-bytes).")
                return
            self._header_bytes += len(data)
            self._tail = data[-3:]
            self._keep_head(data)
        if self._body_parser is not None:  # the body of a request that asked to switch protocols
            self._feed_body(data)
        else:
            self._feed(data)
        if self._refused or self.transport.is_closing():
            return
        if self._awaiting_headers:
            if self._header_bytes and self._deadline is None:  # a request has begun, its headers have not ended
                self._arm(self.limits.header_timeout, self._header_timed_out)
        elif self._in_body and self._deadline is None:
            self._arm(self.limits.body_timeout, self._body_timed_out)

    def _keep_head(self, data: bytes) -> None:
        head = self._head
        if not head:
            self._head = data
        elif len(head) < self.limits.max_header_bytes:  # (a head past the limit is refused anyway)
            if type(head) is bytes:
                head = self._head = bytearray(head)
            head += data

    def _headers_too_large(self, data: bytes) -> bool:
        end = _headers_end(self._tail + data)
        return end < 0 or self._header_bytes - len(self._tail) + end > self.limits.max_header_bytes

    def _feed(self, data: bytes) -> None:
        """uvicorn's `data_received`, but a request that asks to switch protocols keeps its body."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.send_400_response(INVALID_HTTP)
        except httptools.HttpParserUpgrade as upgrade:
            self._unsupported_upgrade_warning()
            if self._upgrade_framing is not None:
                self._start_body(data[upgrade.args[0]:] if upgrade.args else b"")

    # --- a request that asks to switch protocols ---------------------------------------------------
    # The parser stops reading HTTP at `Upgrade` + `Connection: upgrade`, skipping the body (it belongs
    # to the new protocol, as far as it knows). The mock never switches: it answers the plain HTTP
    # request it also is (RFC 9110 7.8), so its body is read here, by a second parser fed a head that
    # declares only the body's framing, and handed to the request as any body is.

    def _start_body(self, rest: bytes) -> None:
        framing, self._upgrade_framing = self._upgrade_framing or b"", None
        self._body_parser = httptools.HttpRequestParser(_BodyOnly(self))
        self._feed_body(b"POST / HTTP/1.1\r\n" + framing + b"\r\n" + rest)

    def _feed_body(self, data: bytes) -> None:
        try:
            self._body_parser.feed_data(data)  # type: ignore[union-attr]
        except httptools.HttpParserUpgrade:
            pass  # (its head asks for nothing: unreachable)
        except httptools.HttpParserError:
            self._refuse(400, INVALID_HTTP)

    def _body_arrived(self, body: bytes) -> None:
        HttpToolsProtocol.on_body(self, body)

    def _body_complete(self) -> None:
        self._body_parser = None
        GuardedHttpProtocol.on_message_complete(self)

    # --- parser callbacks ------------------------------------------------------------------------

    def _should_upgrade(self) -> bool:
        """Never switch protocols: the mock speaks HTTP only. A WebSocket upgrade request is answered as
        the plain HTTP request it also is (RFC 9110 7.8 lets a server ignore `Upgrade`), with its body,
        by the app and journaled like any other, instead of uvicorn's unjournaled plain-text 403."""
        return False

    def _unsupported_upgrade_warning(self) -> None:
        """The request asked for another protocol (the parser reads no more HTTP on this connection
        after it): its answer closes the connection. Nothing is logged: it is in the journal."""
        if self.cycle is not None:
            self.cycle.keep_alive = False

    def on_headers_complete(self) -> None:
        # The base first (called directly: this runs for every request): if it refuses the request
        # (an unusable target), the head is still here for the journal.
        HttpToolsProtocol.on_headers_complete(self)
        if self.parser.should_upgrade():
            self._upgrade_framing = _body_framing(self.headers)
        self._awaiting_headers = False
        self._in_body = True
        self._header_bytes = 0
        self._tail = b""
        self._head = b""
        if self._deadline is not None:
            self._disarm()

    def on_message_complete(self) -> None:
        if self._upgrade_framing is not None:
            return  # the parser skipped the body of a request asking to switch protocols: read below
        self._in_body = False
        self._awaiting_headers = True
        if self._deadline is not None:
            self._disarm()
        HttpToolsProtocol.on_message_complete(self)

    # --- a client that stops reading ---------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall is None:
            self._stall = self.loop.call_later(self.limits.send_timeout, self._send_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    # --- timers ----------------------------------------------------------------------------------

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _cancel_timers(self) -> None:
        self._disarm()
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _responding(self) -> bool:
        return self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete

    def _header_timed_out(self) -> None:
        self._deadline = None
        if self._responding():  # a pipelined request stalled while an answer is still going out
            self.transport.close()
            return
        self._refuse(408, f"Request headers were not complete within {self.limits.header_timeout:g} s "
                          "(--header-timeout).")

    def _body_timed_out(self) -> None:
        self._deadline = None
        detail = f"Request body was not complete within {self.limits.body_timeout:g} s (--body-timeout)."
        if self.scope is not None:
            request_of(self.scope).closed_by = detail  # type: ignore[arg-type]
        if self._responding():
            self.transport.close()
            return
        self._refuse(408, detail)

    def _send_timed_out(self) -> None:
        self._stall = None
        reason = f"The client read nothing for {self.limits.send_timeout:g} s (--send-timeout); answer dropped."
        if self.cycle is not None:  # (after the app may have finished: the answer sat in the socket buffer)
            request_of(self.cycle.scope).dropped(reason)  # type: ignore[arg-type]
        self.transport.abort()  # close() would wait for the full buffer to drain, which it never will

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes its parser cannot read, in the mock's JSON error shape (uvicorn's own
        is plain text)."""
        self._refuse(400, INVALID_HTTP)

    def _refuse(self, status: int, detail: str) -> None:
        """Answer `status` if nothing has been answered on this request yet, then close. A request
        refused before its headers ended never reached the app: `on_refused` journals it. One refused
        after them is the app's: the scope says why (and what was answered) for its journal entry."""
        self._refused = True
        self._cancel_timers()
        answered = False
        if not self.transport.is_closing():
            if not self._responding():
                self.transport.write(error_bytes(status, detail, self.server_state.default_headers))
                answered = True
            self.transport.close()
        if self._awaiting_headers:
            if self.on_refused is not None:
                head, self._head = bytes(self._head), b""
                self.on_refused(Refusal(status if answered else None, detail, head, self.client))
        elif self.scope is not None and answered:  # the app's request: its journal entry says why, and what
            request = request_of(self.scope)  # type: ignore[arg-type]
            request.closed_by = request.closed_by or detail
            request.answered_by = (status, detail)


def _body_framing(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    """The `Content-Length` or `Transfer-Encoding` lines of a request's headers, or None without a body."""
    lines = [name + b": " + value + b"\r\n" for name, value in headers
             if name in (b"content-length", b"transfer-encoding")]
    if not lines or all(name == b"content-length" and value.strip() == b"0" for name, value in headers
                        if name in (b"content-length", b"transfer-encoding")):
        return None
    return b"".join(lines)


class _BodyOnly:
    """Callbacks of the parser that reads the body of a request asking to switch protocols."""

    def __init__(self, protocol: GuardedHttpProtocol) -> None:
        self.protocol = protocol

    def on_body(self, body: bytes) -> None:
        self.protocol._body_arrived(body)

    def on_message_complete(self) -> None:
        self.protocol._body_complete()


def guarded_protocol(limits: ConnectionLimits, on_refused: Callable[[Refusal], None] | None = None
                     ) -> type[GuardedHttpProtocol]:
    """The protocol class uvicorn builds per connection, carrying `limits` and `on_refused`."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,),
                {"limits": limits, "on_refused": staticmethod(on_refused) if on_refused else None})
