"""Template amplification (issue 8, case 3): a prompt or answer too large is refused before it is made.

The issue's case: a template of 100,000 `{{x}}` with `x` of 1,000 characters and `num_samples` 16
was answered 200 with a 1.7 GB body after 34-41 s, while the health check stalled. Now it gets a 413
naming the limit at once, and a concurrent health check keeps answering. The time bounds below are
generous hang checks (the failure they catch took half a minute), not performance measurements.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from tests.conftest import KEY

PLACEHOLDERS = 100_000


def amplifying_experiment(client: httpx.Client | TestClient, prefix: str = "") -> str:
    """An experiment whose only config's system message is `{{x}}` 100,000 times."""
    config = client.post(f"{prefix}/v4/model-configs", headers=KEY, json={
        "project": "amplify", "model": "gpt-4o",
        "chat_template": [{"role": "system", "content": "{{x}}" * PLACEHOLDERS}],
    })
    assert config.status_code == 200, config.text
    project_id, config_id = config.json()["project_id"], config.json()["config"]["id"]
    experiment = client.post(f"{prefix}/v4/projects/{project_id}/experiments", headers=KEY,
                             json={"name": "amplify", "positive_labels": [], "config_ids": [config_id]})
    assert experiment.status_code == 200, experiment.text
    return experiment.json()["id"]


def chat(x: str, experiment_id: str, **extra: Any) -> dict[str, Any]:
    return {"experiment_id": experiment_id, "messages": [{"role": "user", "content": "Hi"}], "inputs": {"x": x},
            **extra}


def test_amplified_prompt_is_413_at_once_while_health_stays_fast() -> None:
    with BackgroundServer(create_app(MockSettings())) as server, httpx.Client(base_url=server.base_url.removesuffix(
            "/v4"), timeout=60) as client:
        experiment_id = amplifying_experiment(client)
        health_latencies: list[float] = []
        stop = threading.Event()

        def poll_health() -> None:
            with httpx.Client(base_url=client.base_url, timeout=60) as health:
                while not stop.is_set():
                    started = time.perf_counter()
                    assert health.get("/v4/healthz").status_code == 200
                    health_latencies.append(time.perf_counter() - started)
                    time.sleep(0.01)

        poller = threading.Thread(target=poll_health)
        poller.start()
        try:
            while len(health_latencies) < 3:  # the poller is running before the request goes out
                time.sleep(0.01)
            started = time.perf_counter()
            response = client.post("/v4/chat-experiment", headers=KEY, json=chat("y" * 1000, experiment_id,
                                                                                 num_samples=16))
            took = time.perf_counter() - started
            polled = len(health_latencies)
            while len(health_latencies) < polled + 3:  # and after it is answered
                time.sleep(0.01)
        finally:
            stop.set()
            poller.join()
    assert response.status_code == 413, response.text[:300]
    detail = response.json()["detail"]
    assert "--max-prompt-bytes" in detail and "100" in detail
    assert took < 1.0, f"the refusal took {took:.2f} s"  # the unguarded server took 34-41 s
    assert max(health_latencies) < 1.0, f"health check stalled {max(health_latencies):.2f} s"


def test_a_long_rendered_prompt_of_over_a_mebibyte_is_still_answered() -> None:
    """Real long contexts fit: 100,000 x 11 characters is a 1.1 MB rendered system message."""
    with TestClient(create_app(MockSettings())) as client:
        experiment_id = amplifying_experiment(client)
        response = client.post("/v4/chat-experiment", headers=KEY, json=chat("z" * 11, experiment_id))
    assert response.status_code == 200, response.text[:300]
    system = response.json()["data"][0]["messages"][0]["content"]
    assert len(system) == 11 * PLACEHOLDERS > 1024 * 1024


def test_prompt_limit_is_a_setting() -> None:
    with TestClient(create_app(MockSettings(max_prompt_bytes=4096))) as client:
        long_message = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "w " * 3000}]}
        response = client.post("/v4/chat-experiment", headers=KEY, json=long_message)
        assert response.status_code == 413 and "4096 bytes (--max-prompt-bytes)" in response.json()["detail"]
        long_message["messages"][0]["content"] = "w " * 1000
        assert client.post("/v4/chat-experiment", headers=KEY, json=long_message).status_code == 200


@pytest.mark.parametrize("stream", [False, True])
def test_answer_limit_counts_every_sample_echoing_its_prompt(stream: bool) -> None:
    """Four samples of a 1.1 MB prompt make a JSON answer over 4 MiB; a stream does not echo prompts."""
    with TestClient(create_app(MockSettings(max_answer_bytes=4 * 1024 * 1024))) as client:
        experiment_id = amplifying_experiment(client)
        one = client.post("/v4/chat-experiment", headers=KEY, json=chat("z" * 11, experiment_id, num_samples=2))
        assert one.status_code == 200  # about 3.3 MB: under the limit
        four = client.post("/v4/chat-experiment", headers=KEY,
                           json=chat("z" * 11, experiment_id, num_samples=4, stream=stream))
    if stream:
        assert four.status_code == 200 and four.headers["content-type"].startswith("text/event-stream")
    else:
        assert four.status_code == 413, four.text[:300]
        assert "--max-answer-bytes" in four.json()["detail"]


def test_filling_many_placeholders_matches_substituting_each() -> None:
    """The template fill splits and joins (fast for 100,000 placeholders); it must equal substituting
    each match, spaces inside braces, repeated and structured inputs included."""
    from mockserver.pipeline.render import PLACEHOLDER, _fill, _text_of

    inputs = {"a": "A", "b": {"k": [1, "é"]}, "long": "x" * 50}
    for text in ["{{a}}", "no placeholders", "{{ a }}-{{b}}{{a}}{{ long }}!", "{{a}}" * 1000 + "{{b}}", "{{a}"]:
        assert _fill(text, inputs) == PLACEHOLDER.sub(lambda m: _text_of(inputs[m.group(1)]), text)
