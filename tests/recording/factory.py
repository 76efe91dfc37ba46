"""Exchanges made in a line, for the recording tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from mockserver.recording import Exchange, build_exchange

URL = "http://127.0.0.1:8000/v4/chat-experiment"
STARTED = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
JSON_HEADERS = [("content-type", "application/json")]
SSE_HEADERS = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]


def body_bytes(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def chat(content: str = "Hi", **fields: Any) -> dict[str, Any]:
    return {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": content}], **fields}


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def json_exchange(request: Any, answer: Any, *, status: int = 200, method: str = "POST", url: str = URL,
                  headers: list[tuple[str, str]] | None = None, head_ms: float = 5.0, end_ms: float = 5.0,
                  pace: str = "live") -> Exchange:
    return build_exchange(method=method, url=url, request_headers=headers or [("X-API-KEY", "k" * 12)],
                          request_body=body_bytes(request), status=status, response_headers=JSON_HEADERS,
                          body=body_bytes(answer), head_ms=head_ms, end_ms=end_ms, pace=pace, started=STARTED)  # type: ignore[arg-type]


def stream_exchange(request: Any, events: list[tuple[float, bytes]], *, head_ms: float = 1.0,
                    pace: str = "live") -> Exchange:
    return build_exchange(method="POST", url=URL, request_headers=[("X-API-KEY", "k" * 12)],
                          request_body=body_bytes(request), status=200, response_headers=SSE_HEADERS,
                          events=events, head_ms=head_ms, pace=pace, started=STARTED)  # type: ignore[arg-type]
