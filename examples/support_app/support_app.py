"""A small support assistant built on Humanloop's chat-experiment API (the official Python SDK).

It does what real callers of the API must: retry on 429 honouring `Retry-After`, act on tool
calls and send the results back, and assemble streamed samples by their `index`.

The SDK (humanloop 0.7.32) reports a refused call two ways: `chat_experiment` raises `ApiException`,
with the response headers; the streaming `chat_experiment_stream` raises `ApiStreamingException` (not
an `ApiException`), with the status and body but no headers, so a streamed call cannot see
`Retry-After` and waits `DEFAULT_RETRY_AFTER` instead.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from humanloop import Humanloop
from humanloop.exceptions import ApiException, ApiStreamingException

ORDERS = {"A1": "shipped", "B2": "processing"}
DEFAULT_RETRY_AFTER = 1.0  # seconds, when the error does not say (or cannot: a streamed call's)
Result = TypeVar("Result")


class IncompleteStream(RuntimeError):
    """A streamed sample ended without a finish_reason (the connection was cut)."""


def lookup_order(order_id: str) -> str:
    return json.dumps({"order_id": order_id, "status": ORDERS.get(order_id, "unknown")})


TOOLS: dict[str, Callable[..., str]] = {"lookup_order": lookup_order}


@dataclass
class SupportAssistant:
    client: Humanloop
    experiment_id: str
    max_attempts: int = 4
    sleep: Callable[[float], None] = time.sleep
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    retries: list[float] = field(default_factory=list)

    def _retry_wait(self, error: ApiException | ApiStreamingException, attempt: int) -> float | None:
        """Seconds to wait before trying again after `error`, or None to give up (not a 429, or the
        last attempt). Only an `ApiException` carries headers, so only it can say `Retry-After`."""
        if error.status != 429 or attempt == self.max_attempts:
            return None
        headers = getattr(error, "headers", None) or {}
        wait = float(headers.get("Retry-After", DEFAULT_RETRY_AFTER))
        self.retries.append(wait)
        return wait

    def _call(self, messages: list[dict[str, Any]]) -> Any:
        """One chat-experiment call, retried on 429 after the server's Retry-After."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self.client.chat_experiment(experiment_id=self.experiment_id, messages=messages)
            except ApiException as error:
                wait = self._retry_wait(error, attempt)
                if wait is None:
                    raise
                self.sleep(wait)
        raise AssertionError("unreachable")

    async def _open_stream(self, start: Callable[[], Awaitable[Result]]) -> Result:
        """A streamed call (`start` opens it), retried on 429 like `_call`: the stream's error comes
        when it is opened, before any event."""
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await start()
            except ApiStreamingException as error:
                wait = self._retry_wait(error, attempt)
                if wait is None:
                    raise
                await self.async_sleep(wait)
        raise AssertionError("unreachable")

    def answer(self, question: str) -> str:
        """The assistant's answer, running any tools the model asks for first."""
        messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
        for _ in range(5):
            sample = self._call(messages).data[0]
            calls = sample.tool_calls or []
            if sample.finish_reason != "tool_call" or not calls:
                return sample.output
            # humanloop 0.7.32 refuses `content: null` client-side, so a tool-only turn sends "".
            messages.append({"role": "assistant", "content": sample.output or "",
                             "tool_calls": [c.model_dump() for c in calls]})
            for call in calls:
                result = TOOLS[call.function.name](**json.loads(call.function.arguments or "{}"))
                messages.append({"role": "tool", "content": result, "tool_call_id": call.id})
        raise RuntimeError("too many tool rounds")

    async def stream_samples(self, question: str, samples: int = 2) -> dict[int, str]:
        """Stream `samples` answers at once and put each one's deltas together by index."""
        response = await self._open_stream(lambda: self.client.chat_experiment_stream(
            experiment_id=self.experiment_id, messages=[{"role": "user", "content": question}],
            num_samples=samples,
        ))
        texts: dict[int, str] = {}
        finished: set[int] = set()
        async for chunk in response.content:
            index = chunk["index"]
            texts[index] = texts.get(index, "") + (chunk["output"] or "")
            if chunk["finish_reason"] is not None:
                finished.add(index)
        if finished != set(range(samples)):
            raise IncompleteStream(f"samples {sorted(set(range(samples)) - finished)} never finished")
        return texts
