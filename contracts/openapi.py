"""The OpenAPI 3.1 document of the contract, built from the pydantic models.

One table (`OPERATIONS`) lists every route with its request and response models; the document is
generated from it, so the models stay the single source of truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts.chat import ChatExperimentRequest, ChatResponse
from contracts.configs import GetModelConfigResponse, ProjectConfigResponse, ProjectModelConfigRequest
from contracts.errors import ErrorResponse, HTTPValidationError
from contracts.experiments import CreateExperimentRequest, ExperimentResponse, UpdateExperimentRequest
from contracts.feedback import FeedbackSubmitRequest, FeedbackSubmitResponse

SCHEMA_REF = "#/components/schemas/{model}"
# Our class names that differ from the upstream component names (to avoid clashing with pydantic's).
COMPONENT_RENAMES = {"ValidationErrorItem": "ValidationError"}
SECURITY_SCHEME = "APIKeyHeader"

ERROR_DESCRIPTIONS = {
    401: "Missing `X-API-KEY` header, or a key not on the server's allow-list.",
    404: "Unknown project, experiment, model config or log id (or an unknown experiment under `--strict`).",
    409: "A valid request that the experiment's current configs cannot serve (see docs/errors.md).",
    413: "The request body, or the prompt or answer it would make, is larger than the server's limits.",
}


@dataclass(frozen=True)
class PathParam:
    name: str
    description: str


@dataclass(frozen=True)
class Operation:
    """One route of the contract: enough to write its OpenAPI operation object."""

    method: str
    path: str
    operation_id: str
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    response_is_list: bool = False
    success_status: int = 200
    streams: bool = False
    errors: tuple[int, ...] = (401, 404)
    path_params: tuple[PathParam, ...] = field(default_factory=tuple)
    secured: bool = True
    tag: str = "Chats"
    examples: tuple[tuple[str, str, dict[str, Any]], ...] = ()  # request bodies: (name, summary, value)


PROJECT_ID = PathParam("project_id", "String ID of project. Starts with `pr_`.")
EXPERIMENT_ID = PathParam("experiment_id", "String ID of experiment. Starts with `exp_`.")

_HELLO = [{"role": "user", "content": "Hello"}]
# Valid requests for the demo experiment, as the official clients send them: a JSON answer, and streams
# (which generated bodies rarely reach: most random bodies are invalid or name unknown experiments).
CHAT_EXAMPLES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("json", "One sample as JSON",
     {"experiment_id": "exp_demo", "messages": _HELLO, "provider_api_keys": {}}),
    ("stream", "One sample, streamed",
     {"experiment_id": "exp_demo", "messages": _HELLO, "provider_api_keys": {}, "stream": True}),
    ("stream_samples", "Three samples, streamed and interleaved",
     {"experiment_id": "exp_demo", "messages": _HELLO, "provider_api_keys": {}, "stream": True, "num_samples": 3}),
)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post", "/chat-experiment", "Chats_createExperiment", "Chat Experiment",
        request=ChatExperimentRequest, response=ChatResponse, streams=True, errors=(401, 404, 409, 413),
        examples=CHAT_EXAMPLES,
    ),
    Operation(
        "post", "/model-configs", "ModelConfigs_register", "Register",
        request=ProjectModelConfigRequest, response=ProjectConfigResponse, errors=(401, 404, 413),
        tag="Model Configs",
    ),
    Operation(
        "get", "/projects/{project_id}/experiments", "Experiments_list", "List",
        response=ExperimentResponse, response_is_list=True, path_params=(PROJECT_ID,), tag="Experiments",
    ),
    Operation(
        "post", "/projects/{project_id}/experiments", "Experiments_create", "Create",
        request=CreateExperimentRequest, response=ExperimentResponse, errors=(401, 404, 413),
        path_params=(PROJECT_ID,), tag="Experiments",
    ),
    Operation(
        "patch", "/experiments/{experiment_id}", "Experiments_update", "Update",
        request=UpdateExperimentRequest, response=ExperimentResponse, errors=(401, 404, 413),
        path_params=(EXPERIMENT_ID,), tag="Experiments",
    ),
    Operation(
        "delete", "/experiments/{experiment_id}", "Experiments_delete", "Delete",
        success_status=204, path_params=(EXPERIMENT_ID,), tag="Experiments",
    ),
    Operation(
        "get", "/experiments/{experiment_id}/model-config", "Experiments_sample", "Sample",
        response=GetModelConfigResponse, errors=(401, 404, 409), path_params=(EXPERIMENT_ID,),
        tag="Experiments",
    ),
    Operation(
        "post", "/feedback", "Feedback_feedback", "Feedback",
        request=FeedbackSubmitRequest, response=FeedbackSubmitResponse, errors=(401, 404, 413), tag="Feedback",
    ),
    Operation("get", "/healthz", "Mock_health", "Liveness probe (mock only)", secured=False, errors=(), tag="Mock"),
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    name = COMPONENT_RENAMES.get(model.__name__, model.__name__)
    return {"$ref": SCHEMA_REF.format(model=name)}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _stream_event_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Each SSE event: exactly one `data:` line holding a one-line JSON ChatResponse."""
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": _ref(model),
            },
            "event": {"type": "string", "const": "message"},
        },
    }


