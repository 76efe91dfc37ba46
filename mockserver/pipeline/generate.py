"""Produce one sample's answer: text, a JSON object, or tool calls, honouring the config.

The answer depends only on the seed, the config, the rendered messages, the sample index and the
request's tool/response-format settings; never on call order or on whether the reply is streamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from contracts.configs import LinkedToolRequest, ModelConfigFields, ModelConfigToolRequest
from contracts.messages import ToolChoice
from mockserver.determinism import SeededFaker, derive_random, make_id
from mockserver.errors import ApiError
from mockserver.fixed_unicode import quoted
from mockserver.pipeline.schema_data import generate_instance
from mockserver.pipeline.tokens import cut_to_tokens

FINISH_STOP = "stop"
FINISH_LENGTH = "length"
FINISH_TOOL_CALL = "tool_call"


@dataclass(frozen=True)
class ToolPlan:
    """What the request asks of tools: 'none', 'auto', 'required', or one named function."""

    mode: str
    function: str | None = None


@dataclass(frozen=True)
class Generation:
    """One sample's answer, before ids and wire shapes are added."""

    text: str
    finish_reason: str
    tool_calls: tuple[dict[str, Any], ...] = ()


def tool_plan(tool_choice: Any, tool_call: Any, config: ModelConfigFields) -> ToolPlan:
    """The effective tool choice: `tool_choice`, else the deprecated `tool_call`, else the default
    ('auto' when the config has tools, 'none' otherwise), as upstream documents."""
    if isinstance(tool_choice, ToolChoice):
        return ToolPlan("function", tool_choice.function.name)
    if isinstance(tool_choice, str):
        return ToolPlan(tool_choice)
    if isinstance(tool_call, dict) and "name" in tool_call:
        return ToolPlan("function", tool_call["name"])
    if tool_call in ("none", "auto", "required"):
        return ToolPlan(tool_call)
    return ToolPlan("auto" if config.tools else "none")


def tool_definitions(config: ModelConfigFields) -> list[dict[str, Any]]:
    """The config's tools as `{name, description, parameters}` (linked tools may lack a schema)."""
    tools = []
    for tool in config.tools or []:
        if isinstance(tool, ModelConfigToolRequest | LinkedToolRequest):
            tools.append({
                "name": tool.name or (tool.id if isinstance(tool, LinkedToolRequest) else ""),
                "description": tool.description,
                "parameters": tool.parameters or {"type": "object", "properties": {}},
            })
    return tools


def _choose_tool(plan: ToolPlan, tools: list[dict[str, Any]], config_id: str, last_role: str | None,
                 rng: Any) -> dict[str, Any] | None:
    if plan.mode == "none":
        return None
    if plan.mode == "function":
        named = next((t for t in tools if t["name"] == plan.function), None)
        if named is None:
            raise ApiError(409, f"tool_choice names function {quoted(plan.function)}, but model config {config_id} "
                                f"has no tool of that name (its tools: {[t['name'] for t in tools]}).")
        return named
    if plan.mode == "required":
        if not tools:
            raise ApiError(409, f"tool_choice 'required' needs a model config with tools, but model config "
                                f"{config_id} has none.")
        return rng.choice(tools)
    # auto: answer a tool result with text; otherwise call a tool on a seeded coin flip.
    if tools and last_role != "tool" and rng.random() < 0.5:
        return rng.choice(tools)
    return None


def _prose(faker: Any, rng: Any) -> str:
    paragraphs = [
        " ".join(faker.sentence(nb_words=rng.randint(4, 12)) for _ in range(rng.randint(1, 3)))
        for _ in range(rng.randint(1, 3))
    ]
    return "\n\n".join(paragraphs)


def _json_object(faker: Any, rng: Any) -> str:
    answer = {
        "answer": faker.sentence(nb_words=rng.randint(4, 10)),
        "confidence": round(rng.random(), 2),
        "topics": faker.words(rng.randint(1, 3)),
    }
    return json.dumps(answer, ensure_ascii=False)


def _apply_stop_and_length(text: str, stop: str | list[str] | None, max_tokens: int) -> tuple[str, str]:
    finish = FINISH_STOP
    sequences = [stop] if isinstance(stop, str) else list(stop or [])
    cuts = [text.find(s) for s in sequences if s]
    cuts = [c for c in cuts if c >= 0]
    if cuts:
        text = text[: min(cuts)]
    if max_tokens >= 0:  # negative (the default -1) means no limit
        text, was_cut = cut_to_tokens(text, max_tokens)
        if was_cut:
            finish = FINISH_LENGTH
    return text.strip(), finish


def generate(
    *,
    seed: int,
    faker: SeededFaker,
    config_id: str,
    config: ModelConfigFields,
    messages_key: str,
    last_role: str | None,
    index: int,
    plan: ToolPlan,
    json_mode: bool,
) -> Generation:
    """One sample's answer. `messages_key` is the canonical JSON of the rendered messages."""
    key = ("generate", config_id, messages_key, index, plan.mode, plan.function, json_mode)
    rng = derive_random(seed, *key)
    fake = faker.seeded(seed, *key)
    tool = _choose_tool(plan, tool_definitions(config), config_id, last_role, rng)
    if tool is not None:
        arguments = generate_instance(tool["parameters"], rng, fake)
        call = {
            "id": "call_" + make_id("c", seed, *key)[2:26],
            "type": "function",
            "function": {"name": tool["name"], "arguments": json.dumps(arguments, ensure_ascii=False)},
        }
        return Generation("", FINISH_TOOL_CALL, (call,))
    text = _json_object(fake, rng) if json_mode else _prose(fake, rng)
    # In JSON mode stop sequences are not applied, so the output stays one JSON object.
    stop = None if json_mode else config.stop
    text, finish = _apply_stop_and_length(text, stop, config.max_tokens)
    return Generation(text, finish)

