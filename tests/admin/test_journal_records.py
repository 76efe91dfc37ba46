"""What a journal record says about an answer: the headers it went out with (charged to the byte budget),
the call's number per experiment beside the one over all experiments, and one name per rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from tests.conftest import KEY, chat_body

ADMIN_KEY = {"X-API-KEY": "test-key"}


def chat(client: TestClient, **overrides: Any) -> Any:
    return client.post("/v4/chat-experiment", json=chat_body(**overrides), headers=KEY)


def journal(client: TestClient) -> list[dict[str, Any]]:
    return client.get("/__admin/requests", headers=ADMIN_KEY).json()["requests"]


def test_each_record_keeps_the_headers_its_answer_went_out_with() -> None:
    with TestClient(create_app(MockSettings(seed=1))) as client:
        assert client.post("/__admin/faults", headers=ADMIN_KEY, json={"status": 429, "retry_after": 2.5}
                           ).status_code == 201
        refused = chat(client)
        answered = chat(client)
        streamed = chat(client, stream=True)
        invalid = chat(client, messages="not a list")
        missing = client.get("/v4/no-such-path", headers=KEY)
        records = journal(client)

    assert [r["status"] for r in records] == [429, 200, 200, 422, 404]
    for record, response in zip(records, (refused, answered, streamed, invalid, missing), strict=True):
        sent = {name: value for name, value in response.headers.items()}
        assert record["response_headers"] == sent, record["seq"]  # every header, as the client got it
    assert records[0]["response_headers"]["retry-after"] == "2.5"
    assert records[2]["response_headers"]["content-type"].startswith("text/event-stream")
    assert "x-api-key" not in {name for r in records for name in r["response_headers"]}


def test_response_headers_are_charged_to_the_byte_budget() -> None:
    """Two worlds that differ only in a 429's Retry-After: what they keep differs by exactly that header."""
    used = []
    for fault in ({"status": 429}, {"status": 429, "retry_after": 1}):
        app = create_app(MockSettings(seed=1))
        with TestClient(app) as client:
            assert client.post("/__admin/faults", headers=ADMIN_KEY, json=fault).status_code == 201
            assert chat(client).status_code == 429
            used.append(app.state.tenants.budget.snapshot()["by_kind"]["journal"])  # (what the fault holds differs)
    assert used[1] - used[0] == len(b"\nretry-after:1")


def test_a_call_is_numbered_per_experiment_and_over_all_of_them() -> None:
    with TestClient(create_app(MockSettings(seed=1))) as client:
        assert client.post("/__admin/faults", headers=ADMIN_KEY,
                           json={"match": {"call": 3}, "status": 503}).status_code == 201
        assert client.post("/__admin/faults", headers=ADMIN_KEY,
                           json={"match": {"experiment_id": "exp_later"}, "status": 429}).status_code == 201
        statuses = [chat(client, experiment_id=experiment).status_code
                    for experiment in ("exp_demo", "exp_other", "exp_demo", "exp_demo", "exp_later", "exp_later",
                                       "exp_other")]
        records = journal(client)
        assert client.post("/__admin/reset", headers=ADMIN_KEY).status_code == 200
        chat(client)
        after_reset = journal(client)

    assert statuses == [200, 200, 503, 200, 429, 200, 200]
    assert [r["call"] for r in records] == [1, 2, 3, 4, 5, 6, 7]
    # exp_demo: 1, (503 by a fault: still its 2nd call), 3; exp_other: 1, 2. exp_later's first call was
    # refused before it existed (it is provisioned on its first answered call): numbered all the same.
    assert [r["experiment_call"] for r in records] == [1, 1, 2, 3, 1, 2, 2]
    assert [(r["call"], r["experiment_call"]) for r in after_reset] == [(1, 1)]


