"""Experiment CRUD and config sampling, as the 2024-05-27 document describes them."""

from __future__ import annotations

import json
from collections import Counter

from starlette.testclient import TestClient

from contracts.configs import GetModelConfigResponse, ProjectConfigResponse
from contracts.experiments import ExperimentResponse
from tests.conftest import KEY, chat_body


def register(client: TestClient, model: str, **extra: object) -> dict:
    response = client.post("/v4/model-configs", json={"model": model, "project": "crud", **extra}, headers=KEY)
    assert response.status_code == 200, response.text
    ProjectConfigResponse.model_validate_json(response.content)
    return response.json()


def test_create_list_update_sample_delete(client: TestClient) -> None:
    first, second = register(client, "gpt-4o"), register(client, "gpt-4o-mini")
    project_id = first["project_id"]
    created = client.post(f"/v4/projects/{project_id}/experiments", headers=KEY, json={
        "name": "ab", "positive_labels": [{"type": "rating", "value": "good"}],
        "config_ids": [first["config"]["id"]], "set_active": True, "projectId": project_id,  # npm client's extra
    })
    assert created.status_code == 200, created.text
    experiment = ExperimentResponse.model_validate_json(created.content)
    assert experiment.status == "Initialized" and [c.id for c in experiment.configs or []] == [first["config"]["id"]]

    listed = client.get(f"/v4/projects/{project_id}/experiments", headers=KEY).json()
    assert [e["id"] for e in listed] == [experiment.id]

    updated = client.patch(f"/v4/experiments/{experiment.id}", headers=KEY, json={
        "name": "ab-2", "config_ids_to_register": [second["config"]["id"]], "experimentId": experiment.id})
    assert updated.status_code == 200
    assert updated.json()["name"] == "ab-2" and len(updated.json()["configs"]) == 2

    seen = Counter()
    for _ in range(200):
        sampled = client.get(f"/v4/experiments/{experiment.id}/model-config", headers=KEY)
        GetModelConfigResponse.model_validate_json(sampled.content)
        seen[sampled.json()["config"]["model"]] += 1
    assert set(seen) == {"gpt-4o", "gpt-4o-mini"} and min(seen.values()) > 60

    # Draws are not trials: trials_count counts logs with feedback (docs/behaviour.md).
    after = client.get(f"/v4/projects/{project_id}/experiments", headers=KEY).json()[0]
    assert after["status"] == "Initialized"
    assert [c["trials_count"] for c in after["configs"]] == [0, 0]
    assert [c["mean"] for c in after["configs"]] == [None, None]

    deregistered = client.patch(f"/v4/experiments/{experiment.id}", headers=KEY,
                                json={"config_ids_to_deregister": [first["config"]["id"]]}).json()
    assert [c["id"] for c in deregistered["configs"]] == [second["config"]["id"]]
    reply = client.post("/v4/chat-experiment", json=chat_body(experiment_id=experiment.id), headers=KEY).json()
    assert reply["data"][0]["model_config_id"] == second["config"]["id"]
    rated = client.post("/v4/feedback", headers=KEY,
                        json={"type": "rating", "value": "good", "data_id": reply["data"][0]["id"]})
    assert rated.status_code == 200, rated.text
    listing = client.get(f"/v4/projects/{project_id}/experiments", headers=KEY)
    started = listing.json()[0]
    ExperimentResponse.model_validate_json(json.dumps(started))
    assert started["status"] == "In progress"
    assert [(c["trials_count"], c["mean"]) for c in started["configs"]] == [(1, 2 / 3)]

    deleted = client.delete(f"/v4/experiments/{experiment.id}", headers=KEY)
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(f"/v4/projects/{project_id}/experiments", headers=KEY).json() == []


def test_register_into_an_experiment_by_name_and_dedup(client: TestClient) -> None:
    config = register(client, "claude", provider="anthropic", project="demo", experiment="demo-experiment")
    assert config["experiment_id"] == "exp_demo"
    again = register(client, "claude", provider="anthropic", project="demo", experiment="demo-experiment")
    assert again["config"]["id"] == config["config"]["id"]
    experiment = client.get("/v4/projects/pr_demo/experiments", headers=KEY).json()[0]
    assert len(experiment["configs"]) == 3
    assert [c["weight"] for c in experiment["configs"]] == [3, 1, 1]


def test_register_needs_a_project(client: TestClient) -> None:
    response = client.post("/v4/model-configs", json={"model": "m"}, headers=KEY)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "either project or project_id must be given"
