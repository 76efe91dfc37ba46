"""The response template writes exactly the bytes plain serialisation would, for every shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver import jsonio
from mockserver.context import MockContext
from mockserver.pipeline.chat import answer_chat, parse_chat
from mockserver.pipeline.json_cache import build_template, render_json
from mockserver.pipeline.respond import chat_response
from mockserver.settings import MockSettings
from tests.conftest import spec_with_configs

TOOL = {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}
BODIES: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "plain"}]},
    {"messages": [{"role": "user", "content": "ünïcödé ✓ \"quotes\" \\ back"}], "num_samples": 4},
    {"messages": [], "inputs": {"who": "Ada"}, "return_inputs": False, "user": "u", "metadata": {"k": [1]}},
    {"messages": [{"role": "user", "content": "tools"}], "tool_choice": "required", "num_samples": 2},
    {"messages": [{"role": "user", "content": "json"}], "response_format": {"type": "json_object"}},
    {"messages": [{"role": "user", "content": "session"}], "session_reference_id": "s", "project": "p"},
]


@pytest.mark.parametrize("body", BODIES)
def test_template_matches_plain_serialisation(body: dict[str, Any]) -> None:
    spec = spec_with_configs({"id": "config_a", "model": "a", "tools": [TOOL]},
                             {"id": "config_b", "model": "b", "tools": [TOOL], "max_tokens": 7})
    context = MockContext(MockSettings(seed=4, spec=spec))
    raw = json.dumps({"experiment_id": "exp_test", **body}).encode()
    for _ in range(6):  # the first call builds the template, later ones fill it
        parsed = parse_chat(context.memo, raw, "application/json")
        answer = answer_chat(context, parsed)
        assert render_json(context.memo, parsed, answer) == jsonio.dumps(chat_response(answer))


def test_a_body_that_carries_the_slot_marker_is_not_templated() -> None:
    context = MockContext(MockSettings())
    raw = json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "\x01hlmock:id:0\x01"}]})
    parsed = parse_chat(context.memo, raw.encode(), "application/json")
    answer = answer_chat(context, parsed)
    assert build_template(answer) is None
    assert render_json(context.memo, parsed, answer) == jsonio.dumps(chat_response(answer))
