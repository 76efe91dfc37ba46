"""httpx transports that call the mock's ASGI app in-process and stream for real.

`httpx.ASGITransport` reads the whole body before returning (httpx issue #2186), so a client
cannot see events arrive, time them, or stop a stream early. These transports hand each body chunk
to the client as the app sends it, and closing the response cancels the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import httpx
from starlette.types import ASGIApp, Message

from mockserver.http.request import request_of

T = TypeVar("T")
_END = object()


class _Aborted(Exception):
    """The app dropped the connection (the reset fault)."""


def _scope(request: httpx.Request) -> dict[str, Any]:
    url = request.url
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": url.scheme,
        "path": url.path,
        "raw_path": url.raw_path.split(b"?")[0],
        "query_string": url.query,
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in request.headers.raw],
        "client": ("127.0.0.1", 50000),
        "server": (url.host, url.port or 80),
    }


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, queue: asyncio.Queue[Any], task: asyncio.Task[None], disconnected: asyncio.Event) -> None:
        self._queue = queue
        self._task = task
        self._disconnected = disconnected

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise _as_httpx_error(item)
            yield item

    async def next_chunks(self) -> list[bytes] | None:
        """Every chunk available now (waiting for at least one); None at the end. One thread hop
        per burst for the sync transport, instead of one per event."""
        chunks: list[bytes] = []
        item = await self._queue.get()
        while True:
            if item is _END:
                if chunks:
                    self._queue.put_nowait(_END)
                    return chunks
                return None
            if isinstance(item, BaseException):
                if chunks:
                    self._queue.put_nowait(item)
                    return chunks
                raise _as_httpx_error(item)
            chunks.append(item)
            if self._queue.empty():
                return chunks
            item = self._queue.get_nowait()

    async def aclose(self) -> None:
        self._disconnected.set()
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


def _as_httpx_error(error: BaseException) -> Exception:
    if isinstance(error, _Aborted):
        return httpx.RemoteProtocolError("Server disconnected (connection reset by the mock).")
    return error if isinstance(error, Exception) else RuntimeError(repr(error))


class MockAsyncTransport(httpx.AsyncBaseTransport):
    """An async httpx transport into the app, in this event loop."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        disconnected = asyncio.Event()
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if not started.done():
                    started.set_result(message)
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if chunk:
                    await queue.put(chunk)
                if not message.get("more_body", False):
                    await queue.put(_END)

        def abort() -> None:
            disconnected.set()
            failure = _Aborted()
            if not started.done():
                started.set_exception(failure)
            queue.put_nowait(failure)

        scope = _scope(request)
        request_of(scope).abort = abort  # (the reset fault drops the connection through it)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except asyncio.CancelledError:
                raise
            except BaseException as error:  # surfaced to the client, not lost in a task
                if not started.done():
                    started.set_exception(error)
                queue.put_nowait(error)
            else:
                queue.put_nowait(_END)

        task = asyncio.create_task(run())
        try:
            start = await started
        except BaseException as error:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise _as_httpx_error(error) from None
        return httpx.Response(
            start["status"], headers=start.get("headers", []), stream=_AsyncBody(queue, task, disconnected),
            request=request,
        )


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, transport: MockTransport, stream: _AsyncBody) -> None:
        self._transport = transport
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunks = self._transport._call(self._stream.next_chunks())
            if chunks is None:
                return
            yield from chunks

    def close(self) -> None:
        self._transport._call(self._stream.aclose())


class MockTransport(httpx.BaseTransport):
    """A sync httpx transport into the app; the app runs on a private event loop in a thread."""

    def __init__(self, app: ASGIApp) -> None:
        self._async = MockAsyncTransport(app)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="humanloop-mock-transport",
                                                daemon=True)
                self._thread.start()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        response = self._call(self._async.handle_async_request(request))
        return httpx.Response(response.status_code, headers=response.headers.raw,
                              stream=_SyncBody(self, response.stream), request=request)  # type: ignore[arg-type]

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()
