"""The one-line descriptions of journaled requests that reports (strict mode, failures) print."""

from __future__ import annotations

from mockserver.control.reports import describe

RECORD = {"seq": 3, "method": "POST", "path": "/v4/chat-experiment",
          "body": {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "hi"}]}}


def test_a_request_is_described_by_its_answer_and_what_it_asked() -> None:
    line = describe({**RECORD, "status": 429, "faults": ["fault-1"]}, {"fault": {"fault-1": "fault-1 matching call=1"}})
    assert line == "#3 POST /v4/chat-experiment -> 429 experiment=exp_demo last message='hi' " \
                   "faults=[fault-1 matching call=1]"


def test_a_request_that_got_no_answer_says_so() -> None:
    """A reset fault, or a client gone before its headers ended: no status (it once read `-> None`)."""
    line = describe({**RECORD, "status": None, "faults": ["fault-1"]})
    assert line.startswith("#3 POST /v4/chat-experiment -> no answer experiment=exp_demo")
