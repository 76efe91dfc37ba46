"""The OpenAPI 3.1 document of `/__admin`, made from the table of operations (`operations`) and the same
models the routes validate with.

Kept apart from the chat contract (`contracts.openapi`): a deployment of the real API has no
`/__admin`, so the contract checker never asks for it.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from mockserver.control.models import (
    AdminError,
)
from mockserver.control.operations import OPERATIONS, PREFIX, Operation
from mockserver.control.reports import RequestFilter

REF = "#/components/schemas/{model}"


def _ref(model: type[BaseModel], many: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"$ref": REF.format(model=model.__name__)}
    return {"type": "array", "items": schema} if many else schema


def _op(summary: str, *, ok: int = 200, response: dict[str, Any] | None = None,
        body: type[BaseModel] | None = None, errors: tuple[int, ...] = (401,), **extra: Any) -> dict[str, Any]:
    responses: dict[str, Any] = {str(ok): {"description": summary}}
    if response is not None:
        responses[str(ok)]["content"] = {"application/json": {"schema": response}}
    for status in errors:
        responses[str(status)] = {"description": f"HTTP {status}",
                                  "content": {"application/json": {"schema": _ref(AdminError)}}}
    operation: dict[str, Any] = {"summary": summary, "tags": ["Admin"], "responses": responses, **extra}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return operation


def _operation(operation: Operation) -> dict[str, Any]:
    """A row of the table as an OpenAPI operation."""
    extra: dict[str, Any] = {}
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in operation.path_params]
    if operation.query_model is not None:
        parameters += _filter_parameters()
    if parameters:
        extra["parameters"] = parameters
    response = _ref(operation.response, operation.many) if operation.response is not None else None
    return _op(operation.summary, ok=operation.ok, response=response, body=operation.body_model,
               errors=operation.errors, **extra)


def _filter_parameters() -> list[dict[str, Any]]:
    params = []
    for name, field in RequestFilter.model_fields.items():
        kind = {"status": "integer", "since": "integer", "limit": "integer", "call": "integer",
                "chat": "boolean"}.get(name, "string")
        params.append({"name": name, "in": "query", "required": False, "schema": {"type": kind},
                       "description": field.description or ""})
    return params


@cache
def _build() -> str:
    # Every model a row names (its body and its answer), and the error shape: each `$ref` resolves.
    named = [model for op in OPERATIONS for model in (op.body_model, op.response) if model is not None]
    models: list[type[BaseModel]] = list(dict.fromkeys([*named, AdminError]))
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    paths: dict[str, Any] = {}
    for operation in OPERATIONS:
        paths.setdefault(PREFIX + operation.path, {})[operation.method.lower()] = _operation(operation)
    paths[PREFIX + "/"] = {"get": {"summary": "The journal page (HTML)", "tags": ["Admin"],
                                   "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}}
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "humanloop-mock admin API",
            "version": "1",
            "description": "Drive a running humanloop-mock: load specs, script answers, inject faults, read the "
                           "journal, reset. With `--isolate-keys`, every call acts on the tenant of its "
                           "`X-API-KEY`; with `--api-key`, an accepted key is required. See docs/admin.md.",
        },
        "paths": paths,
        "components": {
            "schemas": dict(sorted(top.get("$defs", {}).items())),
            "securitySchemes": {"APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-KEY"}},
        },
        "security": [{"APIKeyHeader": []}, {}],
    }
    return json.dumps(document, indent=2)


def admin_openapi_json() -> str:
    return _build()
