"""Client-supplied regexes (issue 16, cases 1 and 2): an invalid one is a 422 naming the field at every
door, never a 500; a pattern that backtracks for seconds in Python's `re` matches at once."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from mockserver.spec import regexes
from mockserver.spec.config_file import ConfigFileError, load_spec
from tests.conftest import KEY, chat_body

# The invalid patterns: Python's `re` raised on each of them inside the app (a 500 with a traceback).
INVALID = ["([", "\\", "(?P<x>a)(?P=y)", "a{99999999999}"]
CATASTROPHIC = "(a+)+$"
EVIL_TEXT = "a" * 27 + "b"  # 9 s in Python's `re`; each extra `a` doubles it


def _is_spec_422(response, field: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    items = response.json()["detail"]
    assert any(field in item["msg"] and "invalid regular expression" in item["msg"] for item in items), items


@pytest.mark.parametrize("pattern", INVALID)
def test_an_invalid_regex_is_a_422_naming_the_field_at_every_door(client: TestClient, pattern: str) -> None:
    script = {"match": {"message_regex": pattern}, "answer": {"output": "x"}}
    _is_spec_422(client.post("/__admin/scripts", json=script, headers=KEY), "match.message_regex")
    _is_spec_422(client.post("/__admin/faults", json={"match": {"message_regex": pattern}, "status": 500},
                             headers=KEY), "match.message_regex")
    _is_spec_422(client.put("/__admin/spec", json={"scripts": [script]}, headers=KEY),
                 "scripts[0].match.message_regex")
    _is_spec_422(client.get(f"/__admin/requests?message_regex={quote(pattern)}", headers=KEY), "message_regex")
    # Nothing was added, and the server still answers.
    assert client.get("/__admin/scripts", headers=KEY).json() == []
    assert client.post("/v4/chat-experiment", json=chat_body(), headers=KEY).status_code == 200


def test_an_invalid_regex_in_a_config_file_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("scripts:\n  - match: {message_regex: '(['}\n    answer: {output: x}\n")
    with pytest.raises(ConfigFileError, match=r"scripts\[0\]\.match\.message_regex: invalid regular expression"):
        load_spec(path)


def test_the_python_engine_really_backtracks_on_this_pattern() -> None:
    """The reproduction is real: Python's `re` takes exponential time here (20 `a`s, kept short)."""
    started = time.perf_counter()
    assert re.search(CATASTROPHIC, "a" * 20 + "b") is None
    short = time.perf_counter() - started
    started = time.perf_counter()
    assert re.search(CATASTROPHIC, "a" * 23 + "b") is None
    assert time.perf_counter() - started > 4 * short  # three more `a`s, about eight times as long


def test_a_catastrophic_pattern_matches_at_once_in_a_script_and_a_filter(client: TestClient) -> None:
    """Timed against the same calls with no script, in the same test (Python's `re` needed 9 s for the
    first text alone, against milliseconds for the calls)."""
    def calls() -> tuple[float, list[str], dict]:  # type: ignore[type-arg]
        started, outputs = time.perf_counter(), []
        for text in (EVIL_TEXT, "a" * 100_000 + "b", "aaaa"):
            body = chat_body(messages=[{"role": "user", "content": text}])
            outputs.append(client.post("/v4/chat-experiment", json=body, headers=KEY).json()["data"][0]["output"])
            listed = client.get(f"/__admin/requests?message_regex={quote(CATASTROPHIC)}", headers=KEY).json()
        return time.perf_counter() - started, outputs, listed

    baseline, _, _ = calls()
    client.delete("/__admin/requests", headers=KEY)
    script = {"match": {"message_regex": CATASTROPHIC}, "answer": {"output": "scripted"}, "times": None}
    assert client.post("/__admin/scripts", json=script, headers=KEY).status_code == 201
    took, outputs, listed = calls()
    assert [output == "scripted" for output in outputs] == [False, False, True]
    assert took < 10 * baseline, f"{took:.2f} s with the script, {baseline:.2f} s without"
    assert listed["total"] == 1 and listed["requests"][0]["body"]["messages"][0]["content"] == "aaaa"


def test_syntax_and_limits_of_the_engine() -> None:
    assert regexes.search(r"\bcapital\b", "the capital city")
    assert regexes.search(r"(?i)CAPITAL", "capital") and regexes.search("CAPITAL", "capital", ignore_case=True)
    assert regexes.search(r"\p{L}+é", "café")
    assert regexes.search(regexes.escape("a.b (c)?"), "x a.b (c)? y")
    assert not regexes.search(regexes.escape("a.b"), "axb")
    for pattern, reason in [(r"(a)\1", "invalid escape"), ("(?=a)", "invalid perl operator"), ("a{1001}", "over 1000"),
                            ("x" * (regexes.MAX_PATTERN_CHARS + 1), "longer than")]:
        with pytest.raises(ValueError, match=reason):
            regexes.compile_pattern(pattern)
    for literal in (r"\{99999}", "[{99999}]", "a{,99999}"):  # not repetitions: accepted as text
        regexes.compile_pattern(literal)
    assert regexes.compile_pattern("a+") is regexes.compile_pattern("a+")  # compiled once


def test_the_engine_writes_nothing_of_a_bad_pattern_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError):
        regexes.compile_pattern("([\nINFO forged line")
    assert capfd.readouterr().err == ""
