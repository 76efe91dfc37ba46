"""Send the checker's requests: one at a time, under a request budget, a rate limit and a run deadline.

Whatever the target does, `send` comes back with an `Exchange` in bounded time: the timeout covers
the whole answer (not each read), a stream may run longer but no longer than its own cap, bodies
and events are counted and cut at their limits, compressed bodies are expanded only up to the byte
limit, redirects are never followed, and a connection that breaks keeps what had arrived. The
requests go out from a private event loop so that `asyncio.timeout` can stop a read mid-way.
The API key is added at send time and never stored with what is recorded.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from contracts.check.exchange import Exchange, Intent, Request, Response, header_line_length

API_KEY_HEADER = "X-API-KEY"
WRONG_KEY = "humanloop-mock-check-wrong-key"
DEFAULT_MAX_ANSWER_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_STREAM_EVENTS = 20_000
CONNECT_TIMEOUT = 10.0
NO_BODY_STATUSES = (204, 304)  # answers HTTP gives no body, whatever their headers say


class BudgetExhausted(Exception):
    """`--max-requests` requests have been sent."""


class DeadlineReached(Exception):
    """The run's `--deadline` has passed: nothing more is sent."""


class Unreachable(Exception):
    """Nothing answers at the URL."""


@dataclass(frozen=True)
class Limits:
    """How long and how much one answer may take."""

    timeout: float = 10.0  # seconds for a whole answer
    stream_timeout: float = 30.0  # seconds for a whole answer once it says text/event-stream
    max_bytes: int = DEFAULT_MAX_ANSWER_BYTES  # body bytes (after decompression) read per answer
    max_events: int = DEFAULT_MAX_STREAM_EVENTS  # stream events read per answer


class RateLimiter:
    """At most `rate` requests per second, spaced evenly (sleeps; no bursts)."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


class Deadline:
    """The whole run's end; `None` seconds means no deadline."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._end = None if seconds is None else clock() + seconds

    def remaining(self) -> float:
        return float("inf") if self._end is None else max(0.0, self._end - self._clock())

    @property
    def passed(self) -> bool:
        return self.remaining() <= 0


