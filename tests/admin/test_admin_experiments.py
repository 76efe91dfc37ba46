"""`GET /__admin/experiments`, the journal's change markers in `GET /__admin/info`, and how the journal page
is served (what the browser test in test_journal_page.py builds on)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter

from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.control.page import journal_page
from tests.conftest import KEY, chat_body


def journal_draws(client: TestClient, headers: dict[str, str] = KEY) -> Counter[tuple[str, str]]:
    """(experiment, config) -> how many samples drew it, counted from the journal."""
    records = client.get("/__admin/requests", headers=headers).json()["requests"]
    return Counter((r["experiment_id"], s["model_config_id"]) for r in records for s in r["samples"])


def page_draws(experiments: list[dict]) -> Counter[tuple[str, str]]:
    return Counter({(e["id"], c["id"]): c["draws"] for e in experiments for c in e["configs"] if c["draws"]})


def test_experiments_show_weights_and_draws_that_match_the_journal(client: TestClient) -> None:
    for index in range(9):
        client.post("/v4/chat-experiment", json=chat_body(messages=[{"role": "user", "content": f"q{index}"}]),
                    headers=KEY)
    client.post("/v4/chat-experiment", json=chat_body(num_samples=3), headers=KEY)

    experiments = client.get("/__admin/experiments", headers=KEY).json()
    assert [e["id"] for e in experiments] == ["exp_demo"]
    demo = experiments[0]
    assert (demo["name"], demo["project_id"], demo["provisioned"], demo["draws"]) == (
        "demo-experiment", "pr_demo", False, 12)
    weights = {c["id"]: (c["name"], c["model"], c["weight"], c["share"], c["active"]) for c in demo["configs"]}
    assert weights == {"config_demo_helpful": ("helpful", "gpt-4o", 3.0, 0.75, True),
                       "config_demo_concise": ("concise", "gpt-4o-mini", 1.0, 0.25, True)}
    assert page_draws(experiments) == journal_draws(client)
    assert sum(c["draws"] for c in demo["configs"]) == 12


def test_experiments_created_at_runtime_and_provisioned_are_listed_until_reset(client: TestClient) -> None:
    registered = client.post("/v4/model-configs", json={"model": "gpt-4o", "project": "runtime"}, headers=KEY).json()
    project_id, config_id = registered["project_id"], registered["config"]["id"]
    created = client.post(f"/v4/projects/{project_id}/experiments", headers=KEY,
                          json={"name": "live-ab", "positive_labels": [], "config_ids": [config_id]}).json()
    client.post("/v4/chat-experiment", json=chat_body(experiment_id=created["id"]), headers=KEY)
    client.post("/v4/chat-experiment", json=chat_body(experiment_id="exp_never_seen", num_samples=2), headers=KEY)

    by_id = {e["id"]: e for e in client.get("/__admin/experiments", headers=KEY).json()}
    assert set(by_id) == {"exp_demo", created["id"], "exp_never_seen"}
    runtime = by_id[created["id"]]
    assert (runtime["name"], runtime["project_id"], runtime["provisioned"], runtime["draws"]) == (
        "live-ab", project_id, False, 1)
    assert [(c["id"], c["weight"], c["share"], c["draws"]) for c in runtime["configs"]] == [(config_id, 1.0, 1.0, 1)]
    provisioned = by_id["exp_never_seen"]
    assert provisioned["provisioned"] is True and provisioned["draws"] == 2
    assert [c["share"] for c in provisioned["configs"]] == [0.5, 0.5]
    assert page_draws(list(by_id.values())) == journal_draws(client)

    client.post("/__admin/reset", headers=KEY)
    after = client.get("/__admin/experiments", headers=KEY).json()
    assert [(e["id"], e["draws"], [c["draws"] for c in e["configs"]]) for e in after] == [("exp_demo", 0, [0, 0])]


def test_inactive_configs_have_no_share() -> None:
    spec = {"projects": [{"name": "p", "experiments": [{"id": "exp_w", "name": "w", "configs": [
        {"id": "c_on", "model": "a", "weight": 1}, {"id": "c_off", "model": "b", "weight": 4, "active": False},
        {"id": "c_big", "model": "c", "weight": 3}]}]}]}
    with TestClient(create_app(MockSettings())) as client:
        assert client.put("/__admin/spec", json=spec, headers=KEY).status_code == 200
        configs = client.get("/__admin/experiments", headers=KEY).json()[0]["configs"]
    assert [(c["id"], c["active"], c["share"]) for c in configs] == [
        ("c_on", True, 0.25), ("c_off", False, 0.0), ("c_big", True, 0.75)]


def test_each_tenant_sees_its_own_draws() -> None:
    with TestClient(create_app(MockSettings(isolate_keys=True))) as client:
        for _ in range(3):
            client.post("/v4/chat-experiment", json=chat_body(), headers={"X-API-KEY": "a"})
        client.post("/v4/chat-experiment", json=chat_body(experiment_id="exp_b_only"), headers={"X-API-KEY": "b"})
        seen_a = client.get("/__admin/experiments", headers={"X-API-KEY": "a"}).json()
        seen_b = client.get("/__admin/experiments", headers={"X-API-KEY": "b"}).json()
    assert [(e["id"], e["draws"]) for e in seen_a] == [("exp_demo", 3)]
    assert [(e["id"], e["draws"]) for e in seen_b] == [("exp_demo", 0), ("exp_b_only", 1)]


def test_info_tells_new_requests_and_clears_apart(client: TestClient) -> None:
    start = client.get("/__admin/info", headers=KEY).json()
    client.post("/v4/chat-experiment", json=chat_body(), headers=KEY)
    client.get("/v4/nowhere", headers=KEY)
    grown = client.get("/__admin/info", headers=KEY).json()
    assert grown["journal_next_seq"] == start["journal_next_seq"] + 2
    assert grown["journal_epoch"] == start["journal_epoch"]

    client.delete("/__admin/requests", headers=KEY)
    cleared = client.get("/__admin/info", headers=KEY).json()
    client.post("/__admin/reset", headers=KEY)
    reset = client.get("/__admin/info", headers=KEY).json()
    assert (cleared["journal_next_seq"], cleared["journal_epoch"]) == (0, start["journal_epoch"] + 1)
    assert (reset["journal_next_seq"], reset["journal_epoch"]) == (0, start["journal_epoch"] + 2)


def test_experiments_route_is_in_the_admin_openapi_and_answers_its_schema(client: TestClient) -> None:
    client.post("/v4/chat-experiment", json=chat_body(num_samples=2), headers=KEY)
    document = client.get("/__admin/openapi.json", headers=KEY).json()
    operation = document["paths"]["/__admin/experiments"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"type": "array", "items": {"$ref": "#/components/schemas/ExperimentSummary"}}
    validator = Draft202012Validator({**schema, "components": document["components"]})
    validator.validate(client.get("/__admin/experiments", headers=KEY).json())
    info_schema = {"$ref": "#/components/schemas/AdminInfo", "components": document["components"]}
    Draft202012Validator(info_schema).validate(client.get("/__admin/info", headers=KEY).json())
    assert {"journal_next_seq", "journal_epoch"} <= set(document["components"]["schemas"]["AdminInfo"]["required"])


def test_experiments_need_an_accepted_key_under_api_key() -> None:
    with TestClient(create_app(MockSettings(api_keys=("secret",)))) as client:
        assert client.get("/__admin/experiments").status_code == 401
        assert client.get("/__admin/experiments", headers={"X-API-KEY": "wrong"}).status_code == 401
        assert client.get("/__admin/experiments", headers={"X-API-KEY": "secret"}).status_code == 200


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def test_page_is_served_without_a_key_and_locked_down_to_its_own_code() -> None:
    with TestClient(create_app(MockSettings(api_keys=("secret",), isolate_keys=True))) as client:
        page = client.get("/__admin/")
        journal = client.get("/__admin/requests", headers={"X-API-KEY": "secret"}).json()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert journal["total"] == 0  # the page itself is not journaled
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    script = re.search(r"<script>(.*?)</script>", page.text, re.DOTALL)
    style = re.search(r"<style>(.*?)</style>", page.text, re.DOTALL)
    assert script and style
    assert policy["script-src"] == _sha256(script.group(1))
    assert policy["style-src"] == _sha256(style.group(1))
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"
    assert page.headers["x-content-type-options"] == "nosniff"


def test_page_never_parses_text_as_markup() -> None:
    """The page renders request content with text nodes only; none of the HTML-parsing sinks appear."""
    source = journal_page()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "DOMParser", "createContextualFragment"):
        assert sink not in source, sink
    assert "http://" not in source and "https://" not in source  # loads nothing from elsewhere
