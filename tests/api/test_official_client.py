"""The official Python client, `humanloop==0.7.32`, unmodified, against a live mock on a loopback port."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import httpx
import pytest
from humanloop import Humanloop
from humanloop.exceptions import ApiException, ApiStreamingException

from contracts.streams import joined_outputs
from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from mockserver.spec.models import FaultSpec

MESSAGES = [{"role": "user", "content": "Plan a weekend in Lisbon."}]
DEMO_CONFIGS = {"config_demo_helpful", "config_demo_concise"}
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["location"],
    },
}


@pytest.fixture
def humanloop(live_server: BackgroundServer) -> Humanloop:
    return Humanloop(api_key="sdk-test-key", host=live_server.base_url)


def reset(server: BackgroundServer) -> None:
    server.app.state.mock.reset()


async def collect_stream(client: Humanloop, **kwargs: Any) -> list[dict[str, Any]]:
    response = await client.chat_experiment_stream(**kwargs)
    return [chunk async for chunk in response.content]


def test_register_model_config(humanloop: Humanloop) -> None:
    registered = humanloop.model_configs.register(
        model="gpt-4o", project="sdk-project", chat_template=[{"role": "system", "content": "Be {{tone}}."}],
        tools=[WEATHER_TOOL], max_tokens=100,
    )
    assert registered.project_name == "sdk-project"
    assert registered.project_id.startswith("pr_")
    assert registered.config.id.startswith("config_")
    assert registered.config.tools[0].name == "get_weather"
    again = humanloop.model_configs.register(
        model="gpt-4o", project="sdk-project", chat_template=[{"role": "system", "content": "Be {{tone}}."}],
        tools=[WEATHER_TOOL], max_tokens=100,
    )
    assert again.config.id == registered.config.id


@pytest.mark.parametrize("num_samples", [1, 3])
def test_chat_experiment_sync(humanloop: Humanloop, num_samples: int) -> None:
    reply = humanloop.chat_experiment(experiment_id="exp_demo", messages=MESSAGES, num_samples=num_samples)
    assert [d.index for d in reply.data] == list(range(num_samples))
    assert {d.model_config_id_ for d in reply.data} <= DEMO_CONFIGS
    assert all(d.output and d.finish_reason in {"stop", "length"} for d in reply.data)
    assert len({d.id for d in reply.data}) == num_samples
    assert reply.project_id == "pr_demo"
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.generation_tokens


def test_chat_experiment_validated(humanloop: Humanloop) -> None:
    reply = humanloop.chats.create_experiment(
        experiment_id="exp_demo", messages=MESSAGES, num_samples=2, validate=True
    )
    assert len(reply.data) == 2
    assert reply.data[0].output_message.role == "assistant"
    assert reply.data[0].messages[0].role == "system"


def test_chat_experiment_async(humanloop: Humanloop) -> None:
    reply = asyncio.run(humanloop.achat_experiment(experiment_id="exp_demo", messages=MESSAGES))
    assert reply.data[0].output
    assert reply.data[0].model_config_id_ in DEMO_CONFIGS


@pytest.mark.parametrize("num_samples", [1, 2])
def test_chat_experiment_stream_matches_json(
    humanloop: Humanloop, live_server: BackgroundServer, num_samples: int
) -> None:
    reply = humanloop.chat_experiment(experiment_id="exp_demo", messages=MESSAGES, num_samples=num_samples)
    reset(live_server)
    chunks = asyncio.run(collect_stream(
        humanloop, experiment_id="exp_demo", messages=MESSAGES, num_samples=num_samples
    ))
    assert len(chunks) > num_samples
    assembled: dict[int, str] = {}
    finishes: dict[int, list[Any]] = {}
    for chunk in chunks:
        assembled[chunk["index"]] = assembled.get(chunk["index"], "") + chunk["output"]
        finishes.setdefault(chunk["index"], []).append(chunk["finish_reason"])
        assert chunk["project_id"] == "pr_demo"
    assert assembled == {d.index: d.output for d in reply.data}
    for index, reasons in finishes.items():
        assert reasons[:-1] == [None] * (len(reasons) - 1)
        assert reasons[-1] == reply.data[index].finish_reason
    assert {c["id"] for c in chunks} == {d.id for d in reply.data}


def test_stream_carries_tool_calls(humanloop: Humanloop, live_server: BackgroundServer) -> None:
    # 0.7.32 has no experiments API (upstream removed it), so create the experiment over plain HTTP.
    project = humanloop.model_configs.register(model="gpt-4o", project="tools").project_id
    created = httpx.post(f"{live_server.base_url}/projects/{project}/experiments", headers={"X-API-KEY": "k"},
                         json={"name": "tools", "positive_labels": []})
    registered = humanloop.model_configs.register(
        model="gpt-4o", project="tools", experiment="tools", tools=[WEATHER_TOOL]
    )
    assert registered.experiment_id == created.json()["id"]
    chunks = asyncio.run(collect_stream(
        humanloop, experiment_id=registered.experiment_id, messages=MESSAGES, tool_choice="required"
    ))
    final = chunks[-1]
    assert final["finish_reason"] == "tool_call"
    assert final["tool_calls"][0]["function"]["name"] == "get_weather"


def test_sync_chat_experiment_with_stream_true_returns_the_raw_sse_text(humanloop: Humanloop,
                                                                         live_server: BackgroundServer) -> None:
    """What docs/testing-guide.md says: the sync call does not parse a stream, it returns its body as text."""
    reply = humanloop.chat_experiment(experiment_id="exp_demo", messages=MESSAGES, stream=True, num_samples=2)
    reset(live_server)
    answer = humanloop.chat_experiment(experiment_id="exp_demo", messages=MESSAGES, num_samples=2)
    assert isinstance(reply, str) and reply.startswith("data: {") and reply.endswith("\n\n")
    assert joined_outputs(reply.encode()) == {d.index: d.output for d in answer.data}


# humanloop 0.7.32 never closes its aiohttp session when it raises ApiStreamingException (an SDK leak).
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_refused_stream_raises_api_streaming_exception_without_headers(humanloop: Humanloop,
                                                                          live_server: BackgroundServer) -> None:
    """What docs/testing-guide.md says: a streaming call's error is not an `ApiException` and has no
    headers (so no Retry-After), while the sync call's error has both."""
    rules = live_server.app.state.mock.rules
    rules.add_fault(FaultSpec(status=429, retry_after=2, times=2))
    with pytest.raises(ApiStreamingException) as streaming:
        asyncio.run(collect_stream(humanloop, experiment_id="exp_demo", messages=MESSAGES))
    error = streaming.value
    assert not isinstance(error, ApiException) and not hasattr(error, "headers")
    assert (error.status, error.reason) == (429, "Too Many Requests")
    assert json.loads(error.body) == {"detail": "Rate limit exceeded (injected by humanloop-mock)."}
    with pytest.raises(ApiException) as plain:
        humanloop.chat_experiment(experiment_id="exp_demo", messages=MESSAGES, stream=True)
    assert plain.value.status == 429 and plain.value.headers["Retry-After"] == "2"
    del streaming, error
    gc.collect()  # the leaked session is reported (and ignored) here, not in a later test


def test_validation_error_surfaces_as_api_exception(humanloop: Humanloop) -> None:
    with pytest.raises(ApiException) as raised:
        humanloop.chat_experiment(experiment_id="exp_demo", messages=MESSAGES, num_samples=0)
    assert raised.value.status == 422
    assert raised.value.body["detail"][0]["loc"] == ["body", "num_samples"]


def test_strict_unknown_experiment_is_404() -> None:
    with BackgroundServer(create_app(MockSettings(strict=True))) as server:
        client = Humanloop(api_key="k", host=server.base_url)
        with pytest.raises(ApiException) as raised:
            client.chat_experiment(experiment_id="exp_unknown", messages=MESSAGES)
    assert raised.value.status == 404
