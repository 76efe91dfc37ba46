"""The passive checker: real answers judged off the caller's thread, deviations named, keys never kept."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from contracts.check.judge import Verdict
from mockserver.proxy import checking
from mockserver.proxy.checking import Observed, PassiveChecker, ViolationBook, observed_headers
from tests.conftest import chat_body

KEY = "sk-live-0123456789abcdef"
PROVIDER = "sk-openai-provider-secret-42"


def _exchange(client: TestClient, number: int = 1, **overrides: Any) -> Observed:
    body = json.dumps(chat_body(provider_api_keys={"openai": PROVIDER}, **overrides)).encode()
    response = client.post("/v4/chat-experiment", content=body,
                           headers={"X-API-KEY": KEY, "Content-Type": "application/json"})
    return Observed(number, "POST", "/chat-experiment", body, response.status_code, dict(response.headers),
                    response.content, api_key=KEY, first_byte_seconds=0.01, total_seconds=0.02)


def _without_finish_reason(stream: bytes) -> bytes:
    """The stream with every event's `finish_reason` taken out (so the last ones lack it)."""
    events = []
    for event in stream.split(b"\n\n"):
        if event.startswith(b"data: {"):
            value = json.loads(event[6:])
            for item in value["data"]:
                item.pop("finish_reason", None)
            event = b"data: " + json.dumps(value).encode()
        events.append(event)
    return b"\n\n".join(events)


def test_a_good_json_answer_and_stream_pass(client: TestClient) -> None:
    checker = PassiveChecker()
    for observed in (_exchange(client), _exchange(client, 2, stream=True, num_samples=3)):
        assert checker.judge_now(observed) == []
    book = checker.book.to_json()
    assert book["judged"] == 2 and book["passed"] == 2 and book["checks"] == []
    assert checker.book.applied["response_schema"] == 1 and checker.book.applied["stream_finish_reason"] == 1
    assert checker.book.applied["status_code_documented"] == 2


def test_deviations_are_named_grouped_and_counted(client: TestClient) -> None:
    checker = PassiveChecker()
    good = _exchange(client)
    value = json.loads(good.body)
    del value["data"][0]["model_config_id"]
    no_config = Observed(**{**good.__dict__, "number": 2, "body": json.dumps(value).encode()})
    streamed = _exchange(client, 3, stream=True, num_samples=2)
    cut = Observed(**{**streamed.__dict__, "body": _without_finish_reason(streamed.body)})
    shown_json = checker.judge_now(no_config)
    shown_stream = checker.judge_now(cut)
    checker.judge_now(Observed(**{**cut.__dict__, "number": 4}))
    assert shown_json and {v["check"] for v in shown_json} == {"response_schema"}
    assert any("model_config_id" in v["field"] or "model_config_id" in v["message"] for v in shown_json)
    assert shown_stream and "stream_finish_reason" in {v["check"] for v in shown_stream}
    book = checker.book.to_json()
    checks = {c["check"]: c for c in book["checks"]}
    assert book["judged"] == 3 and book["with_violations"] == 3
    assert checks["stream_finish_reason"]["exchanges"] == 2 and checks["stream_finish_reason"]["violations"] >= 2
    assert checks["stream_finish_reason"]["latest"]["exchange"] == 4
    assert checks["response_schema"]["latest"]["exchange"] == 2 and checks["response_schema"]["severity"]
    assert checks["response_schema"]["latest"]["status"] == 200
    findings = checker.book.ordered_findings()
    assert {f.violation.check for f in findings} == {"response_schema", "stream_finish_reason"}
    text = json.dumps(book) + repr(findings)
    assert KEY not in text and PROVIDER not in text  # request bodies redacted, messages scrubbed
    assert "[redacted]" in repr(findings[0].requests[0].body)


