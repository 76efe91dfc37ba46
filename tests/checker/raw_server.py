"""A loopback HTTP/1.1 server that answers exactly the bytes it is told to, for targets nobody here wrote.

uvicorn and Starlette refuse to send a broken answer (a bad status line, a body shorter than its
Content-Length, a reset in the middle, a byte a second for ever); this server sends whatever an
`Answer` says, so the checker and the official clients can be tried against it. It runs its own
asyncio loop in a thread, binds port 0 on 127.0.0.1, and stops (closing every connection) on exit.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Seen:
    """One request as it arrived."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Repeat:
    """`data` sent `times` times, `every` seconds apart: a drip, or (with many times) an endless body."""

    data: bytes
    times: int
    every: float = 0.0


RESET = "reset"  # abort the connection (TCP RST) at this point
CLOSE = "close"  # close it cleanly at this point

Part = bytes | Pause | Repeat | str


@dataclass(frozen=True)
class Answer:
    """What to send: a status line and headers (or `head`, sent as is), then `parts` in order."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    parts: tuple[Part, ...] = ()
    content_length: bool = True  # add a Content-Length of the bytes in `parts` (unless headers have one)
    head: bytes | None = None  # the whole status line and headers, raw (ends with the blank line)

    @property
    def body_length(self) -> int:
        return sum(len(p) if isinstance(p, bytes) else len(p.data) * p.times for p in self.parts
                   if isinstance(p, bytes | Repeat))

    def head_bytes(self) -> bytes:
        if self.head is not None:
            return self.head
        lines = [f"HTTP/1.1 {self.status} {'OK' if self.status < 400 else 'Error'}"]
        names = {name.lower() for name, _ in self.headers}
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.content_length and "content-length" not in names and "transfer-encoding" not in names:
            lines.append(f"Content-Length: {self.body_length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    @property
    def keeps_connection(self) -> bool:
        return self.head is None and self.content_length and all(isinstance(p, bytes | Pause) for p in self.parts)


def json_answer(body: bytes, status: int = 200, content_type: str = "application/json") -> Answer:
    return Answer(status, (("Content-Type", content_type),), (body,))


def stream_answer(body: bytes, status: int = 200, content_type: str = "text/event-stream") -> Answer:
    """A stream as servers send one: no Content-Length, the connection closed at the end."""
    return Answer(status, (("Content-Type", content_type), ("Connection", "close")), (body, CLOSE),
                  content_length=False)


Responder = Callable[[Seen], Answer]


@dataclass
class RawServer:
    """`with RawServer(responder) as server:` then requests to `server.url`; `server.seen` lists them."""

    responder: Responder
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raw-server", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the raw server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0,
                                                                          limit=MAX_HEAD))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._shutdown())
            self._loop.close()

    async def _shutdown(self) -> None:
        """Stop listening, then abort every connection and cancel its task, again for any that was
        being accepted meanwhile, and let the aborted transports close their sockets."""
        assert self._server is not None
        self._server.close()
        for _ in range(3):
            for writer in self._writers:
                writer.transport.abort()  # a closed one: no-op
            tasks = [task for task in self._tasks if not task.done()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0.02)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Called as the connection is made: kept at once, so stopping closes it even before it is served."""
        self._writers.append(writer)
        self._tasks.add(task := self._loop.create_task(self._serve(reader, writer)))
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                seen = await _read_request(reader)
                if seen is None:
                    return
                self.seen.append(seen)
                try:
                    answer = self.responder(seen)
                except Exception as failed:  # a broken test responder: say so on the wire
                    answer = json_answer(repr(failed).encode(), 599)
                if not await _send(writer, answer) or not answer.keeps_connection:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                asyncio.CancelledError):
            return
        finally:
            if not writer.transport.is_closing():
                writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Seen | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        body = b"".join(chunks)
    else:
        body = await reader.readexactly(int(headers.get("content-length") or 0))
    return Seen(method, target, headers, body)


async def _send(writer: asyncio.StreamWriter, answer: Answer) -> bool:
    """Send the answer; False once the connection is gone (reset or closed on purpose)."""
    writer.write(answer.head_bytes())
    for part in answer.parts:
        if isinstance(part, bytes):
            writer.write(part)
            await writer.drain()
        elif isinstance(part, Pause):
            await writer.drain()
            await asyncio.sleep(part.seconds)
        elif isinstance(part, Repeat):
            for _ in range(part.times):
                writer.write(part.data)
                await writer.drain()
                if part.every:
                    await asyncio.sleep(part.every)
        elif part == RESET:
            await writer.drain()
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        elif part == CLOSE:
            await writer.drain()
            writer.close()
            return False
    await writer.drain()
    return True


FOREVER = 10**9  # times: longer than any test waits
