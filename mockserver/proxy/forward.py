"""The forwarder: one request sent on to the upstream (`serve --upstream URL`), its answer coming back as
it arrives.

`Upstream.forward` sends the request (the client's `X-API-KEY` passed through, never kept) and returns an
`UpstreamAnswer` as soon as the upstream's status line and headers are in: its body is an async iterator
of chunks read as the upstream sends them, so a stream's first event reaches the client while the
upstream is still writing the rest. Everything is bounded: the connection, the time to the head, each
silence in the body, the whole answer's time and its size.

An upstream that cannot be reached or breaks before its head gives a 502 answer in the upstream error
shape naming the cause (`failure` says so too). One that breaks after its head cannot change the status
already sent: the body ends there and `failure` names the cause, so the server can drop the client's
connection as the upstream dropped its own. An upstream's own error answers (a 429, a 500) are answers,
relayed as they are.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from mockserver.errors import error_body

# Request headers that describe one connection (or that the forwarder sets itself): never passed on.
DROPPED_REQUEST_HEADERS = frozenset({
    b"host", b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization", b"te", b"trailer",
    b"transfer-encoding", b"upgrade", b"content-length", b"expect", b"accept-encoding",
})
# Response headers a client of this API acts on; the rest (date, server, a CDN's own) are the upstream's
# business. `content-length` is kept only for a body that is not re-encoded (see `_answer_headers`).
KEPT_RESPONSE_HEADERS = frozenset({
    b"content-type", b"content-length", b"retry-after", b"cache-control", b"x-accel-buffering",
    b"www-authenticate", b"location",
})
# The body encodings the forwarder decodes (it asks for `identity`; an upstream may encode anyway). One layer
# only, read in bounded pieces: a few kilobytes of nested gzip would otherwise decode to gigabytes at once.
DECODED_ENCODINGS = frozenset({"gzip", "x-gzip", "deflate"})
DECODED_PIECE_BYTES = 64 * 1024  # the most one decoding step hands on
MOUNT = "/v4"  # the prefix the mock serves the API under; the rest of the path is appended to the upstream's base

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True)
class UpstreamLimits:
    """How long and how much the forwarder waits for and takes from the upstream."""

    connect_seconds: float = 5.0  # to open the connection
    head_seconds: float = 120.0  # from sending the request to the status line and headers
    silence_seconds: float = 60.0  # longest pause between two pieces of the body (a stream's events)
    answer_seconds: float = 600.0  # the whole answer, head to last byte
    max_body_bytes: int = 64 * 1024 * 1024  # an answer longer than this is cut there
    max_connections: int = 100  # requests open to the upstream at once; one more waits `connect_seconds`

    def __post_init__(self) -> None:
        for name in ("connect_seconds", "head_seconds", "silence_seconds", "answer_seconds"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be > 0, not {value!r}")
        for name in ("max_body_bytes", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)!r}")


class BoundedDecoder:
    """One `Content-Encoding` layer (gzip or deflate) undone in pieces of at most `DECODED_PIECE_BYTES`, so
    that what the size limit counts is never more than one piece ahead of what memory holds (httpx's own
    decoders undo a whole read, every layer at once: 3 KB of gzip in gzip is 2 GB in one step)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 16) if encoding == "gzip" else None
        self._first = b""  # deflate: its first bytes, until they tell a zlib stream from raw deflate

    @property
    def complete(self) -> bool:
        """Whether the encoded stream has ended (a body that stops before is cut short)."""
        return self._inflate is not None and self._inflate.eof

    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of `data` (zlib.error for bytes that are not of this encoding)."""
        if self._inflate is None:  # deflate: a zlib stream (RFC 1950 header) or, as some servers send it, raw
            data = self._first = self._first + data
            if len(data) < 2:
                return
            zlib_header = data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
            self._first = b""
        inflate = self._inflate
        piece = inflate.decompress(data, DECODED_PIECE_BYTES)
        while True:
            if piece:
                yield piece
            if len(piece) < DECODED_PIECE_BYTES and not inflate.unconsumed_tail:
                return
            piece = inflate.decompress(inflate.unconsumed_tail, DECODED_PIECE_BYTES)


def decoder_for(headers: httpx.Headers) -> BoundedDecoder | str | None:
    """How to undo the answer's `Content-Encoding`: None for none, a decoder for one layer the forwarder
    decodes, or the header itself (a string) for anything else, which the proxy refuses."""
    layers = [layer.strip().lower() for value in headers.get_list("content-encoding") for layer in value.split(",")]
    layers = [layer for layer in layers if layer not in ("", "identity")]
    if not layers:
        return None
    if len(layers) == 1 and layers[0] in DECODED_ENCODINGS:
        return BoundedDecoder("gzip" if layers[0] == "x-gzip" else layers[0])
    return ", ".join(headers.get_list("content-encoding"))


def parse_base_url(url: str) -> str:
    """The upstream's base URL as an SDK's `host` takes it (`http://127.0.0.1:9000/v4`), without a
    trailing slash; ValueError with a message for anything that is not an http(s) URL with a host. The
    messages never repeat a user name or password the URL holds."""
    parts = urlsplit(url.strip())
    shown = repr(urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))
                 if "@" in parts.netloc else url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--upstream must be an http:// or https:// URL with a host, such as "
                         f"http://127.0.0.1:9000/v4, not {shown}")
    if any(char.isspace() for char in parts.netloc):
        raise ValueError(f"--upstream must not have spaces in its host: {shown}")
    try:
        parts.port  # noqa: B018 (it checks the port's range)
    except ValueError:
        raise ValueError(f"--upstream has a port outside 0-65535: {shown}") from None
    if parts.query or parts.fragment:
        raise ValueError(f"--upstream must not have a query or fragment: {shown}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def origin_of(base_url: str) -> str:
    """The base URL as messages name it: without any user name or password in it."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass
