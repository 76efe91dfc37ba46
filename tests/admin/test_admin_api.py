"""`/__admin`: the control service over HTTP, tenants with `isolate_keys`, and what stays out of the journal."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from tests.conftest import chat_body

SPEC = {
    "projects": [{"id": "pr_shop", "name": "shop", "experiments": [{
        "id": "exp_support", "name": "support",
        "configs": [{"id": "config_a", "model": "gpt-4o", "weight": 1}, {"id": "config_b", "model": "gpt-4o-mini"}],
    }]}],
}


def client_for(**settings: Any) -> TestClient:
    return TestClient(create_app(MockSettings(seed=3, **settings)))


def ask(client: TestClient, key: str = "k1", **overrides: Any) -> Any:
    body = chat_body(**{"experiment_id": "exp_support", **overrides})
    return client.post("/v4/chat-experiment", json=body, headers={"X-API-KEY": key})


def admin(client: TestClient, method: str, path: str, key: str = "k1", **kwargs: Any) -> Any:
    headers = {"X-API-KEY": key, **kwargs.pop("headers", {})}
    return client.request(method, "/__admin" + path, headers=headers, **kwargs)


def test_put_spec_returns_ids_and_get_spec_returns_it() -> None:
    with client_for(isolate_keys=True) as client:
        loaded = admin(client, "PUT", "/spec", json=SPEC)
        assert loaded.status_code == 200
        assert loaded.json() == {"projects": ["pr_shop"], "experiments": ["exp_support"],
                                 "configs": ["config_a", "config_b"], "scripts": [], "faults": []}
        assert admin(client, "GET", "/spec").json()["projects"][0]["experiments"][0]["id"] == "exp_support"
        assert ask(client).json()["data"][0]["model_config_id"] in {"config_a", "config_b"}


def test_post_spec_adds_and_refuses_a_taken_experiment_id() -> None:
    with client_for() as client:
        added = admin(client, "POST", "/spec", json=SPEC)
        assert added.json()["experiments"] == ["exp_support"]
        again = admin(client, "POST", "/spec", json=SPEC)
        assert again.status_code == 409 and "exp_support" in again.json()["detail"]
        assert admin(client, "POST", "/reset").json()["experiments"] == ["exp_demo"]  # back to the base spec


@pytest.mark.parametrize("method", ["PUT", "POST"])
@pytest.mark.parametrize("spec", [{"projects": 5}, {"projects": True}, {"projects": "x"}, {"projects": {"a": 1}},
                                  {"projects": [5]}, {"scripts": 5}, [SPEC], "spec", 7])
def test_a_spec_of_the_wrong_shape_is_a_422_naming_the_field_not_a_500(method: str, spec: Any) -> None:
    with client_for() as client:
        answer = admin(client, method, "/spec", json=spec)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"] and all("loc" in item for item in answer.json()["detail"])


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/spec", None, "expected an object (got None)"),
    ("/spec", {"projects": [5]}, "projects[0]: expected an object (got 5)"),
    ("/scripts", [], "expected an object (got [])"),
    ("/faults", "x", "expected an object (got 'x')"),
])
def test_a_body_that_is_not_an_object_says_so_without_naming_a_class(path: str, body: Any, message: str) -> None:
    with client_for() as client:
        answer = admin(client, "PUT" if path == "/spec" else "POST", path, content=json.dumps(body),
                       headers={"Content-Type": "application/json"})
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["msg"] == message


def test_scripts_are_added_used_counted_and_removed() -> None:
    with client_for(isolate_keys=True) as client:
        admin(client, "PUT", "/spec", json=SPEC)
        created = admin(client, "POST", "/scripts", json={"match": {"message": "capital"},
                                                           "answer": {"output": "Paris."}, "times": None})
        assert created.status_code == 201
        script_id = created.json()["id"]
        assert ask(client).json()["data"][0]["output"] == "Paris."
        listed = admin(client, "GET", "/scripts").json()
        assert [(s["id"], s["used"], s["match"]) for s in listed] == [(script_id, 1, "message='capital'")]
        assert admin(client, "DELETE", f"/scripts/{script_id}").status_code == 204
        assert ask(client).json()["data"][0]["output"] != "Paris."
        missing = admin(client, "DELETE", f"/scripts/{script_id}")
        assert missing.status_code == 404 and script_id in missing.json()["detail"]


def test_a_fault_answers_429_with_retry_after_then_clears() -> None:
    with client_for() as client:
        created = admin(client, "POST", "/faults", json={"status": 429, "retry_after": 2})
        assert created.status_code == 201 and created.json()["name"] == "fault-1"
        refused = ask(client, experiment_id="exp_demo")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "2"
        assert ask(client, experiment_id="exp_demo").status_code == 200
        assert admin(client, "GET", "/faults").json()[0]["used"] == 1


def test_bad_bodies_name_the_key_like_a_config_file() -> None:
    with client_for() as client:
        bad_script = admin(client, "POST", "/scripts", json={"match": {"mesage": "x"}, "answer": {"output": "y"}})
        assert bad_script.status_code == 422
        assert bad_script.json()["detail"][0]["msg"] == "match.mesage: unknown key (did you mean 'message'?)"
        bad_spec = admin(client, "PUT", "/spec", json={"scripts": [{"match": {"mesage": "x"}, "answer": {}}]})
        assert bad_spec.status_code == 422
        assert [d["msg"] for d in bad_spec.json()["detail"]] == [
            "scripts[0].match.mesage: unknown key (did you mean 'message'?)"]
        not_json = admin(client, "PUT", "/spec", content=b"{", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 422
        bad_filter = admin(client, "GET", "/requests?status=abc")
        assert bad_filter.status_code == 422 and "status" in bad_filter.json()["detail"][0]["msg"]
        not_a_list = admin(client, "POST", "/scripts", json={"answers": 5})  # was a 500 (len() of an int)
        assert not_a_list.status_code == 422
        assert not_a_list.json()["detail"][0]["msg"].startswith("answers: Input should be a valid list")


def test_journal_filters_counts_and_clears() -> None:
    with client_for() as client:
        admin(client, "POST", "/spec", json=SPEC)
        ask(client, messages=[{"role": "user", "content": "one"}])
        ask(client, experiment_id="exp_demo")
        ask(client, experiment_id="exp_support", num_samples=99)  # 422
        client.get("/v4/nowhere", headers={"X-API-KEY": "k1"})  # 404, journaled too
        everything = admin(client, "GET", "/requests").json()
        assert everything["total"] == 4 and [r["seq"] for r in everything["requests"]] == [0, 1, 2, 3]
        assert admin(client, "GET", "/requests?experiment_id=exp_support").json()["total"] == 2
        assert admin(client, "GET", "/requests?status=422").json()["requests"][0]["seq"] == 2
        assert admin(client, "GET", "/requests?path=/v4/nowhere").json()["total"] == 1
        since = admin(client, "GET", "/requests?since=1&limit=1").json()
        assert since["total"] == 2 and [r["seq"] for r in since["requests"]] == [3]
        chat = admin(client, "GET", "/requests?chat=true&message=one").json()
        assert [r["seq"] for r in chat["requests"]] == [0]
        assert admin(client, "DELETE", "/requests").status_code == 204
        assert admin(client, "GET", "/requests").json() == {
            "total": 0, "requests": [], "rule_labels": {"script": {}, "fault": {}}}


def test_unused_and_unexpected() -> None:
    with client_for() as client:
        admin(client, "POST", "/scripts", json={"match": {"message": "never"}, "answer": {"output": "x"}})
        ask(client, experiment_id="exp_demo", num_samples=0)
        unused = admin(client, "GET", "/unused").json()
        expected = "script-1 matching message='never' answered 0 of 1 time(s)"
        assert [u["problem"] for u in unused] == [expected]
        unexpected = admin(client, "GET", "/unexpected").json()
        assert len(unexpected) == 1 and unexpected[0]["reason"].startswith("error:")


def test_reset_restores_the_spec_counters_draws_and_empties_rules_and_journal() -> None:
    with client_for(isolate_keys=True) as client:
        admin(client, "PUT", "/spec", json=SPEC)
        first = [ask(client).json()["data"][0]["id"] for _ in range(3)]
        admin(client, "POST", "/faults", json={"status": 500, "times": None})
        admin(client, "POST", "/reset")
        assert admin(client, "GET", "/faults").json() == []
        assert admin(client, "GET", "/requests").json()["total"] == 0
        assert [ask(client).json()["data"][0]["id"] for _ in range(3)] == first


def test_admin_and_root_health_are_not_journaled_and_health_needs_no_key() -> None:
    with client_for(api_keys=("secret",)) as client:
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert admin(client, "GET", "/requests", key="secret").json()["total"] == 0


def test_with_api_keys_the_admin_api_needs_an_accepted_key() -> None:
    with client_for(api_keys=("secret",), isolate_keys=True) as client:
        assert client.get("/__admin/requests").status_code == 401
        assert admin(client, "GET", "/requests", key="wrong").status_code == 401
        assert admin(client, "GET", "/requests", key="secret").status_code == 200


def test_two_tenants_never_see_each_others_rules_or_journal() -> None:
    with client_for(isolate_keys=True) as client:
        for key in ("alice", "bob"):
            admin(client, "PUT", "/spec", key=key, json=SPEC)
        admin(client, "POST", "/scripts", key="alice", json={"answer": {"output": "for alice"}, "times": None})
        admin(client, "POST", "/faults", key="bob", json={"status": 503})
        assert ask(client, key="alice").json()["data"][0]["output"] == "for alice"
        assert ask(client, key="bob").status_code == 503
        assert ask(client, key="bob").json()["data"][0]["output"] != "for alice"
        assert admin(client, "GET", "/requests", key="alice").json()["total"] == 1
        assert admin(client, "GET", "/requests", key="bob").json()["total"] == 2
        assert admin(client, "GET", "/scripts", key="bob").json() == []
        assert admin(client, "GET", "/faults", key="alice").json() == []


def test_a_tenants_answers_depend_only_on_the_seed_and_its_own_requests() -> None:
    with client_for(isolate_keys=True) as shared, client_for(isolate_keys=True) as alone:
        mine = []
        for turn in range(4):
            ask(shared, key="noise", messages=[{"role": "user", "content": f"noise {turn}"}], num_samples=2)
            mine.append(ask(shared, key="mine", experiment_id="exp_demo", num_samples=2).content)
        assert mine == [ask(alone, key="mine", experiment_id="exp_demo", num_samples=2).content for _ in range(4)]


def test_tenants_are_bounded_and_an_idle_one_starts_afresh() -> None:
    app = create_app(MockSettings(isolate_keys=True, max_tenants=2, tenant_idle_timeout=0.2))
    with TestClient(app) as client:
        admin(client, "POST", "/scripts", key="a", json={"answer": {"output": "scripted"}, "times": None})
        ask(client, key="b", experiment_id="exp_demo")
        full = client.post("/v4/chat-experiment", json={"experiment_id": "exp_demo", "messages": []},
                           headers={"X-API-KEY": "c"})  # "a" and "b" are in use: "c" waits
        assert full.status_code == 503 and full.headers["retry-after"] == "1" and "--max-tenants" in full.text
        assert app.state.tenants.refused == 1
        assert [e.status for e in app.state.mock.journal.entries()] == [503]  # journaled in the shared world
        time.sleep(0.25)  # both are idle now: "a" is the least recently used
        ask(client, key="c", experiment_id="exp_demo")
        assert app.state.tenants.count() == 2 and app.state.tenants.evicted == 1
        assert admin(client, "GET", "/scripts", key="a").json() == []


def test_without_isolation_every_key_shares_one_world() -> None:
    with client_for() as client:
        admin(client, "POST", "/scripts", key="a", json={"answer": {"output": "shared"}, "times": None})
        assert ask(client, key="b", experiment_id="exp_demo").json()["data"][0]["output"] == "shared"


def test_the_admin_openapi_document_lists_every_admin_route() -> None:
    with client_for() as client:
        document = client.get("/__admin/openapi.json").json()
        routes = {(route.path, method.lower()) for route in client.app.router.routes  # type: ignore[attr-defined]
                  if route.path.startswith("/__admin") for method in route.handlers}
        documented = {(path.replace("{rule_id}", "{rule_id}"), method) for path, item in document["paths"].items()
                      for method in item}
        assert routes - {("/__admin/openapi.json", "get")} == documented
        assert "MockSpec" in document["components"]["schemas"]
        refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
        assert "ServerInfo" in refs and refs <= set(document["components"]["schemas"])  # every `$ref` resolves
        chat_contract = client.get("/v4/openapi.json").json()
        assert not any(path.startswith("/__admin") for path in chat_contract["paths"])


@pytest.mark.parametrize("path", ["/__admin/", "/__admin/info"])
def test_page_and_info_answer(path: str) -> None:
    with client_for() as client:
        response = client.get(path)
        assert response.status_code == 200
        if path.endswith("info"):
            assert json.loads(response.content)["seed"] == 3
        else:
            assert response.headers["content-type"].startswith("text/html")


def test_every_door_refuses_duplicate_ids_and_the_old_on_call_spelling() -> None:
    twice = {"projects": [{"name": "p", "experiments": [{"id": "exp_x", "name": "a"}, {"id": "exp_x", "name": "b"}]}]}
    with client_for() as client:
        refused = admin(client, "PUT", "/spec", json=twice)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["msg"] == (
            "projects[0].experiments[1].id: experiment id 'exp_x' is also used at projects[0].experiments[0].id")
        old = admin(client, "POST", "/faults", json={"on_call": 2, "status": 500})
        assert old.status_code == 422
        assert old.json()["detail"][0]["msg"] == "on_call: unknown key (did you mean 'match.call'?)"


def test_a_script_and_a_fault_of_one_name_keep_their_own_labels() -> None:
    with client_for() as client:
        assert admin(client, "POST", "/scripts", json={"name": "same", "answer": {"output": "ok"}}).status_code == 201
        assert admin(client, "POST", "/faults", json={"name": "same", "match": {"call": 1}, "status": 429}
                     ).status_code == 201
        assert ask(client, experiment_id="exp_demo").status_code == 429
        assert ask(client, experiment_id="exp_demo").json()["data"][0]["output"] == "ok"
        labels = admin(client, "GET", "/requests").json()["rule_labels"]
    assert labels == {"script": {"same": "script 'same' matching every call"},
                      "fault": {"same": "fault 'same' matching call=1"}}


async def _call(app: Any, method: str, path: str, body: bytes) -> int:
    """One request straight through the app (no client): its status."""
    scope = {"type": "http", "method": method, "path": path, "query_string": b"",
             "headers": [(b"x-api-key", b"k"), (b"content-type", b"application/json")]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/__admin/scripts", {"answer": {"output": "x" * (300 * 1024)}}),
    ("PUT", "/__admin/spec", {"projects": [{"name": "p" * (300 * 1024)}]}),
    ("POST", "/v4/model-configs", {"model": "gpt-4o", "project": "p", "description": "d" * (300 * 1024)}),
])
def test_a_large_body_takes_its_turns_without_waiting_on_itself(method: str, path: str, body: Any) -> None:
    """A body over 256 KiB is parsed and used in turns (`world.heavy`): one turn at a time, never a turn
    inside another (which would wait for itself for ever)."""
    app = create_app(MockSettings())
    raw = json.dumps(body).encode()
    assert asyncio.run(asyncio.wait_for(_call(app, method, path, raw), timeout=20)) in (200, 201)


@pytest.mark.parametrize("path", ["", ".", "x" * 300, "a\x00b", "/" + "d/" * 3000 + "calls.har"])
def test_a_cassette_path_no_file_can_have_is_422_not_500(path: str) -> None:
    """An empty name, a NUL byte or a name over the system's limit once raised out of the loader (500)."""
    client = TestClient(create_app(MockSettings()))
    answer = client.post("/__admin/cassette", headers={"X-API-KEY": "k"}, json={"path": path})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body"]
    assert client.get("/__admin/cassette", headers={"X-API-KEY": "k"}).status_code == 404
