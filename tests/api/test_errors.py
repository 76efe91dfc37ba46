"""Every error path: a documented 4xx in the upstream shape, journaled, never a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from contracts.errors import ErrorResponse, HTTPValidationError
from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from tests.conftest import KEY, chat_body

JSON = {**KEY, "Content-Type": "application/json"}


def post_raw(client: TestClient, content: bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post("/v4/chat-experiment", content=content, headers=headers or JSON)


def assert_422(response: Any, loc: list[Any], type_: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    detail = HTTPValidationError.model_validate_json(response.content).detail or []
    assert any(item.loc == loc and item.type == type_ for item in detail), response.json()


@pytest.mark.parametrize(("content", "loc", "type_"), [
    (b"{", ["body", 1], "value_error.jsondecode"),
    (b'{"experiment_id": "e", "messages": [}', ["body", 36], "value_error.jsondecode"),
    (b"", ["body"], "value_error.missing"),
    (b'{"experiment_id": "e", "messages": [], "inputs": {"x": NaN}}', ["body"], "value_error.jsondecode"),
    (b"[" * 15_000 + b"]" * 15_000, ["body"], "value_error.jsondecode"),  # nesting too deep
    (b"\xff\xfe", ["body", 0], "value_error.jsondecode"),
])
def test_malformed_json_is_422(client: TestClient, content: bytes, loc: list[Any], type_: str) -> None:
    assert_422(post_raw(client, content), loc, type_)


@pytest.mark.parametrize("content", [b"[" * 100_000 + b"]" * 100_000,
                                     b'{"inputs": {"x": [' + b"0," * 30_000 + b"0]}}"])
def test_a_body_of_too_many_values_is_413_before_it_is_parsed(client: TestClient, content: bytes) -> None:
    answer = post_raw(client, content)
    assert answer.status_code == 413 and "--max-body-values" in answer.json()["detail"]
    assert client.get("/__admin/requests", headers={"X-API-KEY": "k"}).json()["requests"][-1]["status"] == 413


@pytest.mark.parametrize(("body", "loc", "type_"), [
    ({"experiment_id": "e"}, ["body", "messages"], "value_error.missing"),
    ({"messages": []}, ["body", "experiment_id"], "value_error.missing"),
    (chat_body(surprise=1), ["body", "surprise"], "value_error.extra"),
    (chat_body(num_samples="2"), ["body", "num_samples"], "type_error.integer"),
    (chat_body(num_samples=True), ["body", "num_samples"], "type_error.integer"),
    (chat_body(num_samples=0), ["body", "num_samples"], "value_error.number.not_ge"),
    (chat_body(num_samples=17), ["body", "num_samples"], "value_error.number.not_le"),
    (chat_body(stream="yes"), ["body", "stream"], "type_error.bool"),
    (chat_body(messages=[{"role": "robot", "content": "x"}]), ["body", "messages", 0, "role"], "value_error.const"),
    (chat_body(messages=[{"content": "x"}]), ["body", "messages", 0, "role"], "value_error.missing"),
    (chat_body(tool_choice="sometimes"), ["body", "tool_choice"], "value_error.const"),
    (chat_body(response_format={"type": "xml"}), ["body", "response_format", "type"], "value_error.const"),
    (chat_body(inputs=[1]), ["body", "inputs"], "type_error.dict"),
])
def test_invalid_bodies_are_422_in_upstream_style(client: TestClient, body: dict[str, Any], loc: list[Any],
                                                   type_: str) -> None:
    assert_422(client.post("/v4/chat-experiment", json=body, headers=KEY), loc, type_)


def test_integral_floats_are_integers(client: TestClient) -> None:
    response = client.post("/v4/chat-experiment", json=chat_body(num_samples=2.0), headers=KEY)
    assert response.status_code == 200 and len(response.json()["data"]) == 2


def test_wrong_content_type_is_422(client: TestClient) -> None:
    response = post_raw(client, json.dumps(chat_body()).encode(), {**KEY, "Content-Type": "text/plain"})
    assert_422(response, ["body"], "value_error.content_type")


def test_missing_key_is_401_and_wrong_key_with_allow_list_too() -> None:
    with TestClient(create_app(MockSettings())) as open_server:
        missing = open_server.post("/v4/chat-experiment", json=chat_body())
        assert missing.status_code == 401
        ErrorResponse.model_validate_json(missing.content)
        assert open_server.post("/v4/chat-experiment", json=chat_body(), headers={"X-API-KEY": "x"}).status_code == 200
    with TestClient(create_app(MockSettings(api_keys=("right",)))) as locked:
        wrong = locked.post("/v4/chat-experiment", json=chat_body(), headers={"X-API-KEY": "wrong-key-value"})
        assert wrong.status_code == 401 and "wrong-key-value" not in wrong.text
        assert locked.post("/v4/chat-experiment", json=chat_body(), headers={"X-API-KEY": "right"}).status_code == 200
        assert locked.get("/v4/healthz").status_code == 200  # liveness needs no key


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v4/projects/pr_nope/experiments", None),
    ("POST", "/v4/projects/pr_nope/experiments", {"name": "x", "positive_labels": []}),
    ("PATCH", "/v4/experiments/exp_nope", {"name": "y"}),
    ("DELETE", "/v4/experiments/exp_nope", None),
    ("POST", "/v4/projects/pr_demo/experiments", {"name": "x", "positive_labels": [], "config_ids": ["config_x"]}),
    ("PATCH", "/v4/experiments/exp_demo", {"config_ids_to_register": ["config_x"]}),
    ("PATCH", "/v4/experiments/exp_demo", {"config_ids_to_deregister": ["config_x"]}),
    ("POST", "/v4/model-configs", {"model": "m", "project_id": "pr_nope"}),
    ("POST", "/v4/model-configs", {"model": "m", "project": "demo", "experiment": "no-such-experiment"}),
    ("GET", "/v4/nowhere", None),
])
def test_unknown_resources_are_404(client: TestClient, method: str, path: str, body: Any) -> None:
    response = client.request(method, path, json=body, headers=KEY)
    assert response.status_code == 404, response.text
    ErrorResponse.model_validate_json(response.content)


def test_strict_mode_404s_unknown_ids_that_are_otherwise_provisioned() -> None:
    with TestClient(create_app(MockSettings(strict=True))) as strict:
        assert strict.post("/v4/chat-experiment", json=chat_body(experiment_id="exp_x"), headers=KEY).status_code == 404
        assert strict.post("/v4/chat-experiment", json=chat_body(project_id="pr_x"), headers=KEY).status_code == 404
        assert strict.get("/v4/experiments/exp_x/model-config", headers=KEY).status_code == 404
    with TestClient(create_app(MockSettings())) as lenient:
        reply = lenient.post("/v4/chat-experiment", json=chat_body(experiment_id="exp_x", project_id="pr_x"),
                             headers=KEY)
        assert reply.status_code == 200 and reply.json()["project_id"] == "pr_x"


def test_deleted_experiment_stays_deleted(client: TestClient) -> None:
    assert client.delete("/v4/experiments/exp_demo", headers=KEY).status_code == 204
    assert client.post("/v4/chat-experiment", json=chat_body(), headers=KEY).status_code == 404
    assert client.get("/v4/experiments/exp_demo/model-config", headers=KEY).status_code == 404


def test_conflicts_with_the_sampled_config_are_409(client: TestClient) -> None:
    required = client.post("/v4/chat-experiment", json=chat_body(tool_choice="required"), headers=KEY)
    assert required.status_code == 409 and "has none" in required.json()["detail"]
    named = client.post("/v4/chat-experiment", headers=KEY, json=chat_body(
        tool_choice={"type": "function", "function": {"name": "nope"}}))
    assert named.status_code == 409 and "nope" in named.json()["detail"]
    client.patch("/v4/experiments/exp_demo", headers=KEY, json={
        "config_ids_to_deregister": ["config_demo_helpful", "config_demo_concise"]})
    empty = client.post("/v4/chat-experiment", json=chat_body(), headers=KEY)
    assert empty.status_code == 409 and "no active model configs" in empty.json()["detail"]


def test_method_not_allowed_lists_every_method(client: TestClient) -> None:
    response = client.put("/v4/projects/pr_demo/experiments", headers=KEY)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) >= {"GET", "POST"}
    assert response.json() == {"detail": "Method Not Allowed"}


def test_body_over_limit_is_413_by_length_and_by_stream() -> None:
    app = create_app(MockSettings(max_body_bytes=1000))
    big = json.dumps(chat_body(messages=[{"role": "user", "content": "x" * 5000}])).encode()
    with BackgroundServer(app) as server, httpx.Client(base_url=server.base_url, headers=JSON) as http:
        by_length = http.post("/chat-experiment", content=big)
        by_stream = http.post("/chat-experiment", content=iter([big[:600], big[600:]]))
        fine = http.post("/chat-experiment", content=json.dumps(chat_body()).encode())
    assert by_length.status_code == 413 and by_stream.status_code == 413 and fine.status_code == 200
    ErrorResponse.model_validate_json(by_length.content)
    entries = app.state.mock.journal.entries()
    assert [e.status for e in entries] == [413, 413, 200]
    assert entries[1].body_truncated and len(entries[1].raw_body) == 1000


def test_journal_keeps_every_request_whatever_its_fate(client: TestClient) -> None:
    client.post("/v4/chat-experiment", json=chat_body())                         # 401
    client.post("/v4/chat-experiment", content=b"{oops", headers=JSON)            # 422
    client.get("/v4/nowhere", headers=KEY)                                        # 404
    client.put("/v4/chat-experiment", headers=KEY)                                # 405
    client.post("/v4/chat-experiment", json=chat_body(stream=True), headers=KEY)  # 200 stream
    entries = client.app.state.mock.journal.entries()
    assert [e.status for e in entries] == [401, 422, 404, 405, 200]
    assert entries[1].body is None and entries[1].body_text == "{oops"
    assert entries[1].error[0]["type"] == "value_error.jsondecode"
    assert entries[4].stream_events and entries[4].samples[0]["model_config_id"].startswith("config_demo")
    assert all(e.completed for e in entries)