class UpstreamAnswer:
    """What came back. Iterate `chunks()` once to relay the body; `received` then holds what came, and
    `failure` why the body (or, with status 502 and `reached` False, the whole answer) broke."""

    status: int
    reason: str
    headers: Headers
    reached: bool  # False: no answer from the upstream; this is the forwarder's 502
    first_byte_seconds: float  # from sending the request to the head
    failure: str | None = None
    received: int = 0  # body bytes relayed
    total_seconds: float = 0.0  # from sending the request to the body's end
    _body: bytes = b""
    _response: httpx.Response | None = None
    _started: float = 0.0
    _limits: UpstreamLimits = field(default_factory=UpstreamLimits)
    _origin: str = ""
    _consumed: bool = False
    _decoder: BoundedDecoder | None = None

    @property
    def complete(self) -> bool:
        """Whether the whole body came (and was relayed)."""
        return self._consumed and self.failure is None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's pieces as they arrive (once). Ends early, with `failure` set, when the upstream
        breaks, goes silent, takes too long or sends too much; closes the upstream response in any case."""
        if self._consumed:
            raise RuntimeError("an upstream answer's body can be read only once")
        self._consumed = True
        if self._response is None:
            if self._body:
                self.received = len(self._body)
                yield self._body
            self.total_seconds = self.first_byte_seconds
            return
        limits = self._limits
        reader = self._response.aiter_raw().__aiter__()  # (decoded here, in bounded pieces: `BoundedDecoder`)
        deadline = self._started + limits.answer_seconds
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.failure = (f"upstream {self._origin} took longer than {limits.answer_seconds:g} s for "
                                    "its whole answer: cut")
                    return
                try:
                    async with asyncio.timeout(min(left, limits.silence_seconds)):
                        chunk = await reader.__anext__()
                except StopAsyncIteration:
                    if self._decoder is not None and not self._decoder.complete:
                        self.failure = (f"upstream {self._origin}'s answer ended before its "
                                        f"{self._decoder.encoding} stream did: cut there")
                    return
                except TimeoutError:
                    self.failure = (f"upstream {self._origin} sent nothing for {limits.silence_seconds:g} s in the "
                                    "middle of its answer: cut" if left > limits.silence_seconds else
                                    f"upstream {self._origin} took longer than {limits.answer_seconds:g} s for its "
                                    "whole answer: cut")
                    return
                except httpx.HTTPError as broke:
                    self.failure = f"upstream {self._origin} broke off its answer: {describe(broke)}"
                    return
                decoder = self._decoder
                try:
                    for piece in decoder.decode(chunk) if decoder is not None else (chunk,):
                        if self.received + len(piece) > limits.max_body_bytes:
                            self.failure = (f"upstream {self._origin}'s answer is over {limits.max_body_bytes} "
                                            f"bytes{' decoded' if decoder is not None else ''}: cut there")
                            return
                        self.received += len(piece)
                        yield piece
                except zlib.error as bad:
                    self.failure = (f"upstream {self._origin}'s answer is not valid "
                                    f"{decoder.encoding if decoder else ''} ({bad}): cut there")
                    return
        finally:
            self.total_seconds = time.monotonic() - self._started
            await self.aclose()

    async def aclose(self) -> None:
        """Let go of the upstream response (safe twice; the connection goes back to the pool or is closed)."""
        response, self._response = self._response, None
        if response is not None:
            await response.aclose()


def describe(error: BaseException) -> str:
    """An httpx error in a few words: what happened, never a header."""
    kind = {
        httpx.ConnectError: "could not connect",
        httpx.ConnectTimeout: "did not accept the connection in time",
        httpx.ReadTimeout: "went silent",
        httpx.WriteTimeout: "did not take the request in time",
        httpx.PoolTimeout: "no free connection in time",
        httpx.RemoteProtocolError: "broke the HTTP protocol or closed the connection",
        httpx.ReadError: "connection reset or closed",
        httpx.WriteError: "connection reset while sending the request",
    }.get(type(error), type(error).__name__)
    text = str(error).strip()
    return f"{kind} ({text})" if text and text != kind else kind


def failed_answer(detail: str, started: float) -> UpstreamAnswer:
    """The forwarder's own 502, in the upstream error shape."""
    body = error_body(detail)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return UpstreamAnswer(502, "Bad Gateway", headers, reached=False,
                          first_byte_seconds=time.monotonic() - started, failure=detail, _body=body)


