"""The explicit scenarios, run before any fuzzing so that a run can never pass without real answers.

Per experiment id: JSON with num_samples 1 and 3, streamed with 1 and 3, a conversation with tool
calls, JSON mode, and the validation errors the clients must be able to map. Per target: requests
without a key and with a wrong one. With writes allowed: register a config, create, list, rename,
sample, chat with and delete an experiment of the checker's own, then use it after deletion.
"""

from __future__ import annotations

import json
from typing import Any

from contracts.check.exchange import Intent, Request
from contracts.check.operations import (
    CHAT,
    CREATE_EXPERIMENT,
    DELETE_EXPERIMENT,
    FEEDBACK,
    LIST_EXPERIMENTS,
    REGISTER,
    SAMPLE_CONFIG,
    UPDATE_EXPERIMENT,
    path_for,
)

CHECK_PROJECT = "humanloop-mock-check"  # the project --allow-writes creates its things in
HELLO = [{"role": "user", "content": "Say hello in five words."}]
TOOL_CONVERSATION = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [{
        "id": "call_check_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"},
    }]},
    {"role": "tool", "content": "{\"temperature_c\": 18}", "tool_call_id": "call_check_1"},
]


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chat_body(experiment_id: str, inputs: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    """A minimal chat request, as the official clients send it (they always send provider_api_keys),
    with the template inputs given by `--input`, if any."""
    body = {"experiment_id": experiment_id, "messages": HELLO, "provider_api_keys": {}, **fields}
    if inputs:
        body["inputs"] = {**inputs, **body.get("inputs", {})}
    return body


def chat_request(name: str, experiment_id: str, body: Any, intent: Intent = Intent.VALID, *,
          expect_status: int | None = None, expect_loc: tuple[str | int, ...] | None = None,
          raw: bytes | None = None) -> Request:
    return Request("POST", "/chat-experiment", CHAT, f"scenario {name} ({experiment_id})", intent,
                   raw if raw is not None else encode(body), expect_status, expect_loc)


def chat_scenarios(experiment_id: str, inputs: dict[str, str] | None = None) -> list[Request]:
    valid = [
        ("json-1", chat_body(experiment_id, inputs)),
        ("json-3", chat_body(experiment_id, inputs, num_samples=3)),
        ("stream-1", chat_body(experiment_id, inputs, stream=True)),
        ("stream-3", chat_body(experiment_id, inputs, stream=True, num_samples=3)),
        ("tools", chat_body(experiment_id, inputs, messages=TOOL_CONVERSATION, tool_choice="auto")),
        ("json-mode", chat_body(experiment_id, inputs, response_format={"type": "json_object"},
                                messages=[{"role": "user", "content": "Answer in JSON: what is 2 + 2?"}])),
    ]
    requests = [chat_request(name, experiment_id, body) for name, body in valid]
    without_messages = chat_body(experiment_id, inputs)
    del without_messages["messages"]
    invalid: list[tuple[str, Any, tuple[str | int, ...]]] = [
        ("missing-messages", without_messages, ("body", "messages")),
        ("num-samples-as-string", chat_body(experiment_id, inputs, num_samples="3"), ("body", "num_samples")),
        ("num-samples-zero", chat_body(experiment_id, inputs, num_samples=0), ("body", "num_samples")),
        ("unknown-key", chat_body(experiment_id, inputs, surprise=True), ("body", "surprise")),
        ("bad-role", chat_body(experiment_id, inputs, messages=[{"role": "robot", "content": "hi"}]),
         ("body", "messages", 0, "role")),
    ]
    requests += [chat_request(name, experiment_id, body, Intent.INVALID, expect_status=422, expect_loc=loc)
                 for name, body, loc in invalid]
    cut_short = encode(chat_body(experiment_id))[:-1]  # JSON that ends too early
    requests.append(chat_request("malformed-json", experiment_id, None, Intent.INVALID, expect_status=422,
                                 expect_loc=("body",), raw=cut_short))
    return requests


def auth_scenarios(experiment_id: str, inputs: dict[str, str] | None = None) -> list[Request]:
    body = encode(chat_body(experiment_id, inputs))
    return [
        Request("POST", "/chat-experiment", CHAT, "scenario no-key", Intent.NO_KEY, body, 401),
        Request("POST", "/chat-experiment", CHAT, "scenario wrong-key", Intent.WRONG_KEY, body, 401),
    ]


def sample_config_request(experiment_id: str, name: str = "sample-config",
                          intent: Intent = Intent.VALID) -> Request:
    return Request("GET", path_for(SAMPLE_CONFIG, experiment_id=experiment_id), SAMPLE_CONFIG,
                   f"scenario {name} ({experiment_id})", intent)


def list_experiments_request(project_id: str, name: str = "list-experiments") -> Request:
    return Request("GET", path_for(LIST_EXPERIMENTS, project_id=project_id), LIST_EXPERIMENTS,
                   f"scenario {name} ({project_id})", Intent.VALID)


# ---- --allow-writes: the checker's own project and experiment --------------------------------------

def register_request(seed: int) -> Request:
    body = {
        "project": CHECK_PROJECT, "model": "gpt-4o-mini", "endpoint": "chat", "temperature": 0.2,
        "name": f"humanloop-mock-check-{seed}",
        "chat_template": [{"role": "system", "content": "You are checking a contract. Answer briefly."}],
    }
    return Request("POST", "/model-configs", REGISTER, "scenario register-config", Intent.VALID, encode(body))


def create_experiment_request(project_id: str, config_id: str, name: str) -> Request:
    body = {"name": name, "positive_labels": [{"type": "rating", "value": "good"}], "config_ids": [config_id]}
    return Request("POST", path_for(CREATE_EXPERIMENT, project_id=project_id), CREATE_EXPERIMENT,
                   "scenario create-experiment", Intent.VALID, encode(body))


def rename_experiment_request(experiment_id: str, name: str, origin: str = "scenario rename-experiment",
                              intent: Intent = Intent.VALID) -> Request:
    return Request("PATCH", path_for(UPDATE_EXPERIMENT, experiment_id=experiment_id), UPDATE_EXPERIMENT, origin, intent,
                   encode({"name": name}))


def delete_experiment_request(experiment_id: str, origin: str = "scenario delete-experiment") -> Request:
    return Request("DELETE", path_for(DELETE_EXPERIMENT, experiment_id=experiment_id), DELETE_EXPERIMENT, origin,
                   Intent.VALID)


def feedback_request(data_id: str) -> Request:
    body = {"type": "rating", "value": "good", "data_id": data_id}
    return Request("POST", "/feedback", FEEDBACK, "scenario feedback", Intent.VALID, encode(body))
