"""Render a config's `chat_template` with the request's `inputs` (`{{name}}` placeholders)."""

from __future__ import annotations

import json
import re
from typing import Any

from contracts.messages import ChatMessageWithToolCall, TextChatContent
from mockserver.errors import error_item, validation_failed

PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def template_variables(template: list[ChatMessageWithToolCall]) -> list[str]:
    """Every placeholder name in the template, in order of first appearance."""
    names: dict[str, None] = {}
    for message in template:
        content = message.content
        texts = [content] if isinstance(content, str) else [
            p.text for p in content or [] if isinstance(p, TextChatContent)
        ]
        for text in texts:
            names.update(dict.fromkeys(PLACEHOLDER.findall(text)))
    return list(names)


def _fill(text: str, inputs: dict[str, Any]) -> str:
    """`text` with each placeholder replaced by its input's text. Split and joined rather than
    substituted match by match: a template may hold the same placeholder 100,000 times."""
    pieces = PLACEHOLDER.split(text)  # literal, name, literal, name, ..., literal
    if len(pieces) == 1:
        return text
    names = pieces[1::2]
    texts = {name: _text_of(inputs[name]) for name in set(names)}
    pieces[1::2] = [texts[name] for name in names]
    return "".join(pieces)


def render_template(template: list[ChatMessageWithToolCall], inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The template's messages with placeholders filled, as wire dicts (explicit nulls).

    A placeholder without an input is a 422 naming the missing input, in the upstream style.
    """
    missing = [name for name in template_variables(template) if name not in inputs]
    if missing:
        raise validation_failed(
            [error_item(["body", "inputs", name], "field required", "value_error.missing") for name in missing]
        )
    rendered = []
    for message in template:
        data = message.model_dump(mode="json")
        content = data["content"]
        if isinstance(content, str):
            data["content"] = _fill(content, inputs)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    part["text"] = _fill(part["text"], inputs)
        rendered.append(data)
    return rendered

