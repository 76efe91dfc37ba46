"""The checker's parts on their own: rate limit, stream framing, field names, curls, generated cases."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest

from contracts.check.checks import CHECKS, Settings, response_checks
from contracts.check.exchange import Exchange, Intent, Request, Response
from contracts.check.fuzz import GeneratedCase, KnownIds, fuzz_document, to_request
from contracts.check.operations import CHAT, SAMPLE_CONFIG, checked_operations, field_path, label
from contracts.check.options import CheckOptions, OptionError, parse_rate_limit
from contracts.check.report import curl_command
from contracts.check.sse import MAX_LINE_BYTES, parse_stream
from contracts.check.transport import RateLimiter

EVENT = {"data": [{"id": "data_1", "index": 0, "output": "Hi", "raw_output": "Hi", "finish_reason": "stop",
                   "model_config_id": "config_1", "output_message": {"role": "assistant", "content": "Hi"}}],
         "provider_responses": []}


def test_rate_limit_forms() -> None:
    assert parse_rate_limit("10") == 10
    assert parse_rate_limit("10/s") == 10
    assert parse_rate_limit("120/m") == 2
    assert parse_rate_limit("3600 / h") == 1
    for bad in ("fast", "0", "-1/s", "10/d", ""):
        with pytest.raises(OptionError):
            parse_rate_limit(bad)


def test_rate_limiter_spaces_requests_evenly() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.wait()
    assert slept == [0.25, 0.25]
    now[0] += 10  # idle time is not saved up for a burst
    limiter.wait()
    limiter.wait()
    assert slept == [0.25, 0.25, 0.25]
    unlimited = RateLimiter(None, clock=lambda: now[0], sleep=sleep)
    unlimited.wait()
    unlimited.wait()
    assert len(slept) == 3


def test_remote_targets_get_a_default_rate_limit() -> None:
    assert CheckOptions("http://127.0.0.1:8000/v4", "k").effective_rate is None
    assert CheckOptions("http://localhost:8000/v4", "k").effective_rate is None
    assert CheckOptions("https://api.example.com/v4", "k").effective_rate == 5.0
    assert CheckOptions("https://api.example.com/v4", "k", rate_limit=1.0).effective_rate == 1.0


@pytest.mark.parametrize(("body", "problem"), [
    (b'data: {"a": 1}\n\ndata: {"b": 2}\n\n', None),
    (b'data:{"a": 1}\n\n', "without the space"),
    (b'data: {"a": 1}\ndata: {"b": 2}\n', "not followed by a blank line"),
    (b'data: {"a": 1}\r\n\r\n', None),  # both clients read CRLF line ends (tests/checker/client_evidence.py)
    (b'data: {"a": 1}\r\n\n', "carriage return"),
    # comments and the id, retry and event fields: both clients skip them (tests/checker/client_evidence.py);
    # they were once called framing problems, a false alarm on keepalive comments
    (b'event: message\nid: 7\nretry: 10\ndata: {"a": 1}\n\n', None),
    (b': keepalive\ndata: {"a": 1}\n\n: ping\n\n: ping\r\n\r\ndata: {"b": 2}\n\n: bye\n', None),
    (b'\xef\xbb\xbfdata: {"a": 1}\n\n', "not exactly"),  # a byte order mark: the Python client loses the event
    (b'data: {"a": 1}\r\r', "carriage return"),  # lone CR line ends: the Python client reads nothing
    (b'data: {"a": 1}\n: late\n\n', "not followed by a blank line"),
    (b'bogus: 1\ndata: {"a": 1}\n\n', "not exactly"),
])
def test_stream_framing(body: bytes, problem: str | None) -> None:
    found = parse_stream(body).framing
    assert (found is None) if problem is None else (found is not None and problem in found), found


def test_events_are_still_read_when_framing_is_wrong() -> None:
    assert parse_stream(b'data:{"a": 1}\n\n').payloads == ['{"a": 1}']
    assert parse_stream(b"data: x\ndata: y\n\n").payloads == ["x\ny"]
    assert parse_stream(b"data: " + b"x" * 10 + b"\n\n").longest_line == 16


def test_field_paths_read_like_code() -> None:
    assert field_path(("data", 0, "finish_reason")) == "data[0].finish_reason"
    assert field_path((0, "id")) == "[0].id"
    assert field_path(("tool_choice", "ToolChoice", "function-after[x]", "type")) == "tool_choice.ToolChoice.type"
    assert field_path(()) == "(body)"


def stream_exchange(*events: dict, request: dict | None = None) -> Exchange:
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
    sent = request or {"experiment_id": "e", "messages": [], "stream": True}
    return Exchange(1, Request("POST", "/chat-experiment", CHAT, "test", Intent.VALID, json.dumps(sent).encode()),
                    Response(200, {"content-type": "text/event-stream"}, body, 0.01, 0.02))


def failed(exchange: Exchange) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for violation in response_checks(exchange, Settings(max_first_byte=2.0))[0]:
        found.setdefault(violation.check, []).append(violation.field)
    return found


def test_a_good_stream_passes_every_check() -> None:
    violations, applied = response_checks(stream_exchange(EVENT), Settings(max_first_byte=2.0))
    assert violations == []
    assert {"stream_framing", "stream_event_shape", "stream_finish_reason", "sample_indexes", "event_line_size",
            "finish_reason_value", "output_matches_message", "stream_flag_content_type"} <= set(applied)


def test_stream_checks_name_the_field() -> None:
    two_items = {**EVENT, "data": EVENT["data"] * 2}
    assert failed(stream_exchange(two_items))["stream_event_shape"] == ["data"]
    no_id = {**EVENT, "data": [{k: v for k, v in EVENT["data"][0].items() if k != "id"}]}
    assert "data[0].id" in failed(stream_exchange(no_id))["stream_event_shape"]
    wrong_reason = {**EVENT, "data": [{**EVENT["data"][0], "finish_reason": "done"}]}
    assert failed(stream_exchange(wrong_reason))["finish_reason_value"] == ["data[0].finish_reason"]
    slow = stream_exchange(EVENT)
    assert slow.response is not None
    slow.response.first_byte_seconds = 2.5
    assert failed(slow)["first_byte_time"] == ["first byte"]
    huge = {**EVENT, "metadata": {"pad": "x" * MAX_LINE_BYTES}}
    assert failed(stream_exchange(huge))["event_line_size"] == ["event line"]


def test_every_check_has_a_summary() -> None:
    assert len(CHECKS) >= 25
    for check in CHECKS.values():
        assert check.name.isidentifier() and len(check.summary) > 20, check


def test_generated_documents_leave_out_mock_routes_writes_and_the_key() -> None:
    read_only = fuzz_document(allow_writes=False)
    assert sorted(read_only["paths"]) == ["/chat-experiment", "/experiments/{experiment_id}/model-config",
                                          "/projects/{project_id}/experiments"]
    assert list(read_only["paths"]["/projects/{project_id}/experiments"]) == ["get"]
    assert "securitySchemes" not in read_only["components"]
    writes = fuzz_document(allow_writes=True)
    assert "/healthz" not in writes["paths"] and "delete" in writes["paths"]["/experiments/{experiment_id}"]
    assert [label(op) for op in checked_operations(False)] == [
        CHAT, "GET /projects/{project_id}/experiments", SAMPLE_CONFIG]


def test_valid_generated_requests_get_known_ids_and_no_provider_keys() -> None:
    body = {"experiment_id": "random", "messages": [{"role": "user", "content": "x"}], "project": "p",
            "provider_api_keys": {"openai": "sk-made-up"}}
    request = to_request(GeneratedCase(3, CHAT, "positive", {}, body, True), KnownIds(("exp_a", "exp_b")))
    sent = json.loads(request.body or b"")
    assert sent["experiment_id"] == "exp_b" and sent["provider_api_keys"] == {} and "project" not in sent
    assert request.intent is Intent.VALID_FUZZ
    invalid = to_request(GeneratedCase(4, CHAT, "negative", {}, {"experiment_id": 5, "messages": []}, True),
                         KnownIds(("exp_a",)))
    assert invalid.intent is Intent.INVALID and json.loads(invalid.body or b"")["experiment_id"] == 5
    # a "negative" case the contract actually allows is judged as valid
    allowed = to_request(GeneratedCase(5, CHAT, "negative", {}, {"experiment_id": "x", "messages": []}, True),
                         KnownIds(("exp_a",)))
    assert allowed.intent is Intent.VALID_FUZZ
    sampled = to_request(GeneratedCase(6, SAMPLE_CONFIG, "positive", {"experiment_id": "a/b"}, None, False),
                         KnownIds(("exp_a",)))
    assert sampled.path == "/experiments/exp_a/model-config" and sampled.body is None


def test_curl_reproduces_the_exact_body_without_the_key() -> None:
    body = b'{"messages":[{"role":"user","content":"it\'s \\u00e9"}]}'
    request = Request("POST", "/chat-experiment", CHAT, "t", Intent.VALID, body)
    curl = curl_command("http://127.0.0.1:8000/v4/", request)
    words = shlex.split(curl)
    assert words[words.index("--data-binary") + 1].encode() == body
    assert '"X-API-KEY: $HUMANLOOP_API_KEY"' in curl and "http://127.0.0.1:8000/v4/chat-experiment" in words
    raw = b'{"a": "\x01\xff\'"}'
    tricky = curl_command("http://h/v4", Request("POST", "/chat-experiment", CHAT, "t", Intent.VALID, raw))
    quoted = tricky.split("--data-binary ", 1)[1]
    echoed = subprocess.run(["bash", "-c", f"printf %s {quoted}"], capture_output=True, check=True).stdout
    assert echoed == raw
    assert "X-API-KEY" not in curl_command("http://h/v4", Request("POST", "/chat-experiment", CHAT, "t",
                                                                  Intent.NO_KEY, b"{}"))
    stream = Request("POST", "/chat-experiment", CHAT, "t", Intent.VALID, b'{"stream": true}')
    assert curl_command("http://h/v4", stream).startswith("curl -sS -N ")
    delete = Request("DELETE", "/experiments/x", "DELETE /experiments/{experiment_id}", "t", Intent.VALID)
    assert "-X DELETE" in curl_command("http://h/v4", delete)


def test_the_checker_imports_nothing_of_the_mock() -> None:
    code = ("import sys, contracts.check.runner, contracts.check.command, contracts.check.replay, "
            "contracts.check.judge, contracts.schemathesis_hooks; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mockserver', 'pytest_plugin')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_sdk_profile_notes_a_host_the_client_refuses() -> None:
    from contracts.check.sdk import check_sdk
    from contracts.check.session import Session

    session = Session.open(CheckOptions("http://localhost:9/v4", "k"))
    check_sdk(session, "exp_demo")  # the official client accepts only IPv4 addresses and dotted names
    session.transport.close()
    assert session.transport.sent == 0 and session.violations == []
    assert any("refuses this host" in note for note in session.notes), session.notes
