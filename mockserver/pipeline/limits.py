"""Refuse a prompt or an answer too large to produce, before producing it.

A config's template can repeat an input many times (`{{x}}` 100,000 times, `x` 1,000 characters:
a 100 MB prompt from a 1 KB request), and every sample of a JSON answer echoes its prompt. So a
prompt's size is estimated before it is rendered, from lengths already at hand: the template's JSON
length and how often each placeholder occurs (once per config), each used input's JSON length, and
the body's length standing in for the request's own messages. An answer's size follows from its
rendered prompts (each bounded by then) before it is serialised. Past `--max-prompt-bytes` or
`--max-answer-bytes` the request gets a 413 naming the limit, at once instead of after the event
loop spent seconds on it. Both checks run only when the result is not memoised already.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from contracts.messages import TextChatContent
from mockserver import jsonio
from mockserver.errors import ApiError
from mockserver.pipeline.answer import ParsedChat
from mockserver.pipeline.render import PLACEHOLDER
from mockserver.world.memo import Memo
from mockserver.world.state import ModelConfig

# What a JSON answer adds per sample beyond echoing the prompt (ids, usage, provider payloads, text).
ANSWER_BYTES_PER_SAMPLE = 8 * 1024


@dataclass(frozen=True)
class TemplateShape:
    """What a config's template contributes to a prompt's size: its own JSON bytes, and how many
    times each placeholder occurs."""

    json_bytes: int
    placeholders: tuple[tuple[str, int], ...]


def template_shape(config: ModelConfig) -> TemplateShape:
    template = config.fields.chat_template or []
    counts: Counter[str] = Counter()
    for message in template:
        content = message.content
        texts = [content] if isinstance(content, str) else [
            p.text for p in content or [] if isinstance(p, TextChatContent)
        ]
        for text in texts:
            counts.update(PLACEHOLDER.findall(text))
    json_bytes = len(jsonio.dumps([m.model_dump(mode="json") for m in template])) if template else 0
    return TemplateShape(json_bytes, tuple(counts.items()))


def _input_json_bytes(value: Any) -> int:
    """The JSON length of an input as it lands in a rendered prompt (strings are escaped, not quoted)."""
    if isinstance(value, str) and value.isascii() and value.isalnum():
        return len(value)
    return len(jsonio.dumps(value))


def prompt_estimate(shape: TemplateShape, inputs: dict[str, Any], body_bytes: int) -> int:
    """About the JSON bytes of the rendered prompt: at least its true size, give or take the few
    bytes of each placeholder and the non-message parts of the body."""
    total = shape.json_bytes + body_bytes
    for name, count in shape.placeholders:
        if name in inputs:
            total += count * _input_json_bytes(inputs[name])
    return total


def check_prompt(memo: Memo, parsed: ParsedChat, config: ModelConfig, limit: int) -> None:
    """413 if this config's template, filled with the request's inputs, plus the messages, would be over
    `limit` bytes. Called before rendering (only when a prompt is not memoised yet)."""
    shape: TemplateShape = memo.get(
        "template-shape", (config.id, config.fingerprint), lambda: template_shape(config), _shape_size
    )
    estimate = prompt_estimate(shape, parsed.request.inputs, len(parsed.body))
    if estimate > limit:
        raise ApiError(413, f"The rendered prompt would be about {estimate} bytes (model config {config.id}'s "
                            f"template filled with these inputs, plus the messages), over this server's limit of "
                            f"{limit} bytes (--max-prompt-bytes).")


def check_answer(prompt_bytes: list[int], limit: int) -> None:
    """413 if a JSON answer whose samples echo prompts of these sizes (the first one twice: the
    provider request shows it too) would be over `limit` bytes. Called before it is serialised."""
    if not prompt_bytes:
        return
    answer = sum(prompt_bytes) + prompt_bytes[0] + len(prompt_bytes) * ANSWER_BYTES_PER_SAMPLE
    if answer > limit:
        raise ApiError(413, f"The answer would be about {answer} bytes ({len(prompt_bytes)} samples, each echoing "
                            f"its rendered prompt), over this server's limit of {limit} bytes "
                            "(--max-answer-bytes); ask for fewer samples or send a shorter prompt.")


def _shape_size(shape: TemplateShape) -> int:
    return 64 * len(shape.placeholders)
