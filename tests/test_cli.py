"""`humanloop-mock serve` as a user runs it: the banner, the default world, the flags."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import chat_body
from tests.helpers_process import serve_process


def test_serve_default_answers_the_printed_example() -> None:
    with serve_process() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        reply = httpx.post(f"{base_url}/chat-experiment", headers={"X-API-KEY": "any-key"},
                           json={"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hello"}]})
        assert reply.status_code == 200
        assert reply.json()["data"][0]["model_config_id"] in {"config_demo_helpful", "config_demo_concise"}
        assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok", "seed": 0}


def test_serve_flags_strict_key_and_seed() -> None:
    with serve_process("--strict", "--api-key", "k1", "--seed", "9") as base_url:
        assert httpx.get(f"{base_url}/healthz").json()["seed"] == 9
        assert httpx.post(f"{base_url}/chat-experiment", json=chat_body(),
                          headers={"X-API-KEY": "other"}).status_code == 401
        unknown = httpx.post(f"{base_url}/chat-experiment", json=chat_body(experiment_id="exp_new"),
                             headers={"X-API-KEY": "k1"})
        assert unknown.status_code == 404


def test_serve_applies_scripts_and_faults_from_a_config_file() -> None:
    config = str(Path(__file__).resolve().parents[1] / "examples" / "configs" / "scripted.yaml")
    with serve_process("--config", config) as base_url, httpx.Client(base_url=base_url,
                                                                      headers={"X-API-KEY": "k"}) as http:
        def ask(text: str) -> httpx.Response:
            return http.post("/chat-experiment", json=chat_body(
                experiment_id="exp_checkout", messages=[{"role": "user", "content": text}]))

        throttled = ask("hello")
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "1"
        assert ask("hello").json()["data"][0]["output"] == "Hello! How can I help with your order?"
        assert ask("hello there").json()["data"][0]["output"] == "Hello! How can I help with your order?"
        first = ask("I want a refund").json()["data"][0]
        assert first["finish_reason"] == "tool_call" and first["tool_calls"][0]["function"]["name"] == "lookup_order"
        assert ask("refund status?").json()["data"][0]["output"] == "Your refund for A1 is on its way."
