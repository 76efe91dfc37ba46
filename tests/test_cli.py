"""`humanloop-mock serve` as a user runs it: the banner, the default world, the flags."""

from __future__ import annotations

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
