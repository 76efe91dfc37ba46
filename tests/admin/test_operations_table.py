"""One table of admin operations: every row is a method of the control service, the remote client and the
fixture's protocol with the same parameters, and the remote client reaches each one over HTTP with the
answer the service gives in-process (`/__admin/server` included)."""

from __future__ import annotations

import inspect

import httpx

from mockserver import MockSettings, create_app
from mockserver.control.operations import OPERATIONS
from mockserver.control.service import MockControl
from mockserver.http.server import BackgroundServer
from pytest_plugin.control_client import ControlClient, RemoteControl

CALLS = sorted({operation.call for operation in OPERATIONS})


def _parameters(function: object) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name != "self"]  # type: ignore[arg-type]


def test_every_row_is_a_method_of_the_service_the_remote_client_and_the_protocol() -> None:
    assert len(CALLS) == 18
    for call in CALLS:
        service = _parameters(getattr(MockControl, call))
        assert _parameters(getattr(RemoteControl, call)) == service, call
        assert _parameters(getattr(ControlClient, call)) == service, call
        for operation in (op for op in OPERATIONS if op.call == call):
            named = [*operation.fixed, *operation.path_params, operation.body, operation.query]
            assert {name for name in named if name is not None} <= set(service), (call, operation.path)


def test_the_remote_client_says_what_the_service_says_for_every_operation() -> None:
    app = create_app(MockSettings(seed=4))
    world = app.state.mock
    local = MockControl(world, app.state.tenants)
    with BackgroundServer(app) as server:
        httpx.post(server.base_url + "/chat-experiment", headers={"X-API-KEY": "k"},
                   json={"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hi"}]})
        remote = RemoteControl(server.base_url, "k")
        try:
            assert remote.info() == local.info()
            assert remote.get_spec() == local.get_spec()
            assert remote.experiments() == local.experiments()
            assert remote.experiment("exp_demo") == local.experiment("exp_demo")
            assert remote.requests({"chat": True}) == local.requests({"chat": True})
            assert remote.requests()["total"] == 1
            created = remote.add_rule("script", {"match": {"message": "Hi"}, "answer": {"output": "Hello"}})
            assert [rule["id"] for rule in local.list_rules("script")] == [created["id"]]
            assert remote.list_rules("script") == local.list_rules("script")
            assert remote.unused() == local.unused() and len(local.unused()) == 1
            assert remote.unexpected() == local.unexpected()
            remote.remove_rule("script", created["id"])
            assert local.list_rules("script") == []
            fault = remote.add_rule("fault", {"match": {"message": "Hi"}, "status": 429})
            assert [rule["id"] for rule in remote.list_rules("fault")] == [fault["id"]]
            loaded = remote.load_spec({"projects": [{"name": "extra"}]})
            assert loaded["projects"] and local.info()["state"] == remote.info()["state"]
            kept = remote.server()
            assert kept.keys() == local.server().keys() and kept["tenants"] == local.server()["tenants"]
            remote.clear_requests()
            assert local.requests()["total"] == 0
            assert remote.reset() == local.reset()
            assert local.list_rules("fault") == []
        finally:
            remote.close()