def test_a_key_echoed_in_an_answer_is_not_kept() -> None:
    checker = PassiveChecker()
    body = json.dumps(chat_body()).encode()
    echo = json.dumps({"detail": f"upstream failed for key {KEY}"}).encode()
    shown = checker.judge_now(Observed(1, "POST", "/chat-experiment", body, 500,
                                       {"content-type": "application/json"}, echo, api_key=KEY))
    assert shown and "not_a_server_error" in {v["check"] for v in shown}
    assert KEY not in json.dumps(checker.book.to_json()) and KEY not in json.dumps(shown)


def test_judging_happens_on_the_thread_and_submit_never_blocks(monkeypatch: pytest.MonkeyPatch,
                                                               client: TestClient) -> None:
    release = threading.Event()
    threads = []
    real = checking.judge

    def slow(observed: Observed, settings: Any = None) -> Verdict:
        threads.append(threading.current_thread().name)
        release.wait(10)
        return real(observed, settings)

    monkeypatch.setattr(checking, "judge", slow)
    checker = PassiveChecker(max_queue=3).start()
    observed = _exchange(client)
    verdicts: list[list[dict[str, Any]]] = []
    started = time.monotonic()
    accepted = [checker.submit(observed, verdicts.append) for _ in range(10)]
    submitting = time.monotonic() - started
    assert submitting < 0.5  # ten submits while the judge is stuck: none waited
    assert accepted.count(True) in (3, 4)  # the queue's 3, and maybe the one the thread took
    assert checker.book.not_judged["queue_full"] == accepted.count(False)
    release.set()
    assert checker.close(10)
    assert set(threads) == {"humanloop-mock-checker"}
    assert len(verdicts) == accepted.count(True) and all(v == [] for v in verdicts)
    assert not checker.submit(observed)  # closed


def test_a_crashing_check_is_counted_never_raised(monkeypatch: pytest.MonkeyPatch, client: TestClient) -> None:
    def broken(observed: Observed, settings: Any = None) -> Verdict:
        raise RuntimeError("check bug")

    monkeypatch.setattr(checking, "judge", broken)
    checker = PassiveChecker().start()
    assert checker.submit(_exchange(client))
    assert checker.drain(10)
    assert checker.book.not_judged["checker_failed"] == 1 and checker.book.last_failure == "RuntimeError: check bug"
    monkeypatch.undo()
    assert checker.submit(_exchange(client, 2))  # the thread is still there
    assert checker.close(10) and checker.book.judged == 1


def test_an_answer_over_the_judged_size_is_counted() -> None:
    checker = PassiveChecker(max_judged_bytes=10)
    assert not checker.submit(Observed(1, "GET", "/x", None, 200, {}, b"x" * 11))
    assert checker.book.to_json()["not_judged"]["too_large"] == 1


def test_a_broken_exchange_is_judged_as_such() -> None:
    checker = PassiveChecker()
    shown = checker.judge_now(Observed(1, "POST", "/chat-experiment", json.dumps(chat_body(stream=True)).encode(),
                                       200, {"content-type": "text/event-stream"}, b'data: {"data": [',
                                       api_key=KEY, error="upstream reset mid-stream"))
    assert shown and "response_received" in {v["check"] for v in shown}


def test_headers_read_as_the_checker_reads_them() -> None:
    assert observed_headers([(b"Content-Type", b"a"), (b"content-type", b"b"), (b"x", b"\xe9")]) == {
        "content-type": "a", "x": "\xe9"}


def test_book_is_safe_from_many_threads(client: TestClient) -> None:
    book = ViolationBook()
    checker = PassiveChecker(book)
    good = _exchange(client)
    value = json.loads(good.body)
    del value["data"][0]["model_config_id"]
    bad = Observed(**{**good.__dict__, "body": json.dumps(value).encode()})
    workers = [threading.Thread(target=lambda: [checker.judge_now(bad) for _ in range(20)]) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert book.judged == 80 and book.tallies["response_schema"].exchanges == 80
    assert sum(f.count for f in book.findings.values()) == book.violations