class _Decoder:
    """Expands a gzip or deflate body incrementally, never past `limit` bytes in all."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}[encoding]
        self._inflate = zlib.decompressobj(wbits)
        self._raw_deflate_tried = encoding != "deflate"

    def feed(self, data: bytes, room: int) -> tuple[bytes, bool]:
        """(expanded bytes, whether there was more than `room`)."""
        try:
            out = self._inflate.decompress(data, room + 1)
        except zlib.error:
            if self._raw_deflate_tried:
                raise
            self._raw_deflate_tried = True  # "deflate" is often sent without its zlib header
            self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._inflate.decompress(data, room + 1)
        return out[:room], len(out) > room or bool(self._inflate.unconsumed_tail)


def _decoder_for(headers: httpx.Headers) -> _Decoder | str | None:
    """A decoder for the body's Content-Encoding, None for none, or why it cannot be read."""
    codings = [c.strip().lower() for c in headers.get("content-encoding", "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Decoder(codings[0])
    return f"Content-Encoding {', '.join(codings)!r} (the checker asked for identity and reads gzip and deflate only)"


_EVENT_ENDS = (b"\n\n", b"\n\r\n", b"\r\r")  # LF, CRLF and lone-CR line ends, as SSE readers split them


class _EventCounter:
    """Counts blank-line event ends in a stream read in pieces."""

    def __init__(self) -> None:
        self.events = 0
        self._tail = b""

    def feed(self, data: bytes) -> int:
        joined = self._tail + data
        self.events += sum(joined.count(end) - self._tail.count(end) for end in _EVENT_ENDS)
        self._tail = joined[-2:]
        return self.events


class Transport:
    """The checker's only way to the target. Every request counts against the budget."""

    def __init__(self, base_url: str, api_key: str, *, max_requests: int, rate: float | None,
                 limits: Limits | None = None, deadline: Deadline | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.max_requests = max_requests
        self.limits = limits or Limits()
        self.deadline = deadline or Deadline(None)
        self.limiter = RateLimiter(rate)
        self.sent = 0
        self.exchanges: list[Exchange] = []
        self.timeouts_in_a_row = 0
        self._reached = False
        self._loop = asyncio.new_event_loop()
        self._client = self._new_client()

    def _new_client(self) -> httpx.AsyncClient:
        backstop = max(self.limits.timeout, self.limits.stream_timeout) + 5.0
        return httpx.AsyncClient(timeout=httpx.Timeout(backstop, connect=CONNECT_TIMEOUT), follow_redirects=False)

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._client.aclose())
            self._loop.close()

    @property
    def remaining(self) -> int:
        return self.max_requests - self.sent

    def take_budget(self) -> None:
        """Count one request (also used for requests the official client sends) and pace it."""
        if self.deadline.passed:
            raise DeadlineReached
        if self.sent >= self.max_requests:
            raise BudgetExhausted
        self.sent += 1
        self.limiter.wait()

    def probe(self, url: str, timeout: float = 2.0) -> Response:
        """GET an absolute URL without the key (counted, never judged or recorded)."""
        self.take_budget()
        request = Request("GET", "", "probe", "probe", Intent.NO_KEY)
        response = self._fetch(request, url, min(timeout, self.limits.timeout))
        if response.timed_out and self.deadline.passed:
            raise DeadlineReached
        return response

    def headers_for(self, request: Request) -> dict[str, str]:
        # As the official clients do: JSON accepted even for a stream (the body's `stream` selects it).
        headers = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": "humanloop-mock-check"}
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        if request.intent is Intent.WRONG_KEY:
            headers[API_KEY_HEADER] = WRONG_KEY
        elif request.intent is not Intent.NO_KEY:
            headers[API_KEY_HEADER] = self.api_key
        return headers

    def send(self, request: Request, record: bool = True, timeout: float | None = None) -> Exchange:
        """Send one request and read its whole answer, within the limits; never raises for what the
        target does (only for the budget, the deadline, and a target that never answered at all)."""
        self.take_budget()
        response = self._fetch(request, self.base_url + request.path, timeout)
        if response.timed_out and self.deadline.passed:
            raise DeadlineReached  # cut by the run's end, not by the target: nothing to judge
        if response.timed_out:
            self.timeouts_in_a_row += 1
        elif response.status:
            self.timeouts_in_a_row = 0
        exchange = Exchange(len(self.exchanges) + 1 if record else 0, request, response)
        if record:
            self.exchanges.append(exchange)
        return exchange

    def _fetch(self, request: Request, url: str, timeout: float | None) -> Response:
        response = self._loop.run_until_complete(self._read(request, url, timeout))
        if response.status in NO_BODY_STATUSES:
            # Drop the kept connection: a body the target sent after a 204 or 304 (which HTTP says have
            # none) would otherwise be read as the next request's answer, and that request blamed for it.
            self._loop.run_until_complete(self._client.aclose())
            self._client = self._new_client()
        return response

    async def _read(self, request: Request, url: str, timeout: float | None) -> Response:
        limits = self.limits
        whole = min(timeout or limits.timeout, self.deadline.remaining())
        loop = asyncio.get_running_loop()
        started = loop.time()
        status, headers, chunks, size = 0, {}, [], 0
        lines: tuple[int, ...] | None = None  # each header line's length, repeats kept (for header_limits)
        first_byte: float | None = None
        error: str | None = None
        cap = whole

        def elapsed() -> float:
            return loop.time() - started

        try:
            async with asyncio.timeout(whole) as scope:
                async with self._client.stream(request.method, url, content=request.body,
                                               headers=self.headers_for(request)) as reply:
                    self._reached = True
                    status = reply.status_code
                    headers = {k.lower(): v for k, v in reply.headers.items()}
                    lines = tuple(header_line_length(name, value) for name, value in reply.headers.raw)
                    streaming = headers.get("content-type", "").lower().startswith("text/event-stream")
                    if streaming and timeout is None and limits.stream_timeout > cap:
                        cap = min(limits.stream_timeout, elapsed() + self.deadline.remaining())
                        scope.reschedule(started + cap)
                    decoder = _decoder_for(reply.headers)
                    if isinstance(decoder, str):
                        error, decoder = decoder, None
                    counter = _EventCounter()
                    async for raw in reply.aiter_raw():
                        if first_byte is None:
                            first_byte = elapsed()
                        if decoder is not None:
                            data, over = decoder.feed(raw, limits.max_bytes - size)
                        else:
                            data, over = raw[: limits.max_bytes - size], size + len(raw) > limits.max_bytes
                        chunks.append(data)
                        size += len(data)
                        if over:
                            what = "expands" if decoder is not None else "goes on"
                            error = f"the body {what} past {limits.max_bytes} bytes; stopped reading"
                            break
                        if streaming and counter.feed(data) > limits.max_events:
                            error = f"the stream went past {limits.max_events} events; stopped reading"
                            break
        except TimeoutError:
            got = f"status {status}, {size} body bytes" if status else "nothing"
            return Response(status, headers, b"".join(chunks), first_byte or elapsed(), elapsed(),
                            f"no whole answer within {cap:.3g} s (got {got})", timed_out=True, header_lines=lines)
        except httpx.ConnectError as failed:
            if not self._reached:
                raise Unreachable(f"cannot connect to {self.base_url}: {failed}") from None
            return Response(0, {}, b"", 0.0, elapsed(), f"connection failed: {failed}")
        except (httpx.HTTPError, httpx.InvalidURL, zlib.error, OSError, ValueError) as failed:
            got = f" after status {status} and {size} body bytes" if status else ""
            return Response(status, headers, b"".join(chunks), first_byte or elapsed(), elapsed(),
                            f"the connection broke{got}: {type(failed).__name__}: {failed}", header_lines=lines)
        total = elapsed()
        return Response(status, headers, b"".join(chunks), total if first_byte is None else first_byte, total, error,
                        header_lines=lines)
