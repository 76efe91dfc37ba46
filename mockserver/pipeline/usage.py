"""Token usage of a sample, by the documented count in `tokens` (computed once per sample)."""

from __future__ import annotations

from typing import Any

from mockserver.pipeline.generate import Generation
from mockserver.pipeline.tokens import TOKENS_PER_MESSAGE, count_tokens


def message_tokens(message: dict[str, Any]) -> int:
    """A message's text and tool calls, plus a fixed cost per message."""
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(part.get("text", "") for part in content if part.get("type") == "text")
    calls = message.get("tool_calls") or []
    call_text = " ".join(c["function"]["name"] + " " + (c["function"].get("arguments") or "") for c in calls)
    return TOKENS_PER_MESSAGE + count_tokens(content or "") + count_tokens(call_text)


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Every rendered message, template and request alike."""
    return sum(message_tokens(m) for m in messages)


def sample_usage(prompt: int, generation: Generation) -> dict[str, int]:
    """`prompt` tokens in; out: the output text and any tool call names and arguments."""
    calls = " ".join(c["function"]["name"] + " " + c["function"]["arguments"] for c in generation.tool_calls)
    produced = count_tokens(generation.text) + count_tokens(calls)
    return {"prompt_tokens": prompt, "generation_tokens": produced, "total_tokens": prompt + produced}