def test_an_unnamed_rule_is_called_by_its_id_everywhere(tmp_path: Path) -> None:
    """Journal, rule labels, the unused listing and the admin API use the one name `script-1`/`fault-1`."""
    with TestClient(create_app(MockSettings(seed=1))) as client:
        script = client.post("/__admin/scripts", headers=ADMIN_KEY,
                             json={"match": {"message": "capital"}, "answer": {"output": "Paris."}}).json()
        fault = client.post("/__admin/faults", headers=ADMIN_KEY, json={"status": 500}).json()
        unused_fault = client.post("/__admin/faults", headers=ADMIN_KEY,
                                   json={"match": {"message": "never"}, "status": 500}).json()
        chat(client)
        chat(client)
        page = client.get("/__admin/requests", headers=ADMIN_KEY).json()
        unused = client.get("/__admin/unused", headers=ADMIN_KEY).json()
        listed = client.get("/__admin/faults", headers=ADMIN_KEY).json()

    assert (script, fault, unused_fault) == ({"id": "script-1", "name": "script-1"},
                                             {"id": "fault-1", "name": "fault-1"},
                                             {"id": "fault-2", "name": "fault-2"})
    refused, answered = page["requests"]
    assert refused["faults"] == ["fault-1"] and answered["samples"][0]["script"] == "script-1"
    assert page["rule_labels"] == {"script": {"script-1": "script-1 matching message='capital'"},
                                   "fault": {"fault-1": "fault-1 matching every call"}}
    assert [u["problem"] for u in unused] == ["fault-2 matching message='never' fired 0 of 1 time(s)"]
    assert [(f["id"], f["name"]) for f in listed] == [("fault-1", "fault-1"), ("fault-2", "fault-2")]

    config = tmp_path / "rules.yaml"
    config.write_text("scripts:\n  - answer: {output: hi}\nfaults:\n  - status: 503\n")
    listing = subprocess.run([sys.executable, "-m", "mockserver.cli", "check-config", str(config)],
                             capture_output=True, text=True, timeout=60)
    assert "script 'script-1': 'hi' when every call" in listing.stdout, listing.stdout + listing.stderr
    assert "fault 'fault-1': status=503 when every call" in listing.stdout


def test_an_experiment_forgotten_by_the_provisioning_lru_keeps_counting_its_calls(
        caplog: pytest.LogCaptureFixture) -> None:
    """`--max-provisioned 1`: exp_b pushes exp_a out, and exp_a is provisioned afresh on its next call,
    but its calls are counted apart from it (review of issue 16, finding 8: this said 1, 1, 1, 2)."""
    with TestClient(create_app(MockSettings(seed=1, max_provisioned=1))) as client:
        for experiment in ("exp_a", "exp_b", "exp_a", "exp_a"):
            assert chat(client, experiment_id=experiment).status_code == 200
        records = journal(client)
    provisioned = [r.getMessage().split()[2] for r in caplog.records if r.getMessage().startswith("Unknown experiment")]
    assert provisioned == ["exp_a:", "exp_b:", "exp_a:"]  # exp_a really was forgotten in between
    assert [(r["experiment_id"], r["call"], r["experiment_call"]) for r in records] == [
        ("exp_a", 1, 1), ("exp_b", 2, 1), ("exp_a", 3, 2), ("exp_a", 4, 3)]


def test_a_call_whose_answer_fails_still_shows_its_numbers() -> None:
    """A call counted and then refused by its answer (a prompt over `--max-prompt-bytes`: 413; an unknown
    experiment under `--strict`: 404) keeps its place in both counts, so the numbers in the journal have no
    gaps: the next call is the one after it."""
    with TestClient(create_app(MockSettings(seed=1, max_prompt_bytes=2048, strict=True))) as client:
        statuses = [chat(client).status_code,
                    chat(client, messages=[{"role": "user", "content": "x" * 4096}]).status_code,
                    chat(client, experiment_id="exp_nowhere").status_code,
                    chat(client).status_code]
        records = journal(client)
    assert statuses == [200, 413, 404, 200]
    assert [r["call"] for r in records] == [1, 2, 3, 4]
    assert [r["experiment_call"] for r in records] == [1, 2, None, 3]
    assert records[1]["error"] and records[1]["samples"] == []
    # The experiment it named is in its body; `experiment_id` is an answer's (a refused id may be megabytes).
    assert [r["experiment_id"] for r in records] == ["exp_demo", None, None, "exp_demo"]
    assert records[2]["body"]["experiment_id"] == "exp_nowhere"
