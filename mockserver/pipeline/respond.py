"""Write a `ChatAnswer` as the wire's ChatResponse: every optional key present, nulls explicit.

Also writes what the provider would have been sent (`provider_request`, never with any API key)
and one OpenAI-shaped `provider_responses` item per sample. A sample's pieces that do not depend
on its log id or timestamp (`SampleWire`) are built once and reused for identical requests.
"""

from __future__ import annotations

from typing import Any

from contracts.chat import ChatExperimentRequest
from contracts.configs import ModelConfigFields
from mockserver.determinism import logical_unix
from mockserver.pipeline.answer import ChatAnswer, SampleAnswer, SampleWire
from mockserver.pipeline.generate import Generation, tool_definitions

# Our finish reasons -> OpenAI's, for the provider-shaped payloads.
PROVIDER_FINISH = {"stop": "stop", "length": "length", "tool_call": "tool_calls"}


def output_message(content: str | None, tool_calls: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {
        "content": content,
        "name": None,
        "tool_call_id": None,
        "role": "assistant",
        "tool_calls": tool_calls,
        "tool_call": None,
    }


def provider_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as a provider receives them: only the keys that are set."""
    return [{k: v for k, v in m.items() if v is not None and k != "tool_call"} for m in messages]


def provider_request(request: ChatExperimentRequest, config: ModelConfigFields,
                     messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The body the mock would have sent the provider for a sample. Never carries an API key."""
    body: dict[str, Any] = {
        "messages": provider_messages(messages),
        "stream": request.stream,
        "n": 1,
        "model": config.model,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "presence_penalty": config.presence_penalty,
        "frequency_penalty": config.frequency_penalty,
    }
    if config.max_tokens >= 0:
        body["max_tokens"] = config.max_tokens
    if config.stop is not None:
        body["stop"] = config.stop
    if config.seed is not None:
        body["seed"] = config.seed
    if request.user is not None:
        body["user"] = request.user
    response_format = request.response_format or config.response_format
    if response_format is not None:
        body["response_format"] = response_format.model_dump(mode="json")
    tools = tool_definitions(config)
    if tools:
        body["tools"] = [{"type": "function", "function": t} for t in tools]
        choice = request.tool_choice
        body["tool_choice"] = choice.model_dump(mode="json") if hasattr(choice, "model_dump") else (choice or "auto")
    return body


def sample_wire(request: ChatExperimentRequest, config: ModelConfigFields, messages: list[dict[str, Any]],
                generation: Generation, usage: dict[str, int]) -> SampleWire:
    """A sample's JSON pieces, minus its log id and timestamp."""
    calls = list(generation.tool_calls) or None
    content = generation.text if (generation.text or not calls) else None
    item_rest = {
        "output": generation.text,
        "raw_output": generation.text,
        "inputs": request.inputs if request.return_inputs else {},
        "finish_reason": generation.finish_reason,
        # model_config_id and index are filled per sample (index is part of the memo key anyway)
        "tool_results": [],
        "messages": messages,
        "tool_call": dict(calls[0]["function"]) if calls else None,
        "tool_calls": calls,
        "output_message": output_message(content, calls),
    }
    choices = [{
        "finish_reason": PROVIDER_FINISH[generation.finish_reason],
        "index": 0,
        "logprobs": None,
        "message": {"content": content, "role": "assistant", "function_call": None, "tool_calls": calls},
    }]
    provider_usage = {
        "completion_tokens": usage["generation_tokens"],
        "prompt_tokens": usage["prompt_tokens"],
        "total_tokens": usage["total_tokens"],
    }
    return SampleWire(item_rest, choices, provider_usage, provider_request(request, config, messages))


def data_item(sample: SampleAnswer) -> dict[str, Any]:
    rest = sample.wire.item_rest
    return {
        "id": sample.log_id,
        "index": sample.index,
        "output": rest["output"],
        "raw_output": rest["raw_output"],
        "inputs": rest["inputs"],
        "finish_reason": rest["finish_reason"],
        "model_config_id": sample.config_id,
        "tool_results": rest["tool_results"],
        "messages": rest["messages"],
        "tool_call": rest["tool_call"],
        "tool_calls": rest["tool_calls"],
        "output_message": rest["output_message"],
    }


def provider_response(answer: ChatAnswer, sample: SampleAnswer) -> dict[str, Any]:
    return {
        "id": "chatcmpl-" + sample.log_id.removeprefix("data_"),
        "choices": sample.wire.provider_choices,
        "created": logical_unix(answer.tick),
        "model": sample.config.model,
        "object": "chat.completion",
        "system_fingerprint": None,
        "usage": sample.wire.provider_usage,
    }


def total_usage(samples: list[SampleAnswer]) -> dict[str, int]:
    totals = {"prompt_tokens": 0, "generation_tokens": 0, "total_tokens": 0}
    for sample in samples:
        for key, value in sample.usage.items():
            totals[key] += value
    return totals


def response_envelope(answer: ChatAnswer) -> dict[str, Any]:
    """The top-level keys of a ChatResponse, shared by the JSON body and every stream event."""
    request = answer.request
    choice = request.tool_choice
    return {
        "project_id": answer.project_id,
        "num_samples": request.num_samples,
        "logprobs": None,
        "suffix": None,
        "user": request.user,
        "data": [],
        "usage": None,
        "metadata": request.metadata,
        "provider_responses": [],
        "provider_request": None,
        "session_id": answer.session_id,
        "tool_choice": choice.model_dump(mode="json") if hasattr(choice, "model_dump") else choice,
    }


def chat_response(answer: ChatAnswer) -> dict[str, Any]:
    """The complete non-streamed ChatResponse."""
    body = response_envelope(answer)
    body["data"] = [data_item(s) for s in answer.samples]
    body["usage"] = total_usage(answer.samples)
    body["provider_responses"] = [provider_response(answer, s) for s in answer.samples]
    body["provider_request"] = answer.samples[0].wire.provider_request
    return body
