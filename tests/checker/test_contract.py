"""Our OpenAPI document against the upstream ones: same routes, same schemas, listed differences only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from contracts.openapi import openapi_document, openapi_json
from mockserver.cli import main
from tests.checker.schema_compare import SchemaComparison
from tests.conftest import REFERENCE

CHAT_DOC = "v4-openapi-2024-08-05.json"
EXPERIMENTS_DOC = "v4-openapi-2024-05-27.json"
ROUTES_BY_DOCUMENT = {
    CHAT_DOC: ["/chat-experiment", "/model-configs", "/feedback"],
    EXPERIMENTS_DOC: [
        "/projects/{project_id}/experiments",
        "/experiments/{experiment_id}",
        "/experiments/{experiment_id}/model-config",
    ],
}
# Every schema difference from upstream, with its reason. A new difference, or one that is gone,
# fails the test: keep this list and docs/contract.md in step.
KNOWN_DIFFERENCES = {
    CHAT_DOC: {
        "ProjectModelConfigRequest.provider: enum ['ai21', 'anthropic', 'cohere', 'google', 'groq', 'langchain', "
        "'mock', 'openai', 'openai_azure', 'replicate'] (upstream ['anthropic', 'cohere', 'google', 'groq', "
        "'mock', 'openai', 'openai_azure', 'replicate'])":
            "providers of both upstream generations are accepted (2024-05-27 also had ai21 and langchain)",
        # The same provider list inside the ConfigResponse union of the register and sample responses.
        "ModelConfigRequest.provider: enum ['ai21', 'anthropic', 'cohere', 'google', 'groq', 'langchain', "
        "'mock', 'openai', 'openai_azure', 'replicate'] (upstream ['anthropic', 'cohere', 'google', 'groq', "
        "'mock', 'openai', 'openai_azure', 'replicate'])":
            "providers of both upstream generations are accepted",
        "ModelConfigResponse.provider: enum ['ai21', 'anthropic', 'cohere', 'google', 'groq', 'langchain', "
        "'mock', 'openai', 'openai_azure', 'replicate'] (upstream ['anthropic', 'cohere', 'google', 'groq', "
        "'mock', 'openai', 'openai_azure', 'replicate'])":
            "providers of both upstream generations are accepted",
        "FeedbackRequest: required ['data_id', 'type'] (upstream ['type'])":
            "feedback is for existing log ids (upstream's description); without one there is nothing to attach it to",
    },
    EXPERIMENTS_DOC: {
        "ExperimentConfigResponse.weight: only in ours":
            "mock extension: the config's sampling weight, so tests can see what they configured",
        "ConfigResponse: union members ['AgentConfigResponse', 'EvaluatorConfigResponse', "
        "'GenericConfigResponse', 'ModelConfigResponse', 'ToolConfigResponse'] (upstream "
        "['AgentConfigResponse', 'GenericConfigResponse', 'ModelConfigResponse', 'ToolConfigResponse'])":
            "one model set serves both documents; it follows the newer (2024-08-05) ConfigResponse",
        "ModelConfigEvaluatorAggregateResponse.evaluator_version_id: only in ours":
            "follows the newer (2024-08-05) document",
        "ModelConfigEvaluatorAggregateResponse: required ['evaluator_id', 'evaluator_version_id', "
        "'model_config_id'] (upstream ['evaluator_id', 'model_config_id'])":
            "follows the newer (2024-08-05) document",
    },
}
# Response codes we document beyond upstream's 200/422 (each is in docs/errors.md).
EXTRA_STATUS_CODES = {"401", "404", "409", "413"}
MOCK_ONLY_PATHS = {"/healthz"}


def upstream(name: str) -> dict[str, Any]:
    return json.loads((REFERENCE / "upstream" / name).read_text())


def json_schema(operation: dict[str, Any], status: str | None = None) -> Any:
    holder = operation["requestBody"] if status is None else operation["responses"][status]
    return holder["content"]["application/json"]["schema"]


def schema_differences(ours: dict[str, Any], document: str) -> list[str]:
    theirs = upstream(document)
    comparison = SchemaComparison(ours, theirs)
    for path in ROUTES_BY_DOCUMENT[document]:
        for method, operation in theirs["paths"][path].items():
            mine = ours["paths"][path][method]
            label = f"{method.upper()} {path}"
            if "requestBody" in operation:
                comparison.compare(f"{label} body", json_schema(mine), json_schema(operation))
            for status, response in operation["responses"].items():
                if "content" in response:
                    comparison.compare(f"{label} {status}", json_schema(mine, status), json_schema(operation, status))
    return comparison.differences


def test_same_paths_and_methods_as_upstream() -> None:
    ours = openapi_document()["paths"]
    expected: dict[str, set[str]] = {}
    for document, paths in ROUTES_BY_DOCUMENT.items():
        for path in paths:
            expected[path] = set(upstream(document)["paths"][path])
    assert {p: set(ops) for p, ops in ours.items() if p not in MOCK_ONLY_PATHS} == expected


@pytest.mark.parametrize("document", [CHAT_DOC, EXPERIMENTS_DOC])
def test_schemas_match_upstream_except_listed_differences(document: str) -> None:
    found = schema_differences(openapi_document(), document)
    assert sorted(found) == sorted(KNOWN_DIFFERENCES[document])


@pytest.mark.parametrize("document", [CHAT_DOC, EXPERIMENTS_DOC])
def test_response_codes_are_upstreams_plus_documented_errors(document: str) -> None:
    ours = openapi_document()["paths"]
    for path in ROUTES_BY_DOCUMENT[document]:
        for method, operation in upstream(document)["paths"][path].items():
            mine = set(ours[path][method]["responses"])
            theirs = set(operation["responses"])
            assert theirs <= mine, (path, method)
            assert mine - theirs <= EXTRA_STATUS_CODES, (path, method)


def test_comparison_notices_a_removed_property_and_a_changed_type() -> None:
    ours = openapi_document()
    request = ours["components"]["schemas"]["ChatExperimentRequest"]["properties"]
    del request["session_id"]
    request["num_samples"] = {"type": "string"}
    found = schema_differences(ours, CHAT_DOC)
    assert "ChatExperimentRequest.session_id: missing from ours" in found
    assert "ChatExperimentRequest.num_samples: type string (upstream integer)" in found


def test_comparison_looks_inside_union_members() -> None:
    ours = openapi_document()  # the feedback body is "one FeedbackRequest or a list of them"
    del ours["components"]["schemas"]["FeedbackRequest"]["properties"]["user"]
    assert "FeedbackRequest.user: missing from ours" in schema_differences(ours, CHAT_DOC)


def test_document_describes_streaming_security_and_errors() -> None:
    document = openapi_document()
    chat = document["paths"]["/chat-experiment"]["post"]
    stream = chat["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert stream["properties"]["data"]["contentSchema"] == {"$ref": "#/components/schemas/ChatResponse"}
    assert stream["properties"]["data"]["contentMediaType"] == "application/json"
    assert chat["security"] == [{"APIKeyHeader": []}]
    assert document["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey", "in": "header", "name": "X-API-KEY"
    }
    request = document["components"]["schemas"]["ChatExperimentRequest"]
    assert request["additionalProperties"] is False
    assert request["properties"]["num_samples"]["default"] == 1
    assert request["properties"]["stream"]["default"] is False
    assert request["properties"]["return_inputs"]["default"] is True


def test_upstream_defaults_are_kept() -> None:
    ours = openapi_document()["components"]["schemas"]
    compared = 0
    for document in (CHAT_DOC, EXPERIMENTS_DOC):
        theirs = upstream(document)["components"]["schemas"]
        for name in ("ChatExperimentRequest", "ProjectModelConfigRequest", "CreateExperimentRequest"):
            if name not in theirs:
                continue
            for prop, schema in theirs[name]["properties"].items():
                if "default" in schema:
                    assert ours[name]["properties"][prop].get("default") == schema["default"], (name, prop)
                    compared += 1
    assert compared >= 20  # the upstream documents give this many defaults; none compared would pass silently


def test_served_and_printed_documents_are_the_same(client: Any) -> None:
    served = client.get("/v4/openapi.json")
    assert served.status_code == 200
    assert served.json() == openapi_document()
    printed = CliRunner().invoke(main, ["openapi"])
    assert printed.exit_code == 0
    assert json.loads(printed.output) == json.loads(openapi_json())
