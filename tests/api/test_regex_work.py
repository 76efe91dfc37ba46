"""The work a regex asks for is bounded, whatever the pattern (review of issue 16, findings 2 and 3).

RE2 is linear in the text, but a pattern whose DFA is too large (`[ab]*a[ab]{1000}`) costs about 10 ns
per program instruction per byte: 2 s for 200,000 characters, on the event loop, before. Now a
request's matching is counted in steps (program size + 32, times text bytes): cheap matching runs on
the event loop, costly matching in one thread at a time, and more than `MAX_REQUEST_STEPS` is a 413.
Which thread ran a match is seen by a spy, not by a clock.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import re2
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.spec import regexes
from tests.conftest import KEY, chat_body

SLOW = "[ab]*a[ab]{1000}"  # program size 1,006: RE2's DFA gives up on it, its NFA walks every instruction


def _ab(size: int, seed: int = 7) -> str:
    chooser = random.Random(seed)
    return "".join(chooser.choice("ab") for _ in range(size))


class _Spy:
    """A compiled pattern that notes the thread each search runs on (and how many run at once)."""

    running = 0
    most = 0
    lock = threading.Lock()

    def __init__(self, compiled: Any, seen: list[str]) -> None:
        self._compiled, self._seen = compiled, seen
        self.programsize = compiled.programsize

    def search(self, text: str) -> Any:
        with _Spy.lock:
            self._seen.append(threading.current_thread().name)
            _Spy.running += 1
            _Spy.most = max(_Spy.most, _Spy.running)
        try:
            return self._compiled.search(text)
        finally:
            with _Spy.lock:
                _Spy.running -= 1


@pytest.fixture
def threads_seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The name of the thread each regex search ran on."""
    seen: list[str] = []
    compile_pattern = regexes.compile_pattern
    _Spy.running = _Spy.most = 0
    monkeypatch.setattr(regexes, "compile_pattern", lambda pattern, **kwargs: _Spy(compile_pattern(pattern, **kwargs),
                                                                                  seen))
    yield seen


MATCH_THREAD = "humanloop-mock-match"


def test_steps_are_program_size_plus_a_floor_times_utf8_bytes() -> None:
    size = regexes.compile_pattern(SLOW).programsize
    assert size > 1000
    assert regexes.steps(SLOW, "ab" * 10) == (size + regexes.STEP_FLOOR) * 20
    assert regexes.steps("x", "é" * 10) == (regexes.compile_pattern("x").programsize + regexes.STEP_FLOOR) * 20


def test_a_pattern_too_large_for_its_memory_is_refused_with_a_422(client: TestClient) -> None:
    answer = client.post("/__admin/scripts", json={"match": {"message_regex": r"\pL{300}"}, "answer": {"output": "x"}},
                         headers=KEY)
    assert answer.status_code == 422 and "pattern too large" in answer.text and "512 KiB" in answer.text


def test_the_usual_call_is_matched_on_the_event_loop(client: TestClient, threads_seen: list[str]) -> None:
    script = {"match": {"message_regex": "(?i)capital"}, "answer": {"output": "Paris."}}
    assert client.post("/__admin/scripts", json=script, headers=KEY).status_code == 201
    answer = client.post("/v4/chat-experiment", json=chat_body(), headers=KEY)
    assert answer.status_code == 200 and answer.json()["data"][0]["output"] == "Paris."
    assert len(threads_seen) == 1 and threads_seen[0] != MATCH_THREAD


def test_a_slow_pattern_against_a_long_message_is_matched_in_the_matching_thread(
        client: TestClient, threads_seen: list[str]) -> None:
    script = {"match": {"message_regex": SLOW}, "answer": {"output": "matched"}, "times": None}
    assert client.post("/__admin/scripts", json=script, headers=KEY).status_code == 201
    text = _ab(20_000)
    assert regexes.INLINE_STEPS < regexes.steps(SLOW, text) < regexes.MAX_REQUEST_STEPS
    answer = client.post("/v4/chat-experiment", json=chat_body(messages=[{"role": "user", "content": text}]),
                         headers=KEY)
    assert answer.status_code == 200 and answer.json()["data"][0]["output"] == "matched"
    assert threads_seen == [MATCH_THREAD]  # once, off the event loop: the rules used its verdict
    # The journal filter: the long message is matched in the thread too, the short one on the loop.
    assert client.post("/v4/chat-experiment", json=chat_body(messages=[{"role": "user", "content": "ba"}]),
                       headers=KEY).status_code == 200
    threads_seen.clear()
    listed = client.get(f"/__admin/requests?message_regex={quote(SLOW)}", headers=KEY)
    assert listed.status_code == 200 and listed.json()["total"] == 1
    assert len(threads_seen) == 2 and threads_seen.count(MATCH_THREAD) == 1


