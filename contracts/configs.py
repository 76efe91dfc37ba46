"""Model configs: the register request, and the config responses the experiment endpoints return."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, RootModel, model_validator

from contracts.base import ClosedWireModel, JsonInt, JsonObject, WireModel
from contracts.messages import ChatMessageWithToolCall, ResponseFormat

# Both upstream documents' provider lists, so either generation of client is accepted.
ModelProviders = Literal[
    "openai", "openai_azure", "ai21", "mock", "anthropic", "langchain", "cohere", "replicate", "google", "groq"
]
ModelEndpoints = Literal["complete", "chat", "edit"]
ToolSource = Literal["organization", "inline"]


class LinkedToolRequest(WireModel):
    """A tool kept in the organisation's library, linked by id."""

    id: str
    source: Literal["organization"]
    name: str | None = None
    description: str | None = None
    parameters: JsonObject | None = None


class ModelConfigToolRequest(WireModel):
    """A tool declared inline: name, description and a JSON Schema for its parameters."""

    name: str
    description: str | None = None
    parameters: JsonObject | None = None
    source: ToolSource | None = None
    source_code: str | None = None
    other: JsonObject | None = None
    preset_name: str | None = None


class ModelParameters(WireModel):
    """What a model config says about the model and its prompt, in requests and responses alike."""

    name: str | None = None
    description: str | None = None
    provider: ModelProviders = "openai"
    model: str
    max_tokens: JsonInt = -1
    temperature: float = 1
    top_p: float = 1
    stop: str | list[str] | None = None
    presence_penalty: float = 0
    frequency_penalty: float = 0
    other: JsonObject = Field(default={})
    seed: JsonInt | None = None
    response_format: ResponseFormat | None = None
    prompt_template: str | None = None
    chat_template: list[ChatMessageWithToolCall] | None = None


class ModelConfigFields(ModelParameters):
    """The model-config fields shared by the register request, configs and the mock's config file."""

    endpoint: ModelEndpoints = "complete"
    tools: list[LinkedToolRequest | ModelConfigToolRequest] | None = None


class ProjectModelConfigRequest(ModelConfigFields, ClosedWireModel):
    """Body of `POST /v4/model-configs`: a config, where to register it, and optionally an experiment.

    Upstream's prose requires a project by name or id; the schema says so too (`anyOf`), so that
    generated clients and Schemathesis know it.
    """

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["project"], "properties": {"project": {"type": "string"}}},
        {"required": ["project_id"], "properties": {"project_id": {"type": "string"}}},
    ]})

    project: str | None = None
    project_id: str | None = None
    experiment: str | None = None

    @model_validator(mode="after")
    def _needs_a_project(self) -> ProjectModelConfigRequest:
        if self.project is None and self.project_id is None:
            raise ValueError("either project or project_id must be given")
        return self


class ModelConfigRequest(ModelConfigFields, ClosedWireModel):
    type: Literal["model"] | None = None


class UserResponse(WireModel):
    id: str
    email_address: str
    full_name: str | None = None
    verified: bool


class ToolResponse(WireModel):
    id: str
    name: str
    description: str | None = None
    parameters: JsonObject | None = None
    source: str | None = None


class ToolConfigRequest(ModelConfigToolRequest):
    type: Literal["tool"]


class ConfigResponseBase(WireModel):
    """The fields every non-model config response shares (each subclass adds its `type`)."""

    id: str
    other: JsonObject | None = None
    created_by: UserResponse | None = None
    status: str
    name: str
    description: str | None = None


class ToolConfigResponse(ConfigResponseBase):
    type: Literal["tool"]
    source: ToolSource | None = None
    source_code: str | None = None
    setup_schema: JsonObject | None = None
    parameters: JsonObject | None = None
    signature: str | None = None
    is_preset: bool | None = None
    preset_name: str | None = None


class ModelConfigResponse(ModelParameters, ClosedWireModel):
    """A registered model config, as the API returns it."""

    id: str
    type: Literal["model"]
    tool_configs: list[ToolConfigResponse] | None = None
    tools: list[ToolResponse] | None = None
    endpoint: ModelEndpoints | None = None


class EvaluatorConfigResponse(ConfigResponseBase):
    type: Literal["evaluator"]
    evaluator_type: str
    model_config_: ModelConfigResponse | None = Field(default=None, alias="model_config")
    code: str | None = None
    arguments_type: Literal["target_free", "target_required"] | None = None
    return_type: Literal["boolean", "number"] | None = None


class AgentConfigResponse(ConfigResponseBase):
    type: Literal["agent"]
    agent_class: str
    tools: list[ToolConfigRequest] = Field(default_factory=list)
    model_config_: ModelConfigRequest = Field(alias="model_config")


class GenericConfigResponse(ConfigResponseBase):
    type: Literal["generic"]


class ConfigResponse(
    RootModel[
        Annotated[
            ModelConfigResponse
            | ToolConfigResponse
            | EvaluatorConfigResponse
            | AgentConfigResponse
            | GenericConfigResponse,
            Field(discriminator="type"),
        ]
    ]
):
    """Any config; the mock only ever returns model configs."""


class ProjectModelConfigFeedbackStatsResponse(WireModel):
    feedback_type_id: JsonInt
    feedback_type: str
    feedback_value: str
    feedback_count: JsonInt


class ModelConfigEvaluatorAggregateResponse(WireModel):
    model_config_id: str
    evaluator_id: str
    evaluator_version_id: str
    aggregate_value: float | None = None


class ProjectConfigResponse(WireModel):
    """Response of `POST /v4/model-configs`."""

    project_id: str
    project_name: str
    created_at: datetime
    updated_at: datetime
    last_used: datetime
    feedback_stats: list[ProjectModelConfigFeedbackStatsResponse] | None = None
    num_datapoints: JsonInt | None = None
    experiment_id: str | None = None
    evaluation_aggregates: list[ModelConfigEvaluatorAggregateResponse] | None = None
    config: ConfigResponse


class GetModelConfigResponse(ProjectConfigResponse):
    """Response of `GET /v4/experiments/{experiment_id}/model-config`: one sampled config."""

    trial_id: str | None = None
    environment_id: str | None = None
