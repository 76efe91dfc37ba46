"""What a sample's answer contains: rendered templates, tool calls, JSON mode, max_tokens, stop, usage."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from starlette.testclient import TestClient

from contracts.chat import ChatResponse
from mockserver import MockSettings, create_app
from mockserver.pipeline.tokens import TOKENS_PER_MESSAGE, count_tokens
from tests.conftest import KEY, chat_body, spec_with_configs

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "when": {"type": "string", "format": "date"},
        },
        "required": ["location", "days"],
        "additionalProperties": False,
    },
}
ORDER = {
    "name": "place_order",
    "parameters": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "minItems": 1, "maxItems": 3, "items": {
                "type": "object",
                "properties": {"sku": {"type": "string", "minLength": 4}, "qty": {"type": "integer", "minimum": 1}},
                "required": ["sku", "qty"],
            }},
            "express": {"type": "boolean"},
        },
        "required": ["items"],
    },
}


def client_for(*configs: dict[str, Any], seed: int = 1) -> TestClient:
    return TestClient(create_app(MockSettings(seed=seed, spec=spec_with_configs(*configs))))


def chat(client: TestClient, **overrides: Any) -> dict[str, Any]:
    response = client.post("/v4/chat-experiment", json=chat_body(experiment_id="exp_test", **overrides), headers=KEY)
    assert response.status_code == 200, response.text
    ChatResponse.model_validate_json(response.content)
    return response.json()


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_template_is_rendered_and_prepended() -> None:
    template = [{"role": "system", "content": "You are {{ persona }} at {{company}}; limits: {{limits}}."},
                {"role": "user", "content": [{"type": "text", "text": "Context: {{company}}"}]}]
    with client_for({"model": "gpt-4o", "chat_template": template}) as client:
        reply = chat(client, inputs={"persona": "a pirate", "company": "Acme", "limits": {"max": 3}})
    messages = reply["data"][0]["messages"]
    assert messages[0]["content"] == 'You are a pirate at Acme; limits: {"max": 3}.'
    assert messages[1]["content"] == [{"type": "text", "text": "Context: Acme"}]
    assert messages[2]["content"] == "What is the capital of France?"
    assert reply["data"][0]["inputs"] == {"persona": "a pirate", "company": "Acme", "limits": {"max": 3}}
    assert reply["provider_request"]["messages"][0] == {"content": messages[0]["content"], "role": "system"}


def test_return_inputs_false_gives_empty_inputs() -> None:
    with client_for({"model": "gpt-4o"}) as client:
        reply = chat(client, inputs={"a": 1}, return_inputs=False)
    assert reply["data"][0]["inputs"] == {}


def test_missing_input_is_a_422_naming_it() -> None:
    with client_for({"model": "gpt-4o", "chat_template": [{"role": "system", "content": "Hi {{name}}"}]}) as client:
        response = client.post("/v4/chat-experiment", json=chat_body(experiment_id="exp_test"), headers=KEY)
    assert response.status_code == 422
    assert response.json() == {"detail": [
        {"loc": ["body", "inputs", "name"], "msg": "field required", "type": "value_error.missing"}
    ]}


@pytest.mark.parametrize("tool", [WEATHER, ORDER])
def test_required_tool_call_arguments_match_the_schema(tool: dict[str, Any]) -> None:
    with client_for({"model": "gpt-4o", "tools": [tool]}) as client:
        for n in range(40):
            reply = chat(client, tool_choice="required", messages=ask(f"question {n}"))
            sample = reply["data"][0]
            assert sample["finish_reason"] == "tool_call"
            call = sample["tool_calls"][0]
            assert call["type"] == "function" and call["function"]["name"] == tool["name"]
            assert call["id"].startswith("call_")
            jsonschema.validate(json.loads(call["function"]["arguments"]), tool["parameters"],
                                format_checker=jsonschema.FormatChecker())
            assert sample["output_message"]["tool_calls"] == sample["tool_calls"]
            assert sample["tool_call"] == call["function"]
            assert reply["provider_responses"][0]["choices"][0]["finish_reason"] == "tool_calls"


def test_named_function_is_the_one_called() -> None:
    with client_for({"model": "gpt-4o", "tools": [WEATHER, ORDER]}) as client:
        for n in range(10):
            reply = chat(client, tool_choice={"type": "function", "function": {"name": "place_order"}},
                         messages=ask(f"q{n}"))
            assert reply["data"][0]["tool_calls"][0]["function"]["name"] == "place_order"
        legacy = chat(client, tool_call={"name": "get_weather"})
        assert legacy["data"][0]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_none_gives_text_and_auto_is_deterministic() -> None:
    outcomes = set()
    with client_for({"model": "gpt-4o", "tools": [WEATHER]}) as client:
        reply = chat(client, tool_choice="none")
        assert reply["data"][0]["tool_calls"] is None and reply["data"][0]["finish_reason"] == "stop"
        for n in range(30):
            first = chat(client, tool_choice="auto", messages=ask(f"auto {n}"))["data"][0]
            second = chat(client, messages=ask(f"auto {n}"))["data"][0]  # auto is the default with tools
            assert (first["finish_reason"], first["tool_calls"]) == (second["finish_reason"], second["tool_calls"])
            outcomes.add(first["finish_reason"])
        after_tool = chat(client, tool_choice="auto", messages=[
            *ask("weather?"),
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
        ])
    assert outcomes == {"stop", "tool_call"}
    assert after_tool["data"][0]["finish_reason"] == "stop"


def test_json_mode_outputs_a_json_object() -> None:
    with client_for({"model": "gpt-4o"}, {"model": "gpt-4o-mini", "response_format": {"type": "json_object"}}) as c:
        for n in range(20):
            reply = chat(c, messages=ask(f"json {n}"), response_format={"type": "json_object"}, num_samples=2)
            for sample in reply["data"]:
                assert isinstance(json.loads(sample["output"]), dict)
        json_config = _config_id(c, "gpt-4o-mini")
        from_config = [s for n in range(20) for s in chat(c, messages=ask(f"cfg {n}"), num_samples=2)["data"]
                       if s["model_config_id"] == json_config]
    assert from_config  # the config that asks for JSON by itself was drawn
    assert all(isinstance(json.loads(s["output"]), dict) for s in from_config)


def _config_id(client: TestClient, model: str) -> str:
    experiment = client.get("/v4/projects/pr_test/experiments", headers=KEY).json()[0]
    return next(c["id"] for c in experiment["configs"] if c["config"]["model"] == model)


def test_max_tokens_cuts_with_finish_reason_length() -> None:
    with client_for({"model": "gpt-4o", "max_tokens": 5}) as client:
        for n in range(10):
            sample = chat(client, messages=ask(f"long {n}"))["data"][0]
            assert count_tokens(sample["output"]) == 5
            assert sample["finish_reason"] == "length"
            assert sample["raw_output"] == sample["output"]


def test_stop_sequence_cuts_the_text() -> None:
    with client_for({"model": "gpt-4o"}) as free, client_for({"model": "gpt-4o", "stop": ["\n"]}) as stopped:
        free_outputs = [chat(free, messages=ask(f"s{n}"))["data"][0]["output"] for n in range(20)]
        stopped_samples = [chat(stopped, messages=ask(f"s{n}"))["data"][0] for n in range(20)]
    assert any("\n" in text for text in free_outputs)  # so the stop sequence had something to cut
    assert all("\n" not in s["output"] and s["finish_reason"] == "stop" for s in stopped_samples)


def test_usage_follows_the_documented_count() -> None:
    with client_for({"model": "gpt-4o", "chat_template": [{"role": "system", "content": "Be brief."}]}) as client:
        reply = chat(client, num_samples=2)
    for sample, provider in zip(reply["data"], reply["provider_responses"], strict=True):
        prompt = sum(TOKENS_PER_MESSAGE + count_tokens(m["content"]) for m in sample["messages"])
        assert provider["usage"]["prompt_tokens"] == prompt
        assert provider["usage"]["completion_tokens"] == count_tokens(sample["output"])
    usage = reply["usage"]
    assert usage["prompt_tokens"] == sum(p["usage"]["prompt_tokens"] for p in reply["provider_responses"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["generation_tokens"]


def test_every_optional_key_is_present_with_explicit_nulls(client: TestClient) -> None:
    reply = client.post("/v4/chat-experiment", json=chat_body(), headers=KEY).json()
    assert list(reply) == ["project_id", "num_samples", "logprobs", "suffix", "user", "data", "usage", "metadata",
                           "provider_responses", "provider_request", "session_id", "tool_choice"]
    assert reply["logprobs"] is None and reply["suffix"] is None and reply["session_id"] is None
    assert list(reply["data"][0]) == ["id", "index", "output", "raw_output", "inputs", "finish_reason",
                                      "model_config_id", "tool_results", "messages", "tool_call", "tool_calls",
                                      "output_message"]
    assert list(reply["data"][0]["output_message"]) == ["content", "name", "tool_call_id", "role", "tool_calls",
                                                        "tool_call"]


def test_provider_keys_never_leave_or_stay(client: TestClient) -> None:
    secret = "sk-very-secret-123"
    body = chat_body(provider_api_keys={"openai": secret})
    response = client.post("/v4/chat-experiment", json=body, headers={"X-API-KEY": "hl-secret-456"})
    assert secret not in response.text and "hl-secret-456" not in response.text
    entry = client.app.state.mock.journal.entries()[-1]
    assert secret not in json.dumps(entry.as_dict()) and "hl-secret-456" not in json.dumps(entry.as_dict())
    assert entry.body["provider_api_keys"] == {"openai": "[redacted]"}
    assert entry.headers["x-api-key"] == "[redacted]"


def test_project_session_and_passthrough_fields(client: TestClient) -> None:
    body = chat_body(project="new-project", session_reference_id="conversation-1", user="u-1",
                     metadata={"trace": "t"}, parent_reference_id="p", source="tests", save=False)
    first = client.post("/v4/chat-experiment", json=body, headers=KEY).json()
    second = client.post("/v4/chat-experiment", json=body, headers=KEY).json()
    assert first["project_id"].startswith("pr_") and first["project_id"] != "pr_demo"
    assert first["session_id"].startswith("sesh_") and first["session_id"] == second["session_id"]
    assert first["user"] == "u-1" and first["metadata"] == {"trace": "t"}
    explicit = client.post("/v4/chat-experiment", json=chat_body(session_id="sesh_mine"), headers=KEY).json()
    assert explicit["session_id"] == "sesh_mine"
    kept = client.app.state.mock.journal.entries()[0].body
    assert kept["parent_reference_id"] == "p" and kept["source"] == "tests" and kept["save"] is False


def test_a_hostile_tool_schema_registered_by_a_client_gives_a_bounded_answer_not_a_500() -> None:
    """`POST /v4/model-configs` takes any object as a tool's `parameters`; a chat call drawing that config
    once answered 500 (a keyword of the wrong type) or held the server for seconds (`minItems: 1e6`)."""
    client = TestClient(create_app(MockSettings(seed=1)))
    hostile = {"type": "object", "required": ["a", "b", "c", 7], "properties": {
        "a": {"type": "array", "minItems": 10**9, "items": {"type": "string", "minLength": 10**9}},
        "b": {"type": "object", "properties": "x", "required": True},
        "c": {"$ref": "#", "format": [], "enum": 1}}}
    registered = client.post("/v4/model-configs", headers=KEY, json={
        "project_id": "pr_demo", "model": "gpt-4o", "endpoint": "chat",
        "tools": [{"name": "hostile", "parameters": hostile}]})
    assert registered.status_code == 200, registered.text
    experiment = client.post("/v4/projects/pr_demo/experiments", headers=KEY, json={
        "name": "hostile", "config_ids": [registered.json()["config"]["id"]], "positive_labels": []})
    assert experiment.status_code == 200, experiment.text
    answer = client.post("/v4/chat-experiment", headers=KEY, json=chat_body(
        experiment_id=experiment.json()["id"], tool_choice="required"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    arguments = json.loads(body["data"][0]["tool_calls"][0]["function"]["arguments"])
    assert len(arguments["a"]) == 64 and all(len(item) == 4096 for item in arguments["a"])
    assert arguments["b"] == {}