def test_matching_over_the_limit_is_a_413_before_any_match(client: TestClient, threads_seen: list[str]) -> None:
    script = {"match": {"message_regex": SLOW}, "answer": {"output": "matched"}, "times": None}
    assert client.post("/__admin/scripts", json=script, headers=KEY).status_code == 201
    text = _ab(600_000)
    assert regexes.steps(SLOW, text) > regexes.MAX_REQUEST_STEPS  # about 7 s of the NFA here
    answer = client.post("/v4/chat-experiment", json=chat_body(messages=[{"role": "user", "content": text}]),
                         headers=KEY)
    assert answer.status_code == 413 and "steps" in answer.json()["detail"] and "message_regex" in answer.text
    assert threads_seen == []
    entry = client.get("/__admin/requests?limit=1", headers=KEY).json()["requests"][0]
    assert entry["status"] == 413 and entry["call"] is None  # journaled as refused, before it was counted
    # The same text as a journal filter's only candidate: the listing is refused the same way.
    client.delete("/__admin/scripts/script-1", headers=KEY)
    assert client.post("/v4/chat-experiment", json=chat_body(messages=[{"role": "user", "content": text}]),
                       headers=KEY).status_code == 200
    listed = client.get(f"/__admin/requests?message_regex={quote(SLOW)}", headers=KEY)
    assert listed.status_code == 413 and "journaled messages" in listed.text
    assert threads_seen == []


def test_a_case_hint_is_not_looked_for_where_matching_would_be_costly(client: TestClient,
                                                                        threads_seen: list[str]) -> None:
    script = {"match": {"message_regex": "A[ab]{3}"}, "answer": {"output": "x"}}
    assert client.post("/__admin/scripts", json=script, headers=KEY).status_code == 201
    long = _ab(20_000)
    assert 2 * regexes.steps("A[ab]{3}", long, ignore_case=True) > regexes.INLINE_STEPS
    for text in (long, "aaab"):
        assert client.post("/v4/chat-experiment", json=chat_body(messages=[{"role": "user", "content": text}]),
                           headers=KEY).status_code == 200
        threads_seen.clear()
        hint = client.get("/__admin/unused", headers=KEY).json()[0]["hint"]
        if text == long:  # nothing matched on the event loop for it
            assert hint is None and threads_seen == []
        else:  # the short message: looked into, and it misses only by letter case
            assert "case-sensitive" in hint and threads_seen and MATCH_THREAD not in threads_seen


def test_compiled_patterns_are_few_and_each_bounded() -> None:
    """Finding 3: each compiled pattern may use `MAX_MEMORY`, and only `CACHED` stay compiled: `re2.compile`
    keeps 128 of its own, which is emptied after each compile."""
    for n in range(3 * regexes.CACHED):
        assert not regexes.search(f"(?:{n})?[ab]*a[ab]{{200}}", "b" * 500)
    assert regexes._compiled.cache_info().currsize == regexes.CACHED
    assert re2._Regexp._make.cache_info().currsize == 0
    assert regexes._EXACT.max_mem == regexes._ANY_CASE.max_mem == regexes.MAX_MEMORY == 512 * 1024


def test_the_journal_filter_for_every_tenant_shares_the_matching_thread(threads_seen: list[str]) -> None:
    """Two tenants' costly filters, three each at once: one matching thread at a time, in turns."""
    app = create_app(MockSettings(isolate_keys=True))
    with TestClient(app) as client:
        for key in ("a", "b"):
            body = chat_body(messages=[{"role": "user", "content": _ab(20_000, seed=len(key))}])
            assert client.post("/v4/chat-experiment", json=body, headers={"X-API-KEY": key}).status_code == 200
        statuses: list[int] = []
        workers = [threading.Thread(target=lambda key=key: statuses.append(client.get(
            f"/__admin/requests?message_regex={quote(SLOW)}", headers={"X-API-KEY": key}).status_code))
                   for key in ("a", "b") for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert statuses == [200] * 6 and threads_seen.count(MATCH_THREAD) == 6
    assert _Spy.most == 1