def _error_response(status: int) -> dict[str, Any]:
    return {"description": ERROR_DESCRIPTIONS[status], "content": _json_content(_ref(ErrorResponse))}


def _operation_object(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if op.response is None:
        responses[str(op.success_status)] = {"description": "Successful Response"}
    else:
        schema: dict[str, Any] = _ref(op.response)
        if op.response_is_list:
            schema = {"type": "array", "items": schema}
        content = _json_content(schema)
        if op.streams:
            content["text/event-stream"] = {"schema": _stream_event_schema(op.response)}
        responses[str(op.success_status)] = {"description": "Successful Response", "content": content}
    for status in op.errors:
        responses[str(status)] = _error_response(status)
    if op.secured or op.request is not None or op.path_params:
        responses["422"] = {"description": "Validation Error", "content": _json_content(_ref(HTTPValidationError))}
    operation: dict[str, Any] = {
        "tags": [op.tag],
        "summary": op.summary,
        "operationId": op.operation_id,
        "responses": responses,
    }
    if op.path_params:
        operation["parameters"] = [
            {"name": p.name, "in": "path", "required": True, "schema": {"type": "string"}, "description": p.description}
            for p in op.path_params
        ]
    if op.request is not None:
        operation["requestBody"] = {"required": True, "content": _json_content(_ref(op.request))}
        if op.examples:
            operation["requestBody"]["content"]["application/json"]["examples"] = {
                name: {"summary": summary, "value": value} for name, summary, value in op.examples
            }
    operation["security"] = [{SECURITY_SCHEME: []}] if op.secured else []
    return operation


def _component_schemas() -> dict[str, Any]:
    models = {ErrorResponse, HTTPValidationError}
    for op in OPERATIONS:
        models.update(m for m in (op.request, op.response) if m is not None)
    ordered = sorted(models, key=lambda m: m.__name__)
    _, top = models_json_schema([(m, "validation") for m in ordered], ref_template=SCHEMA_REF)
    text = json.dumps(top.get("$defs", {}))
    for ours, upstream in COMPONENT_RENAMES.items():
        text = text.replace(f'"{ours}"', f'"{upstream}"').replace(f"/{ours}\"", f"/{upstream}\"")
    return dict(sorted(json.loads(text).items()))


@cache
def _build() -> str:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation_object(op)
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "Humanloop v4 Chat Experiment API (humanloop-mock)",
            "version": "4.0.1",
            "description": (
                "The contract humanloop-mock serves: Humanloop's v4 chat-experiment, model-config and "
                "experiment endpoints, built from the pydantic models in `contracts/`. Differences from "
                "the upstream documents are listed in docs/contract.md."
            ),
        },
        "servers": [{"url": "/v4"}],
        "paths": paths,
        "components": {
            "schemas": _component_schemas(),
            "securitySchemes": {
                SECURITY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
            },
        },
    }
    return json.dumps(document, indent=2, sort_keys=False)


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the OpenAPI document (callers may change it)."""
    return json.loads(_build())


def openapi_json() -> str:
    """The OpenAPI document as JSON text, identical on every call."""
    return _build()