def _request_headers(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    kept = [(name.lower(), value) for name, value in headers if name.lower() not in DROPPED_REQUEST_HEADERS]
    kept.append((b"accept-encoding", b"identity"))  # relay the bytes as the upstream wrote them
    return kept


def _answer_headers(response: httpx.Response) -> Headers:
    encoded = response.headers.get("content-encoding", "identity").lower() not in ("", "identity")
    return [(name.lower(), value) for name, value in response.headers.raw
            if name.lower() in KEPT_RESPONSE_HEADERS and not (encoded and name.lower() == b"content-length")]


class Upstream:
    """The upstream one `serve --upstream URL` forwards to: one pooled httpx client, its limits."""

    def __init__(self, base_url: str, limits: UpstreamLimits | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None, ca_bundle: str | None = None) -> None:
        """`ca_bundle`: the CA certificates (a PEM file) an https:// upstream's certificate must chain to,
        instead of certifi's (a private deployment's own CA); ValueError if it holds none."""
        self.base_url = parse_base_url(base_url)
        self.origin = origin_of(self.base_url)
        self.limits = limits or UpstreamLimits()
        timeout = httpx.Timeout(connect=self.limits.connect_seconds, read=self.limits.silence_seconds,
                                write=self.limits.head_seconds, pool=self.limits.connect_seconds)
        # No idle connections are kept: the server's event loop may end at any time (a test's server stops),
        # and a pooled connection would outlive it. A loopback connect costs well under a millisecond.
        verify: ssl.SSLContext | bool = True
        if ca_bundle is not None:
            try:
                verify = ssl.create_default_context(cafile=ca_bundle)
            except (OSError, ssl.SSLError) as bad:
                raise ValueError(f"--upstream-ca-bundle {ca_bundle}: no CA certificate could be read ({bad})") from None
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False, verify=verify,
                                         limits=httpx.Limits(max_connections=self.limits.max_connections,
                                                             max_keepalive_connections=0),
                                         transport=transport)
        for default in ("accept", "user-agent", "accept-encoding"):  # only what the client sent goes on
            del self._client.headers[default]
        # httpx logs each request's whole URL at INFO, a key in its query string included: the journal and
        # the access log (both redacted) say what went where instead.
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).getEffectiveLevel()))

    def target(self, path: str, query: bytes | str = b"") -> str:
        """The upstream URL for one of the mock's paths (`/v4/chat-experiment` -> `<base>/chat-experiment`)."""
        below = path[len(MOUNT):] if path == MOUNT or path.startswith(MOUNT + "/") else path
        query = query.decode("latin-1") if isinstance(query, bytes) else query
        return self.base_url + below + (f"?{query}" if query else "")

    async def forward(self, method: str, path: str, query: bytes | str, headers: Iterable[tuple[bytes, bytes]],
                      body: bytes) -> UpstreamAnswer:
        """Send the request on; the answer once its head is in (never raises for what the upstream does)."""
        started = time.monotonic()
        try:
            request = self._client.build_request(method, self.target(path, query), headers=_request_headers(headers),
                                                 content=body if body or method.upper() not in ("GET", "HEAD")
                                                 else None)
        except (httpx.InvalidURL, ValueError) as bad:  # a path httpx cannot send
            return failed_answer(f"request cannot be forwarded to upstream {self.origin}: {bad}", started)
        try:
            async with asyncio.timeout(self.limits.head_seconds):
                response = await self._client.send(request, stream=True)
        except TimeoutError:
            return failed_answer(f"upstream {self.origin} gave no answer within {self.limits.head_seconds:g} s",
                                 started)
        except httpx.PoolTimeout:  # the proxy's own bound, not the upstream's failure
            return failed_answer(f"the proxy already has {self.limits.max_connections} requests open to upstream "
                                 f"{self.origin}, and none ended within {self.limits.connect_seconds:g} s",
                                 started)
        except httpx.HTTPError as failed:
            return failed_answer(f"upstream {self.origin} unreachable or failing: {describe(failed)}", started)
        if not 200 <= response.status_code <= 599:  # no status a server may send on (uvicorn refuses it)
            await response.aclose()
            return failed_answer(f"upstream {self.origin} answered with status {response.status_code}, which "
                                 "cannot be relayed", started)
        decoder = decoder_for(response.headers)
        if isinstance(decoder, str):
            await response.aclose()
            return failed_answer(f"upstream {self.origin} answered with Content-Encoding {decoder!r} although it "
                                 "was asked for identity; the proxy decodes one layer of gzip or deflate only",
                                 started)
        return UpstreamAnswer(response.status_code, response.reason_phrase, _answer_headers(response), reached=True,
                              first_byte_seconds=time.monotonic() - started, _response=response, _started=started,
                              _limits=self.limits, _origin=self.origin, _decoder=decoder)

    async def aclose(self) -> None:
        await self._client.aclose()
