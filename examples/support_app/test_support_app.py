"""The support assistant, tested against humanloop-mock with the public fixtures only."""

import asyncio
import gc

import pytest
from humanloop.exceptions import ApiException, ApiStreamingException
from support_app import IncompleteStream

pytestmark = pytest.mark.humanloop_experiment(
    "exp_support", configs=[{"id": "config_fast", "model": "gpt-4o-mini", "weight": 3},
                            {"id": "config_smart", "model": "gpt-4o", "weight": 1}],
)


def test_answers_with_the_scripted_text(assistant, humanloop_mock):
    humanloop_mock.script("Our opening hours are 9 to 5.", message="opening hours")
    assert assistant.answer("What are your opening hours?") == "Our opening hours are 9 to 5."
    humanloop_mock.assert_sent(experiment_id="exp_support",
                               messages=[{"role": "user", "content": "What are your opening hours?"}])


def test_retries_after_429_honouring_retry_after(assistant, humanloop_mock):
    humanloop_mock.fault(429, retry_after=2)
    humanloop_mock.script("Back on track.")
    assert assistant.answer("Hello?") == "Back on track."
    assert assistant.sleeps == [2.0]
    humanloop_mock.assert_called(2)


def test_gives_up_after_max_attempts(assistant, humanloop_mock):
    humanloop_mock.fault(429, retry_after=1, times=None)
    with pytest.raises(ApiException) as raised:
        assistant.answer("Hello?")
    assert raised.value.status == 429
    assert assistant.sleeps == [1.0, 1.0, 1.0]
    humanloop_mock.assert_called(4)


def test_server_errors_are_not_retried(assistant, humanloop_mock):
    humanloop_mock.fault(503)
    with pytest.raises(ApiException):
        assistant.answer("Hello?")
    humanloop_mock.assert_called(1)


def test_runs_the_tool_the_model_asks_for(assistant, humanloop_mock):
    humanloop_mock.script(answers=[
        {"tool_calls": [{"id": "call_1", "name": "lookup_order", "arguments": {"order_id": "A1"}}]},
        {"output": "Order A1 has shipped."},
    ])
    assert assistant.answer("Where is my order A1?") == "Order A1 has shipped."
    follow_up = humanloop_mock.assert_sent(call=2)["messages"]
    assert follow_up[-1] == {"role": "tool", "content": '{"order_id": "A1", "status": "shipped"}',
                             "tool_call_id": "call_1"}
    assert follow_up[-2]["tool_calls"][0]["function"]["name"] == "lookup_order"


def test_streams_two_samples_and_assembles_them_by_index(assistant, humanloop_mock):
    humanloop_mock.script(answers=[
        {"output": "First answer.", "chunks": ["First ", "answer."]},
        {"output": "Second answer.", "chunks": ["Second ", "ans", "wer."]},
    ])
    texts = asyncio.run(assistant.stream_samples("Two takes, please.", samples=2))
    assert texts == {0: "First answer.", 1: "Second answer."}
    call = humanloop_mock.last_chat
    assert call.body["num_samples"] == 2 and call.body["stream"] is True
    assert len(call.samples) == 2
    assert {s["model_config_id"] for s in call.samples} <= {"config_fast", "config_smart"}


def test_generated_streams_assemble_too(assistant, humanloop_mock):
    texts = asyncio.run(assistant.stream_samples("Anything", samples=2))
    assert set(texts) == {0, 1} and all(texts.values())


# humanloop 0.7.32 never closes its aiohttp session when it raises ApiStreamingException: the
# ResourceWarning that follows is the SDK's, not the app's. Collected at the end of the test, so it is
# reported (and ignored) there rather than in a later test.
sdk_leaks_a_session_per_refused_stream = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")


@sdk_leaks_a_session_per_refused_stream
def test_a_streamed_call_is_retried_after_429_too(assistant, humanloop_mock):
    humanloop_mock.fault(429, retry_after=5)
    humanloop_mock.script("Streamed after a retry.")
    texts = asyncio.run(assistant.stream_samples("Hello?", samples=1))
    assert texts == {0: "Streamed after a retry."}
    # The mock sent Retry-After: 5, but a streaming call's error (ApiStreamingException) has no headers.
    assert humanloop_mock.requests[0].response_headers["retry-after"] == "5"
    assert assistant.sleeps == [1.0]
    humanloop_mock.assert_called(2)
    gc.collect()


@sdk_leaks_a_session_per_refused_stream
def test_a_streamed_call_gives_up_after_max_attempts(assistant, humanloop_mock):
    humanloop_mock.fault(429, times=None)
    with pytest.raises(ApiStreamingException) as raised:
        asyncio.run(assistant.stream_samples("Hello?", samples=1))
    assert raised.value.status == 429 and not isinstance(raised.value, ApiException)
    assert assistant.sleeps == [1.0, 1.0, 1.0]
    humanloop_mock.assert_called(4)
    del raised
    gc.collect()


def test_a_cut_stream_is_reported(assistant, humanloop_mock):
    humanloop_mock.fault(cut_after_events=1)
    with pytest.raises(IncompleteStream):
        asyncio.run(assistant.stream_samples("Anything", samples=2))
