"""Rule matching and the rule book on their own, without HTTP: which script answers, which faults fire."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.chat import ChatExperimentRequest
from mockserver.spec.models import FaultSpec, RequestMatch, ScriptSpec
from mockserver.spec.rules import RuleBook, UnknownRule, call_matches, case_hint, describe_match, last_user_text


def request(text: str = "What is the capital of France?", **extra: Any) -> ChatExperimentRequest:
    messages = extra.pop("messages", [{"role": "user", "content": text}])
    return ChatExperimentRequest.model_validate({"experiment_id": "exp_a", "messages": messages, **extra})


def match(**fields: Any) -> RequestMatch:
    return RequestMatch.model_validate(fields)


def script(output: str, **fields: Any) -> ScriptSpec:
    return ScriptSpec.model_validate({"answer": {"output": output}, **fields})


@pytest.mark.parametrize(("fields", "matches"), [
    ({}, True),
    ({"message": "capital"}, True),
    ({"message": "Capital"}, False),  # case-sensitive substring
    ({"message_regex": r"^What is .* France\?$"}, True),
    ({"message_regex": r"^capital"}, False),
    ({"experiment_id": "exp_a"}, True),
    ({"experiment_id": "exp_b"}, False),
    ({"inputs": {"lang": "fr"}}, True),  # a subset of the request's inputs
    ({"inputs": {"lang": "de"}}, False),
    ({"inputs": {"missing": None}}, False),  # absent is not null
    ({"call": 2}, True),
    ({"call": 3}, False),
    ({"message": "capital", "experiment_id": "exp_b"}, False),  # every given field must hold
])
def test_call_matches_each_field(fields: dict[str, Any], matches: bool) -> None:
    assert call_matches(match(**fields), request(inputs={"lang": "fr", "n": 1}), call=2) is matches


def test_message_is_the_last_user_message_only() -> None:
    chat = request(messages=[
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer about capital cities"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "question"}]},
        {"role": "system", "content": "capital"},
    ])
    assert last_user_text(chat) == "second\nquestion"  # text parts joined by newlines
    assert call_matches(match(message="second\nq"), chat, call=1)
    assert not call_matches(match(message="capital"), chat, call=1)
    assert not call_matches(match(message="first"), chat, call=1)


def test_describe_match_and_labels_name_rules_by_what_they_match() -> None:
    assert describe_match(match()) == "every call"
    assert describe_match(match(message="hi", call=2)) == "message='hi', call=2"
    book = RuleBook()
    anonymous = book.add_script(script("x", match={"message": "Capital"}))
    named = book.add_fault(FaultSpec.model_validate({"name": "outage", "status": 503}))
    assert anonymous.label("script") == "script-1 matching message='Capital'"
    assert named.label("fault") == "fault 'outage' matching every call"
    assert book.snapshot("script")[0]["label"] == anonymous.label("script")


def test_take_script_uses_the_first_unexhausted_match_in_order() -> None:
    book = RuleBook()
    book.add_script(script("only twice", match={"message": "capital"}, times=2))
    book.add_script(script("fallback", times=None))
    answers = [book.take_script(request(), call=n, config_id="config_a") for n in range(1, 5)]
    assert [a[1].output for a in answers if a] == ["only twice", "only twice", "fallback", "fallback"]
    assert [r["used"] for r in book.snapshot("script")] == [2, 2]
    assert book.take_script(request("no match here"), call=5, config_id="config_a")[1].output == "fallback"


def test_answers_come_in_order_and_the_last_repeats() -> None:
    book = RuleBook()
    book.add_script(ScriptSpec.model_validate({"answers": [{"output": "one"}, {"output": "two"}], "times": None}))
    outputs = [book.take_script(request(), call=1, config_id="c")[1].output for _ in range(4)]
    assert outputs == ["one", "two", "two", "two"]


def test_config_id_is_matched_per_sample_and_nothing_matches_gives_none() -> None:
    book = RuleBook()
    book.add_script(script("for b", match={"config_id": "config_b"}, times=None))
    assert book.take_script(request(), call=1, config_id="config_a") is None
    rule, answer = book.take_script(request(), call=1, config_id="config_b")
    assert answer.output == "for b" and rule.used == 1


def test_every_matching_fault_fires_and_counts() -> None:
    book = RuleBook()
    book.add_fault(FaultSpec.model_validate({"status": 429}))
    book.add_fault(FaultSpec.model_validate({"latency": 0.1, "times": None}))
    book.add_fault(FaultSpec.model_validate({"status": 500, "match": {"call": 2}}))
    first = [f.name for f in book.take_faults(request(), call=1)]
    second = [f.name for f in book.take_faults(request(), call=2)]
    third = [f.name for f in book.take_faults(request(), call=3)]
    assert (first, second, third) == (["fault-1", "fault-2"], ["fault-2", "fault-3"], ["fault-2"])
    assert [f["used"] for f in book.snapshot("fault")] == [1, 3, 1]


def test_unused_means_below_times_or_never_used() -> None:
    book = RuleBook()
    twice = book.add_script(script("x", times=2))
    always = book.add_script(script("y", times=None))
    assert twice.unused and always.unused
    book.take_script(request(), call=1, config_id="c")
    assert twice.unused and always.unused  # used once of two; the always-rule not yet
    book.take_script(request(), call=2, config_id="c")
    book.take_script(request(), call=3, config_id="c")
    assert not twice.unused and not always.unused and twice.exhausted and not always.exhausted


def test_remove_and_clear() -> None:
    book = RuleBook()
    first = book.add_script(script("a"))
    book.remove("script", first.id)
    assert book.snapshot("script") == []
    assert book.add_script(script("b")).id == "script-2"  # numbers are not reused until a clear
    with pytest.raises(UnknownRule):
        book.remove("fault", first.id)
    book.clear()
    assert book.add_fault(FaultSpec.model_validate({"status": 500})).name == "fault-1"


@pytest.mark.parametrize(("fields", "text", "expected"), [
    ({"message": "Capital"}, "What is the capital?", "message= is case-sensitive: call #4 ('What is the capital?') "
                                                    "has 'capital'; message_regex='(?i)Capital' ignores case"),
    ({"message_regex": "^WHAT"}, "What now", "message_regex= is case-sensitive"),
    ({"message": "Capital", "experiment_id": "exp_other"}, "the capital", None),  # it missed for another reason
    ({"message": "Paris"}, "the capital", None),  # not a case problem
    ({"message": "capital"}, "the capital", None),  # it matches: nothing to explain
    ({"experiment_id": "exp_b"}, "the capital", None),
])
def test_case_hint_explains_only_a_miss_by_letter_case(fields: dict[str, Any], text: str,
                                                       expected: str | None) -> None:
    hint = case_hint(match(**fields), request(text), call=4)
    if expected is None:
        assert hint is None
    else:
        assert hint is not None and hint.startswith(expected)
