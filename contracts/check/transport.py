"""Send the checker's requests: one at a time, under a request budget and a rate limit, timed.

Reads every body raw (a stream as the bytes on the wire), records when the first body byte came,
and never stores the API key with what it records.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from contracts.check.exchange import Exchange, Intent, Request, Response

API_KEY_HEADER = "X-API-KEY"
WRONG_KEY = "humanloop-mock-check-wrong-key"
MAX_BODY_BYTES = 32 * 1024 * 1024  # a longer answer is cut off and reported


class BudgetExhausted(Exception):
    """`--max-requests` requests have been sent."""


class Unreachable(Exception):
    """Nothing answers at the URL."""


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


class Transport:
    """The checker's only way to the target. Every request counts against the budget."""

    def __init__(self, base_url: str, api_key: str, *, max_requests: int, rate: float | None,
                 timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.max_requests = max_requests
        self.limiter = RateLimiter(rate)
        self.sent = 0
        self.exchanges: list[Exchange] = []
        self._reached = False
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                    follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    @property
    def remaining(self) -> int:
        return self.max_requests - self.sent

    def take_budget(self) -> None:
        """Count one request (also used for requests the official client sends) and pace it."""
        if self.sent >= self.max_requests:
            raise BudgetExhausted
        self.sent += 1
        self.limiter.wait()

    def probe(self, url: str) -> object:
        """GET an absolute URL (counted, never judged); its JSON body, or None on any failure."""
        self.take_budget()
        try:
            reply = self._client.get(url, timeout=5.0, headers={"Accept": "application/json"})
            return reply.json() if reply.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

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

    def send(self, request: Request, record: bool = True) -> Exchange:
        self.take_budget()
        response = self._exchange(request)
        exchange = Exchange(len(self.exchanges) + 1 if record else 0, request, response)
        if record:
            self.exchanges.append(exchange)
        return exchange

    def _exchange(self, request: Request) -> Response | None:
        url = self.base_url + request.path
        started = time.perf_counter()
        first_byte: float | None = None
        chunks: list[bytes] = []
        size = 0
        try:
            with self._client.stream(request.method, url, content=request.body,
                                     headers=self.headers_for(request)) as reply:
                headers = {k.lower(): v for k, v in reply.headers.items()}
                status = reply.status_code
                self._reached = True
                error = None
                for chunk in reply.iter_raw():
                    if first_byte is None:
                        first_byte = time.perf_counter() - started
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        error = f"body larger than {MAX_BODY_BYTES} bytes; stopped reading"
                        break
        except httpx.ConnectError as failed:
            if not self._reached:
                raise Unreachable(f"cannot connect to {self.base_url}: {failed}") from None
            return Response(0, {}, b"", 0.0, time.perf_counter() - started, f"connection failed: {failed}")
        except httpx.TimeoutException:
            return Response(0, {}, b"".join(chunks), first_byte or 0.0, time.perf_counter() - started,
                            "timed out")
        except httpx.HTTPError as failed:
            return Response(0, {}, b"".join(chunks), first_byte or 0.0, time.perf_counter() - started,
                            f"the connection broke: {type(failed).__name__}: {failed}")
        total = time.perf_counter() - started
        return Response(status, headers, b"".join(chunks), total if first_byte is None else first_byte, total, error)
