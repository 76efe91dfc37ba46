"""What went out, noted as it goes: the `send` the door hands the sender (`http.deliver`) writes each ASGI
message's status, headers and body into the request's journal entry and, with `--record`, its capture,
then passes it on to the server.

Noting at the one place every message passes keeps the sender's ways of cutting an answer (`Whole`,
`Batched`, `Paced`, `Relayed`) free of journal calls, and means the journal holds what was handed to the
server, not what a branch meant to send. A piece handed over after the client left is not passed on (the
server would drop it): the capture still gets it, the journal notes that the client left instead.
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import Message, Send

from mockserver.http.request import Request


class NotingSend:
    """`send` wrapped for `request` (see the module doc). `request.sent` is set at the answer's head: the
    sender's 500 fallback and the door's access-log line read it."""

    __slots__ = ("request", "send")

    def __init__(self, request: Request, send: Send) -> None:
        self.request = request
        self.send = send

    def __call__(self, message: Message) -> Awaitable[None]:
        request = self.request
        entry, capture = request.entry, request.capture
        if message["type"] == "http.response.body":
            if entry is not None:
                chunk = message.get("body", b"")
                if chunk and capture is not None:
                    capture.response_bytes(chunk)
                if request.client_gone:  # the server drops what is sent now: it is not noted as sent
                    entry.client_left = True
                    return _not_passed_on()
                if chunk:
                    entry.add_response_chunk(chunk)
                if not message.get("more_body", False):
                    entry.completed = True
        elif message["type"] == "http.response.start":
            status, headers = message["status"], message["headers"]
            if entry is not None:
                entry.note_response_start(status, headers)
            if capture is not None:
                capture.response_head(status, [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers])
            request.sent = (status, entry.error if entry is not None else None)
        return self.send(message)


async def _not_passed_on() -> None:
    """(an awaitable for a piece the server would drop)"""
