"""Experiment statistics through every door: the fixture handle, a marker, and `/__admin` over HTTP."""

from __future__ import annotations

import httpx
import pytest

from mockserver import MockSettings, create_app
from mockserver.control.models import ExperimentSummary
from mockserver.control.service import ControlError, MockControl
from mockserver.http.server import BackgroundServer
from pytest_plugin import HumanloopMock
from pytest_plugin.control_client import RemoteControl

ASK = [{"role": "user", "content": "Hello"}]
LABELS = [{"type": "rating", "value": "good"}]
CONFIGS = [{"id": "config_x", "model": "gpt-4o", "timing": {"first_event": {"median": 0.001}}},
           {"id": "config_y", "model": "gpt-4o-mini", "weight": 2}]


def test_handle_reports_draws_feedback_and_statistics(humanloop_mock: HumanloopMock) -> None:
    experiment = humanloop_mock.add_experiment("exp_stats", configs=CONFIGS, positive_labels=LABELS,
                                               sampling="adaptive")
    client = humanloop_mock.sdk_client()
    reply = client.chat_experiment(experiment_id=experiment, messages=ASK, num_samples=3)
    client.feedback(type="rating", value="good", data_id=reply.data[0].id)
    stats = humanloop_mock.experiment_stats(experiment)
    ExperimentSummary.model_validate(stats)
    assert (stats["sampling"], stats["status"], stats["draws"], stats["logs"], stats["feedback"]) == (
        "adaptive", "In progress", 3, 3, 1)
    by_id = {c["id"]: c for c in stats["configs"]}
    assert sum(c["draws"] for c in by_id.values()) == 3
    rated = by_id[reply.data[0].model_config_id_]
    assert (rated["trials_count"], rated["successes"], rated["failures"]) == (1, 1, 0)
    assert rated["mean"] == pytest.approx(2 / 3)
    assert by_id["config_x"]["timing"] == {"first_event": {"median": 0.001, "sigma": 0.0}}
    assert by_id["config_y"]["timing"] is None and by_id["config_y"]["weight"] == 2
    with pytest.raises(ValueError, match="exp_missing"):
        humanloop_mock.experiment_stats("exp_missing")


@pytest.mark.humanloop_experiment("exp_marked", configs=[{"model": "gpt-4o"}], sampling="adaptive")
def test_marker_declares_the_sampling_policy(humanloop_mock: HumanloopMock) -> None:
    assert humanloop_mock.experiment_stats("exp_marked")["sampling"] == "adaptive"


def test_admin_route_and_remote_control_say_the_same() -> None:
    app = create_app(MockSettings(seed=2))
    with BackgroundServer(app) as server:
        http = httpx.Client(base_url=server.base_url.removesuffix("/v4"), headers={"X-API-KEY": "k"})
        reply = http.post("/v4/chat-experiment", json={"experiment_id": "exp_demo", "messages": ASK}).json()
        assert http.post("/v4/feedback", json={"type": "rating", "value": "bad",
                                               "data_id": reply["data"][0]["id"]}).status_code == 200
        over_http = http.get("/__admin/experiments/exp_demo")
        assert over_http.status_code == 200
        remote = RemoteControl(server.base_url, "k")
        try:
            assert over_http.json() == remote.experiment("exp_demo") == MockControl(app.state.mock).experiment(
                "exp_demo")
            assert over_http.json()["draws"] == 1 and over_http.json()["feedback"] == 1
            listed = {e["id"]: e for e in http.get("/__admin/experiments").json()}
            assert listed["exp_demo"] == over_http.json()  # one shape for the list and the item
        finally:
            remote.close()
        missing = http.get("/__admin/experiments/exp_missing")
        assert missing.status_code == 404 and "exp_missing" in missing.json()["detail"]
        assert "/__admin/experiments/{experiment_id}" in http.get("/__admin/openapi.json").json()["paths"]
        http.close()


def test_an_id_with_a_slash_is_reached_escaped() -> None:
    """`a/b` goes out as `a%2Fb` (the remote control escapes it): the router matches the path as sent, so
    the experiment is found (before, the decoded path had one segment too many: a bare 404 `Not Found`)."""
    app = create_app(MockSettings(seed=2))
    with BackgroundServer(app) as server:
        remote = RemoteControl(server.base_url, "k")
        remote.load_spec({"projects": [{"name": "slashes", "experiments": [
            {"id": "team/exp", "name": "team exp", "configs": [{"model": "gpt-4o"}]}]}]})
        http = httpx.Client(base_url=server.base_url.removesuffix("/v4"), headers={"X-API-KEY": "k"})
        reply = http.post("/v4/chat-experiment", json={"experiment_id": "team/exp", "messages": ASK})
        assert reply.status_code == 200, reply.text
        try:
            assert remote.experiment("team/exp")["draws"] == 1
            over_http = http.get("/__admin/experiments/team%2Fexp")
            assert over_http.status_code == 200 and over_http.json()["id"] == "team/exp"
            sampled = http.get("/v4/experiments/team%2fexp/model-config")  # the API's own routes; lower-case escape
            assert sampled.status_code == 200 and sampled.json()["project_name"] == "slashes"
            with pytest.raises(ControlError, match="team/other not found"):  # named, not a bare Not Found
                remote.experiment("team/other")
            assert http.get("/__admin/experiments/team/exp").status_code == 404  # unescaped: two segments
        finally:
            remote.close()
            http.close()
