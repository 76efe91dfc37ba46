"""The `humanloop_mock` fixture used directly: clients, scripts, every fault kind, the journal."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

import aiohttp
import httpx
import pytest
import requests
import urllib3
from humanloop.exceptions import ApiException

from contracts.streams import joined_outputs, sse_data, stream_problems
from pytest_plugin import HumanloopMock, MockRequestError

ASK = [{"role": "user", "content": "What is the capital of France?"}]


def chat(**overrides: Any) -> dict[str, Any]:
    return {"experiment_id": "exp_demo", "messages": ASK, **overrides}


def post(mock: HumanloopMock, **overrides: Any) -> httpx.Response:
    with mock.httpx_client() as http:
        return http.post("/chat-experiment", json=chat(**overrides))


# --- reaching the mock -------------------------------------------------------------------------


def test_base_url_and_key(humanloop_mock: HumanloopMock) -> None:
    assert humanloop_mock.base_url.startswith("http://127.0.0.1:") and humanloop_mock.base_url.endswith("/v4")
    assert humanloop_mock.api_key


def test_every_client_library_works_unchanged(humanloop_mock: HumanloopMock) -> None:
    url, headers, body = f"{humanloop_mock.base_url}/chat-experiment", humanloop_mock.headers, chat()
    answers = [
        requests.post(url, json=body, headers=headers, timeout=10).json(),
        httpx.post(url, json=body, headers=headers).json(),
        json.loads(urllib3.request("POST", url, json=body, headers=headers).data),
        json.load(urllib.request.urlopen(urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={**headers, "Content-Type": "application/json"}))),
    ]

    async def with_aiohttp() -> dict[str, Any]:
        async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as response:
            return await response.json()

    answers.append(asyncio.run(with_aiohttp()))
    sdk = humanloop_mock.sdk_client().chat_experiment(experiment_id="exp_demo", messages=ASK)
    assert all(a["data"][0]["model_config_id"].startswith("config_demo") for a in answers)
    assert sdk.data[0].output
    assert len(humanloop_mock.requests) == 6


def test_in_process_clients_share_state_with_the_socket(humanloop_mock: HumanloopMock) -> None:
    experiment = humanloop_mock.add_experiment("exp_shared", configs=[{"model": "m1"}])
    over_socket = httpx.post(f"{humanloop_mock.base_url}/chat-experiment", headers=humanloop_mock.headers,
                             json=chat(experiment_id=experiment)).json()
    in_process = post(humanloop_mock, experiment_id=experiment).json()

    async def in_process_async() -> dict[str, Any]:
        async with humanloop_mock.async_httpx_client() as http:
            return (await http.post("/chat-experiment", json=chat(experiment_id=experiment))).json()

    from_async = asyncio.run(in_process_async())
    assert over_socket["data"][0]["model_config_id"] == in_process["data"][0]["model_config_id"] \
        == from_async["data"][0]["model_config_id"]
    assert [e.call for e in humanloop_mock.chat_calls()] == [1, 2, 3]


def test_in_process_stream_arrives_event_by_event_and_close_cancels(humanloop_mock: HumanloopMock) -> None:
    humanloop_mock.fault(event_delay=0.05, times=None)
    with humanloop_mock.httpx_client() as http, http.stream("POST", "/chat-experiment",
                                                            json=chat(stream=True)) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line)
        entry = humanloop_mock.requests[-1]
        assert first.startswith("data: {") and not entry.completed  # the rest is still being produced
    time.sleep(0.2)
    assert not entry.completed and 1 <= len(entry.stream_events) < 5  # closing stopped the app


def test_async_in_process_stream(humanloop_mock: HumanloopMock) -> None:
    async def read() -> bytes:
        async with humanloop_mock.async_httpx_client() as http, http.stream(
            "POST", "/chat-experiment", json=chat(stream=True, num_samples=2)
        ) as response:
            return b"".join([chunk async for chunk in response.aiter_bytes()])

    assert stream_problems(asyncio.run(read())) == []


# --- scripts -----------------------------------------------------------------------------------


def test_script_by_message_and_times(humanloop_mock: HumanloopMock) -> None:
    humanloop_mock.script("Paris.", message="capital", times=2)
    outputs = [post(humanloop_mock).json()["data"][0]["output"] for _ in range(3)]
    assert outputs[:2] == ["Paris.", "Paris."] and outputs[2] != "Paris."
    assert humanloop_mock.chat_calls()[0].samples[0]["script"] == "script-1"


def test_script_matching_rules(humanloop_mock: HumanloopMock) -> None:
    experiment = humanloop_mock.add_experiment("exp_m", configs=[{"id": "config_a", "model": "a"}])
    humanloop_mock.script("regex", message_regex=r"^Tell me \d+ jokes$", times=None)
    humanloop_mock.script("inputs", inputs={"lang": "fr"}, times=None)
    humanloop_mock.script("config", experiment_id=experiment, config_id="config_a", times=None)
    humanloop_mock.script("third call", call=3)
    assert post(humanloop_mock, messages=[{"role": "user", "content": "Tell me 3 jokes"}]).json()["data"][0][
        "output"] == "regex"
    assert post(humanloop_mock, inputs={"lang": "fr", "x": 1}).json()["data"][0]["output"] == "inputs"
    assert post(humanloop_mock).json()["data"][0]["output"] == "third call"
    assert post(humanloop_mock, experiment_id=experiment).json()["data"][0]["output"] == "config"
    assert post(humanloop_mock, inputs={"lang": "de"}).json()["data"][0]["output"] not in {"inputs", "third call"}


def test_script_sequence_tool_calls_usage_and_chunks(humanloop_mock: HumanloopMock) -> None:
    humanloop_mock.script(answers=[
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"output": "It is sunny.", "usage": {"prompt_tokens": 7, "generation_tokens": 3},
         "chunks": ["It ", "is ", "sunny."]},
    ])
    first = post(humanloop_mock).json()["data"][0]
    assert first["finish_reason"] == "tool_call"
    assert json.loads(first["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    with humanloop_mock.httpx_client() as http:
        streamed = http.post("/chat-experiment", json=chat(stream=True)).content
    deltas = [json.loads(e)["data"][0]["output"] for e in sse_data(streamed)]
    assert deltas == ["It ", "is ", "sunny."]
    assert json.loads(sse_data(streamed)[-1])["usage"] == {"prompt_tokens": 7, "generation_tokens": 3,
                                                          "total_tokens": 10}


def test_script_answers_each_sample(humanloop_mock: HumanloopMock) -> None:
    humanloop_mock.script(answers=["one", "two"])
    data = post(humanloop_mock, num_samples=3).json()["data"]
    assert [d["output"] for d in data[:2]] == ["one", "two"] and data[2]["output"] not in {"one", "two"}


# --- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
def test_status_faults_in_upstream_shape(humanloop_mock: HumanloopMock, status: int) -> None:
    humanloop_mock.fault(status, retry_after=2 if status == 429 else None)
    failed, fine = post(humanloop_mock), post(humanloop_mock)
    assert failed.status_code == status and isinstance(failed.json()["detail"], str)
    assert (failed.headers.get("retry-after") == "2") == (status == 429)
    assert fine.status_code == 200
    assert humanloop_mock.requests[0].faults == ("fault-1",)


def test_fault_on_nth_call_next_n_and_matching(humanloop_mock: HumanloopMock) -> None:
    humanloop_mock.fault(500, call=2)
    humanloop_mock.fault(503, message="boom", times=None)
    statuses = [post(humanloop_mock).status_code for _ in range(3)]
    statuses += [post(humanloop_mock, messages=[{"role": "user", "content": "boom"}]).status_code for _ in range(2)]
    assert statuses == [200, 500, 200, 503, 503]


def test_fault_does_not_spend_draws(humanloop_mock: HumanloopMock) -> None:
    """A call that fails leaves the answer of the retry unchanged (so retries are deterministic)."""
    plain = post(humanloop_mock).json()["data"][0]["output"]
    humanloop_mock.reset()
    humanloop_mock.fault(429)
    assert post(humanloop_mock).status_code == 429
    assert post(humanloop_mock).json()["data"][0]["output"] == plain


def test_latency_and_event_delays(humanloop_mock: HumanloopMock) -> None:
    humanloop_mock.fault(latency=0.2)
    started = time.monotonic()
    assert post(humanloop_mock).status_code == 200
    assert time.monotonic() - started >= 0.2  # a lower bound the mock guarantees, not a speed claim
    humanloop_mock.fault(first_event_delay=0.15, event_delay=0.02)
    started = time.monotonic()
    with humanloop_mock.httpx_client() as http:
        body = http.post("/chat-experiment", json=chat(stream=True)).content
    events = len(sse_data(body))
    assert time.monotonic() - started >= 0.15 + 0.02 * (events - 1)


def test_stream_cut_and_malformed_event(humanloop_mock: HumanloopMock) -> None:
    humanloop_mock.fault(cut_after_events=2)
    with humanloop_mock.httpx_client() as http:
        cut = http.post("/chat-experiment", json=chat(stream=True)).content
        humanloop_mock.fault(malformed_event=1)
        damaged = http.post("/chat-experiment", json=chat(stream=True)).content
    assert len(sse_data(cut)) == 2 and any("without a finish_reason" in p for p in stream_problems(cut))
    first = sse_data(damaged)[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)
    assert damaged.startswith(b"data: ")


def test_reset_connection_over_the_socket_and_in_process(humanloop_mock: HumanloopMock) -> None:
    humanloop_mock.fault(reset=True, times=2)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.post(f"{humanloop_mock.base_url}/chat-experiment", json=chat(), headers=humanloop_mock.headers)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)), humanloop_mock.httpx_client() as http:
        http.post("/chat-experiment", json=chat())  # in-process: RemoteProtocolError; remote mode: the socket
    assert post(humanloop_mock).status_code == 200


def test_official_sdk_sees_faults(humanloop_mock: HumanloopMock) -> None:
    client = humanloop_mock.sdk_client()
    humanloop_mock.fault(429, retry_after=1)
    with pytest.raises(ApiException) as raised:
        client.chat_experiment(experiment_id="exp_demo", messages=ASK)
    assert raised.value.status == 429 and raised.value.headers["Retry-After"] == "1"
    humanloop_mock.fault(malformed_event=2)

    async def chunks() -> list[dict[str, Any]]:
        response = await client.chat_experiment_stream(experiment_id="exp_demo", messages=ASK)
        return [c async for c in response.content]

    received = asyncio.run(chunks())
    events = humanloop_mock.requests[-1].stream_events
    assert len(received) == len(events) - 1  # the SDK skips the broken event silently


# --- the journal -------------------------------------------------------------------------------


def test_journal_records_body_headers_configs_status_and_events(humanloop_mock: HumanloopMock) -> None:
    with humanloop_mock.httpx_client() as http:  # the key picks the tenant in remote mode
        http.post("/chat-experiment", json=chat(stream=True, num_samples=2, provider_api_keys={"openai": "sk-1"}))
    entry = humanloop_mock.last_chat
    assert entry.status == 200 and entry.headers["x-api-key"] == "[redacted]"
    assert humanloop_mock.api_key not in json.dumps(entry.as_dict())
    assert entry.body["provider_api_keys"] == {"openai": "[redacted]"} and entry.body["num_samples"] == 2
    streamed_configs = {item["index"]: item["model_config_id"]
                        for event in entry.stream_events for item in json.loads(event)["data"]}
    assert {s["index"]: s["model_config_id"] for s in entry.samples} == streamed_configs  # what each sample drew
    assert set(streamed_configs) == {0, 1} and all(c.startswith("config_demo") for c in streamed_configs.values())
    assert set(joined_outputs("".join(f"data: {e}\n\n" for e in entry.stream_events).encode())) == {0, 1}
    assert entry.response_headers["content-type"].startswith("text/event-stream")
    assert "sk-1" not in json.dumps(entry.response_headers)


def test_records_keep_the_response_headers_and_number_calls_per_experiment(humanloop_mock: HumanloopMock) -> None:
    humanloop_mock.fault(429, retry_after=3)
    refused, answered = post(humanloop_mock), post(humanloop_mock, experiment_id="exp_elsewhere")
    refused_record, answered_record = humanloop_mock.requests
    assert refused_record.response_headers == dict(refused.headers.items())  # in both fixture modes
    assert refused_record.response_headers["retry-after"] == "3"
    assert answered_record.response_headers["content-type"] == answered.headers["content-type"] == "application/json"
    assert [(r.call, r.experiment_call) for r in humanloop_mock.requests] == [(1, 1), (2, 1)]


def test_assertion_helpers_fail_readably(humanloop_mock: HumanloopMock) -> None:
    post(humanloop_mock, user="u1")
    assert humanloop_mock.assert_called(1, experiment_id="exp_demo")
    humanloop_mock.assert_sent(user="u1", experiment_id="exp_demo")
    with pytest.raises(MockRequestError) as wrong_count:
        humanloop_mock.assert_called(2)
    assert "expected 2 chat-experiment call(s), got 1" in str(wrong_count.value)
    assert "#0 POST /v4/chat-experiment -> 200 experiment=exp_demo" in str(wrong_count.value)
    with pytest.raises(MockRequestError) as wrong_body:
        humanloop_mock.assert_sent(user="u2")
    assert 'user: expected "u2", sent "u1"' in str(wrong_body.value)
