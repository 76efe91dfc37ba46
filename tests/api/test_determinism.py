"""Same seed + same requests ⇒ the same bytes; text depends on config, messages and index only."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from tests.conftest import KEY, chat_body, spec_with_configs
from tests.support.process import serve_process

TOOL = {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                                         "required": ["q"]}}


def request_sequence(base_url: str) -> list[bytes]:
    """A mixed sequence of calls; returns every response body, in order."""
    bodies = []
    with httpx.Client(base_url=base_url, headers=KEY) as http:
        calls: list[tuple[str, str, Any]] = [
            ("POST", "/chat-experiment", chat_body(num_samples=3)),
            ("POST", "/chat-experiment", chat_body(stream=True, num_samples=2)),
            ("POST", "/model-configs", {"model": "gpt-4o", "project": "p", "tools": [TOOL]}),
            ("POST", "/chat-experiment", chat_body(experiment_id="exp_prod_42", session_reference_id="s1",
                                                   project="p", metadata={"k": [1, 2]})),
            ("GET", "/experiments/exp_demo/model-config", None),
            ("POST", "/chat-experiment", chat_body(stream=True, num_samples=4, user="u")),
            ("GET", "/projects/pr_demo/experiments", None),
        ]
        for method, path, body in calls:
            response = http.request(method, path, json=body)
            assert response.status_code == 200, response.text
            bodies.append(response.content)
    return bodies


def test_two_servers_same_seed_same_bytes() -> None:
    with BackgroundServer(create_app(MockSettings(seed=11))) as one, \
         BackgroundServer(create_app(MockSettings(seed=11))) as two:
        assert request_sequence(one.base_url) == request_sequence(two.base_url)


def test_another_process_same_seed_same_bytes() -> None:
    """A separate `serve` process with a different PYTHONHASHSEED answers byte-for-byte the same."""
    with BackgroundServer(create_app(MockSettings(seed=11))) as local, \
         serve_process("--seed", "11", hash_seed="12345") as remote_url:
        assert request_sequence(remote_url) == request_sequence(local.base_url)


def test_another_seed_differs() -> None:
    with BackgroundServer(create_app(MockSettings(seed=11))) as one, \
         BackgroundServer(create_app(MockSettings(seed=12))) as two:
        first, second = request_sequence(one.base_url), request_sequence(two.base_url)
    assert first[0] != second[0]
    assert first[1] != second[1]


def test_text_does_not_depend_on_call_order() -> None:
    spec = spec_with_configs({"id": "config_only", "model": "gpt-4o"})
    a = chat_body(experiment_id="exp_test", messages=[{"role": "user", "content": "first question"}])
    b = chat_body(experiment_id="exp_test", messages=[{"role": "user", "content": "second question"}],
                  num_samples=2)

    def run(order: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with TestClient(create_app(MockSettings(seed=5, spec=spec))) as client:
            return [client.post("/v4/chat-experiment", json=body, headers=KEY).json() for body in order]

    ab = run([a, b])
    ba = run([b, a])
    assert [d["output"] for d in ab[0]["data"]] == [d["output"] for d in ba[1]["data"]]
    assert [d["output"] for d in ab[1]["data"]] == [d["output"] for d in ba[0]["data"]]
    assert ab[0]["data"][0]["id"] != ba[1]["data"][0]["id"]  # log ids follow the call sequence
    # Different sample indexes of one request get different text.
    assert ab[1]["data"][0]["output"] != ab[1]["data"][1]["output"]


def test_log_ids_unique_and_repeatable(client: TestClient) -> None:
    ids = []
    for _ in range(50):
        reply = client.post("/v4/chat-experiment", json=chat_body(num_samples=4), headers=KEY).json()
        ids += [d["id"] for d in reply["data"]]
    assert len(set(ids)) == len(ids) == 200
    assert all(i.startswith("data_") and len(i) == len("data_") + 21 for i in ids)
    client.app.state.mock.reset()
    again = client.post("/v4/chat-experiment", json=chat_body(num_samples=4), headers=KEY).json()
    assert [d["id"] for d in again["data"]] == ids[:4]


@pytest.mark.parametrize("weights", [(3, 1), (1, 2, 7)])
def test_draws_follow_weights_within_two_points(weights: tuple[int, ...]) -> None:
    configs = [{"id": f"config_{i}", "model": f"model-{i}", "weight": w} for i, w in enumerate(weights)]
    spec = spec_with_configs(*configs)
    counts: Counter[str] = Counter()
    with TestClient(create_app(MockSettings(seed=99, spec=spec))) as client:
        for _ in range(625):  # 625 requests x 16 samples = 10,000 draws
            reply = client.post("/v4/chat-experiment", json=chat_body(experiment_id="exp_test", num_samples=16),
                                headers=KEY).json()
            counts.update(d["model_config_id"] for d in reply["data"])
    assert sum(counts.values()) == 10_000
    total = sum(weights)
    for index, weight in enumerate(weights):
        share = counts[f"config_{index}"] / 10_000
        assert abs(share - weight / total) <= 0.02, (index, share)
