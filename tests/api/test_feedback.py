"""`POST /v4/feedback` and what it does to an experiment: trials, Beta statistics, status, the journal."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from starlette.testclient import TestClient

from contracts.experiments import ExperimentResponse, PositiveLabel
from contracts.feedback import FeedbackResponse
from mockserver import MockSettings, create_app
from mockserver.control.service import MockControl
from mockserver.world.feedback import apply_feedback, outcome, posterior
from tests.conftest import KEY, chat_body

GOOD = {"type": "rating", "value": "good"}
SPEC = {"projects": [{"id": "pr_fb", "name": "fb", "experiments": [{
    "id": "exp_fb", "name": "fb", "positive_labels": [GOOD, {"type": "action", "value": "copied"}],
    "configs": [{"id": "config_a", "model": "gpt-4o"}, {"id": "config_b", "model": "gpt-4o-mini", "active": False}],
}]}]}


@pytest.fixture
def client() -> Any:
    app = create_app(MockSettings(seed=11))
    MockControl(app.state.mock).load_spec(SPEC, replace=True)
    with TestClient(app) as test_client:
        yield test_client


def answer(client: TestClient, samples: int = 1) -> list[str]:
    """Log ids of one chat answer from exp_fb (all drawn from config_a, the only active config)."""
    reply = client.post("/v4/chat-experiment", headers=KEY, json=chat_body(experiment_id="exp_fb", num_samples=samples))
    assert reply.status_code == 200, reply.text
    return [item["id"] for item in reply.json()["data"]]


def feedback(client: TestClient, body: Any, status: int = 200) -> Any:
    response = client.post("/v4/feedback", headers=KEY, json=body)
    assert response.status_code == status, response.text
    return response.json()


def config_a(client: TestClient) -> dict[str, Any]:
    listing = client.get("/v4/projects/pr_fb/experiments", headers=KEY)
    ExperimentResponse.model_validate_json(json.dumps(listing.json()[0]))
    return listing.json()[0]["configs"][0]


def counts(client: TestClient) -> tuple[int, int]:
    stats = client.app.state.mock.state.experiment_summary("exp_fb")["configs"][0]  # type: ignore[attr-defined]
    return stats["successes"], stats["failures"]


# --- the route ---------------------------------------------------------------------------------


def test_one_item_in_one_item_out_and_a_list_in_a_list_out(client: TestClient) -> None:
    first, second = answer(client, samples=2)
    single = feedback(client, {**GOOD, "data_id": first, "user": "ada", "created_at": "2024-09-01T10:00:00Z"})
    FeedbackResponse.model_validate_json(json.dumps(single))
    assert list(single) == ["type", "value", "data_id", "user", "created_at", "id"]
    assert single["id"].startswith("ann_") and single["data_id"] == first
    assert (single["user"], single["created_at"]) == ("ada", "2024-09-01T10:00:00Z")
    many = feedback(client, [{**GOOD, "data_id": second}, {"type": "comment", "value": "fine", "data_id": first}])
    assert isinstance(many, list) and [m["type"] for m in many] == ["rating", "comment"]
    assert len({single["id"], many[0]["id"], many[1]["id"]}) == 3
    assert many[0]["created_at"].startswith("2024-08-05T")  # the logical clock when none is given
    assert feedback(client, []) == []


@pytest.mark.parametrize(("body", "loc", "msg"), [
    ({"value": "good", "data_id": "data_x"}, ["body", "type"], "field required"),
    ({"type": "rating", "value": "good"}, ["body", "data_id"], "field required"),
    ({"type": "rating", "data_id": "data_x"}, ["body"], "value is required unless unset is true"),
    ({"type": "rating", "value": 5, "data_id": "data_x"}, ["body", "value"], "str type expected"),
    ({"type": "rating", "value": "good", "data_id": "data_x", "created_at": "yesterday"}, ["body", "created_at"],
     "invalid datetime format"),
    ([GOOD | {"data_id": "data_x"}, {"type": "rating"}], ["body", 1, "data_id"], "field required"),
    ("good", ["body"], "value is not a valid dict"),
])
def test_bad_bodies_get_422_in_the_upstream_shape(client: TestClient, body: Any, loc: list[Any], msg: str) -> None:
    detail = feedback(client, body, status=422)["detail"]
    assert {"loc": loc, "msg": msg} in [{"loc": d["loc"], "msg": d["msg"]} for d in detail]


def test_unknown_log_id_is_404_and_a_list_is_all_or_nothing(client: TestClient) -> None:
    (log_id,) = answer(client)
    refused = feedback(client, [{**GOOD, "data_id": log_id}, {**GOOD, "data_id": "data_unknown"}], status=404)
    assert "data_unknown" in refused["detail"] and "item 1" in refused["detail"]
    assert counts(client) == (0, 0)  # the known item was not applied either
    assert client.app.state.mock.state.experiment_summary("exp_fb")["feedback"] == 0  # type: ignore[attr-defined]


def test_logs_past_the_limit_are_forgotten() -> None:
    app = create_app(MockSettings(seed=11, log_limit=2))
    with TestClient(app) as client:
        first, second, third = (answer_demo(client) for _ in range(3))
        feedback(client, {**GOOD, "data_id": first}, status=404)
        assert feedback(client, {**GOOD, "data_id": third})["data_id"] == third
        assert feedback(client, {**GOOD, "data_id": second})["data_id"] == second


def answer_demo(client: TestClient) -> str:
    return client.post("/v4/chat-experiment", headers=KEY, json=chat_body()).json()["data"][0]["id"]


# --- statistics --------------------------------------------------------------------------------


def test_trials_mean_and_spread_are_the_beta_posterior(client: TestClient) -> None:
    logs = answer(client, samples=5)
    before = config_a(client)
    assert (before["trials_count"], before["mean"], before["spread"]) == (0, None, None)
    verdicts = ["good", "good", "bad", "good"]  # 3 successes, 1 failure; the fifth log gets no feedback
    feedback(client, [{"type": "rating", "value": v, "data_id": d} for v, d in zip(verdicts, logs, strict=False)])
    after = config_a(client)
    a, b = 1 + 3, 1 + 1
    assert after["trials_count"] == 4
    assert after["mean"] == pytest.approx(a / (a + b))
    assert after["spread"] == pytest.approx(math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))
    assert 0 <= after["spread"] <= after["mean"] <= 1


def test_a_log_counts_once_by_its_current_feedback(client: TestClient) -> None:
    (log_id,) = answer(client)
    feedback(client, {"type": "comment", "value": "nice", "data_id": log_id})
    assert counts(client) == (0, 0)  # a type no positive label names does not count
    feedback(client, {**GOOD, "data_id": log_id})
    feedback(client, {**GOOD, "data_id": log_id})
    assert counts(client) == (1, 0)  # the same rating again: still one datapoint
    feedback(client, {"type": "rating", "value": "bad", "data_id": log_id})
    assert counts(client) == (0, 1)  # a rating replaces the earlier one
    feedback(client, {"type": "rating", "unset": True, "data_id": log_id})
    assert counts(client) == (0, 0)


def test_actions_accumulate_and_any_positive_one_is_a_success(client: TestClient) -> None:
    (log_id,) = answer(client)
    feedback(client, {"type": "action", "value": "shared", "data_id": log_id})
    assert counts(client) == (0, 1)
    feedback(client, {"type": "action", "value": "copied", "data_id": log_id})
    assert counts(client) == (1, 0)
    feedback(client, {"type": "action", "value": "copied", "unset": True, "data_id": log_id})
    assert counts(client) == (0, 1)  # "shared" is still there


def test_status_starts_with_the_first_counted_feedback_and_stays(client: TestClient) -> None:
    (log_id,) = answer(client)
    experiment = lambda: client.get("/v4/projects/pr_fb/experiments", headers=KEY).json()[0]  # noqa: E731
    assert experiment()["status"] == "Initialized"  # answers alone are not trials
    feedback(client, {"type": "comment", "value": "hm", "data_id": log_id})
    assert experiment()["status"] == "Initialized"
    feedback(client, {"type": "rating", "value": "bad", "data_id": log_id})
    assert experiment()["status"] == "In progress"
    feedback(client, {"type": "rating", "unset": True, "data_id": log_id})
    assert experiment()["status"] == "In progress"


def test_changing_positive_labels_recounts(client: TestClient) -> None:
    logs = answer(client, samples=3)
    feedback(client, [{"type": "rating", "value": v, "data_id": d} for v, d in zip(["great", "good", "good"], logs,
                                                                                       strict=True)])
    assert counts(client) == (2, 1)
    patched = client.patch("/v4/experiments/exp_fb", headers=KEY,
                           json={"positive_labels": [{"type": "rating", "value": "great"}]})
    assert patched.status_code == 200
    assert counts(client) == (1, 2)
    client.patch("/v4/experiments/exp_fb", headers=KEY, json={"positive_labels": [{"type": "issue", "value": "x"}]})
    assert counts(client) == (0, 0)


def test_the_journal_says_what_feedback_counted(client: TestClient) -> None:
    (log_id,) = answer(client)
    feedback(client, [{**GOOD, "data_id": log_id}, {"type": "comment", "value": "ok", "data_id": log_id}])
    control = MockControl(client.app.state.mock)  # type: ignore[attr-defined]
    entries = control.requests({"path": "/v4/feedback"})["requests"]
    assert entries[0]["experiment_id"] == "exp_fb"
    assert entries[0]["feedback"] == [
        {"data_id": log_id, "experiment_id": "exp_fb", "model_config_id": "config_a", "outcome": "success"},
        {"data_id": log_id, "experiment_id": "exp_fb", "model_config_id": "config_a", "outcome": "success"},
    ]
    assert control.requests({"experiment_id": "exp_fb", "path": "/v4/feedback"})["total"] == 1


# --- the rules, as plain functions -------------------------------------------------------------


def test_rules_as_functions() -> None:
    held: dict[str, list[str]] = {}
    labels = [PositiveLabel(type="rating", value="good")]
    assert outcome(held, labels) is None
    apply_feedback(held, "rating", "good", unset=False)
    apply_feedback(held, "issue", "slow", unset=False)
    apply_feedback(held, "issue", "wrong", unset=False)
    assert held == {"rating": ["good"], "issue": ["slow", "wrong"]} and outcome(held, labels) is True
    apply_feedback(held, "issue", None, unset=True)
    assert held == {"rating": ["good"]}
    assert posterior(0, 0) == pytest.approx((0.5, math.sqrt(1 / 12)))
    assert posterior(1000, 0)[0] > 0.99 and posterior(0, 1000)[0] < 0.01
