"""The chat-experiment request, its response, and the stream event (a response with one sample)."""

from typing import Any

from pydantic import Field

from contracts.base import ClosedWireModel, JsonInt, JsonObject, WireModel, bounded_int
from contracts.messages import (
    ChatMessageWithToolCall,
    FunctionTool,
    ResponseFormat,
    ToolCall,
    ToolChoiceValue,
)

# The mock's bound on samples per request (upstream sets none; see docs/contract.md).
MAX_SAMPLES = 16


class ProviderApiKeys(WireModel):
    """Provider keys a client may send. The mock never echoes, logs or stores them."""

    openai: str | None = None
    ai21: str | None = None
    mock: str | None = None
    anthropic: str | None = None
    cohere: str | None = None
    openai_azure: str | None = None
    openai_azure_endpoint: str | None = None


class ChatExperimentRequest(ClosedWireModel):
    """Body of `POST /v4/chat-experiment`. Unknown top-level keys are rejected, as upstream."""

    project: str | None = None
    project_id: str | None = None
    session_id: str | None = None
    session_reference_id: str | None = None
    parent_id: str | None = None
    parent_reference_id: str | None = None
    inputs: JsonObject = Field(default={})
    source: str | None = None
    metadata: JsonObject | None = None
    save: bool = True
    source_datapoint_id: str | None = None
    provider_api_keys: ProviderApiKeys | None = None
    num_samples: bounded_int(ge=1, le=MAX_SAMPLES) = 1  # type: ignore[valid-type]
    stream: bool = False
    user: str | None = None
    seed: JsonInt | None = Field(default=None, json_schema_extra={"deprecated": True})
    return_inputs: bool = True
    messages: list[ChatMessageWithToolCall]
    tool_choice: ToolChoiceValue | None = None
    tool_call: str | dict[str, str] | None = Field(default=None, json_schema_extra={"deprecated": True})
    response_format: ResponseFormat | None = None
    experiment_id: str


class Usage(WireModel):
    prompt_tokens: JsonInt
    generation_tokens: JsonInt
    total_tokens: JsonInt


class ToolResultResponse(WireModel):
    id: str
    name: str
    signature: str
    result: str


class ChatDataResponse(WireModel):
    """One sample of a chat response (or, in a stream, one slice of a sample)."""

    id: str
    index: JsonInt
    output: str
    raw_output: str
    inputs: JsonObject | None = None
    finish_reason: str | None = None
    model_config_id: str
    tool_results: list[ToolResultResponse] | None = None
    messages: list[ChatMessageWithToolCall] | None = None
    tool_call: FunctionTool | None = Field(default=None, json_schema_extra={"deprecated": True})
    tool_calls: list[ToolCall] | None = None
    output_message: ChatMessageWithToolCall


class ChatResponse(WireModel):
    """Response of chat-experiment; each stream event is one of these with a single `data` item."""

    project_id: str | None = None
    num_samples: JsonInt = 1
    logprobs: JsonInt | None = None
    suffix: str | None = None
    user: str | None = None
    data: list[ChatDataResponse]
    usage: Usage | None = None
    metadata: JsonObject | None = None
    provider_responses: list[Any]
    provider_request: JsonObject | None = None
    session_id: str | None = None
    tool_choice: ToolChoiceValue | None = None
