"""What a served mock answers, byte for byte: the reference a recording made by another tool must equal."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from mockserver.recording import Exchange, split_events

SEED = 7


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    is_stream: bool

    @property
    def events(self) -> list[bytes]:
        return split_events(self.body)


def mock_answers(bodies: list[bytes], key: str = "reference-key") -> list[Answer]:
    """A fresh mock (same seed as the recording's) sent the same bodies in the same order: by the
    mock's promise (same seed, same requests, same bytes), these are the bytes the recording saw."""
    answers = []
    with BackgroundServer(create_app(MockSettings(seed=SEED))) as server, httpx.Client(timeout=30) as client:
        for body in bodies:
            with client.stream("POST", f"{server.base_url}/chat-experiment", content=body,
                               headers={"X-API-KEY": key, "Content-Type": "application/json"}) as response:
                data = b"".join(response.iter_raw())
            answers.append(Answer(response.status_code, data,
                                  response.headers["content-type"].startswith("text/event-stream")))
    return answers


def assert_same_answer(exchange: Exchange, answer: Answer) -> None:
    assert exchange.response.status == answer.status
    assert exchange.response.content.body() == answer.body
    assert exchange.is_stream == answer.is_stream
    if answer.is_stream:
        assert exchange.event_bytes() == answer.events and len(answer.events) > 1
