"""The OpenAPI 3.1 document of `/__admin`, built from the same models the routes validate with.

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
    AdminInfo,
    ExperimentSummary,
    LoadedIds,
    RequestsPage,
    RuleCreated,
    RuleInfo,
    ServerInfo,
    UnexpectedRequest,
    UnusedRule,
)
from mockserver.control.service import RequestFilter
from mockserver.spec.models import FaultSpec, MockSpec, ScriptSpec

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


def _rule_paths(kind: str, spec: type[BaseModel]) -> dict[str, Any]:
    rule_id = {"name": "rule_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        f"/__admin/{kind}s": {
            "post": _op(f"Add a {kind} (one item of a config file's `{kind}s`)", ok=201,
                        response=_ref(RuleCreated), body=spec, errors=(401, 413, 422)),
            "get": _op(f"The {kind}s in force, with use counts", response=_ref(RuleInfo, many=True)),
        },
        f"/__admin/{kind}s/{{rule_id}}": {
            "delete": _op(f"Remove a {kind}", ok=204, errors=(401, 404), parameters=[rule_id]),
        },
    }


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
    models: list[type[BaseModel]] = [MockSpec, ScriptSpec, FaultSpec, LoadedIds, RuleCreated, RuleInfo, UnusedRule,
                                     RequestsPage, UnexpectedRequest, AdminInfo, ExperimentSummary, AdminError]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    paths: dict[str, Any] = {
        "/__admin/spec": {
            "put": _op("Replace the base spec (config-file shape) and reset to it; returns the ids created",
                       response=_ref(LoadedIds), body=MockSpec, errors=(401, 413, 422)),
            "post": _op("Add a spec to the live world (until the next reset); returns the ids created",
                        response=_ref(LoadedIds), body=MockSpec, errors=(401, 409, 413, 422)),
            "get": _op("The base spec", response=_ref(MockSpec)),
        },
        "/__admin/experiments/{experiment_id}": {
            "get": _op("One live experiment, as `/__admin/experiments` lists it",
                       response=_ref(ExperimentSummary), errors=(401, 404),
                       parameters=[{"name": "experiment_id", "in": "path", "required": True,
                                    "schema": {"type": "string"}}]),
        },
        **_rule_paths("script", ScriptSpec),
        **_rule_paths("fault", FaultSpec),
        "/__admin/requests": {
            "get": _op("The journal, oldest first, filtered", response=_ref(RequestsPage), errors=(401, 422),
                       parameters=_filter_parameters()),
            "delete": _op("Empty the journal", ok=204),
        },
        "/__admin/unused": {"get": _op("Scripts and faults not used as often as set up",
                                       response=_ref(UnusedRule, many=True))},
        "/__admin/unexpected": {"get": _op("Requests nobody planned for", response=_ref(UnexpectedRequest,
                                                                                      many=True))},
        "/__admin/reset": {"post": _op("Journal, counters, draws, scripts and faults back to the base spec",
                                       response=_ref(LoadedIds))},
        "/__admin/experiments": {"get": _op("Live experiments with their configs, weights and draws since reset",
                                            response=_ref(ExperimentSummary, many=True))},
        "/__admin/info": {"get": _op("Seed, mode and counts of this tenant", response=_ref(AdminInfo))},
        "/__admin/server": {"get": _op("Memory the whole server keeps (the byte budget) and its tenants",
                                       response=_ref(ServerInfo))},
        "/__admin/": {"get": {"summary": "The journal page (HTML)", "tags": ["Admin"],
                              "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
    }
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
