"""What depended on the interpreter's Unicode version, HTTP phrases and JSON decoder now does not.

Each expected value below is what CPython 3.11 gives; under 3.12 or 3.13 the code before this change gave
another (a count, a quoted string, a status line, a 200 for a 422). tests/api/test_cross_python.py compares
whole runs across the versions; these pin the rules themselves.
"""

from __future__ import annotations

import json
import unicodedata

import pytest
from starlette.testclient import TestClient
from uvicorn.protocols.http import httptools_impl

from mockserver import MockSettings, create_app, fixed_unicode, jsonio
from mockserver.fixed_unicode import is_printable, is_word, quoted
from mockserver.http.connection import error_bytes
from mockserver.http.phrases import PHRASES
from mockserver.http.server import uvicorn_config
from mockserver.pipeline.tokens import count_tokens, cut_to_tokens, token_ends
from tests.conftest import KEY, chat_body
from tests.support.unicode_tables import current_ranges
from tests.support.wire_probe import CJK_EXT_I, KAWI, KAWI_DIGITS

JSON_KEY = {**KEY, "Content-Type": "application/json"}
MATH_LETTERS = "\U0001d49c\U0001d4b7"  # mathematical script capital A, small b: letters beyond the BMP


def test_the_tables_are_unicode_14_as_python_311_has_it() -> None:
    tables = {"WORD": fixed_unicode._WORD_RANGES, "SPACE": fixed_unicode._SPACE_RANGES,
              "PRINTABLE": fixed_unicode._PRINTABLE_RANGES}
    current = current_ranges()
    if unicodedata.unidata_version == fixed_unicode.UNICODE_VERSION:
        assert {name: " ".join(text.split()) for name, text in tables.items()} == current
    else:  # a later Unicode only adds: what was a word or printable character still is one
        for name in ("WORD", "PRINTABLE"):
            ours = fixed_unicode._ranges(tables[name])
            theirs = fixed_unicode._ranges(current[name])
            assert all(any(a <= start and end <= b for a, b in theirs) for start, end in ours), name
    assert len(fixed_unicode._ranges(tables["WORD"])) > 700 and len(fixed_unicode._ranges(tables["PRINTABLE"])) > 600


@pytest.mark.parametrize(("text", "tokens"), [
    ("Hello, world!", 4),
    ("Crème brûlée", 2),
    ("我们去公园", 1),  # a run of CJK letters is one word, as \w+ has it
    (KAWI, 3),  # Unicode 15's Kawi letters: punctuation by Unicode 14, each a token (3.12's \w: 1 token)
    (f"a{KAWI}b", 5),
    (KAWI_DIGITS, 2),  # Kawi digits: \d and \w on 3.12, not here
    (CJK_EXT_I, 2),  # Unicode 15.1's CJK Extension I (3.13's \w: 1 token)
    (f"ok 😀 fine {MATH_LETTERS}", 4),  # beyond the BMP: an emoji is punctuation, mathematical letters a word
    ("\u2ffc x", 2),  # a character Unicode 15.1 made printable
])
def test_token_counts_follow_unicode_14(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens
    assert count_tokens(text * 200) == len(token_ends(text * 200))  # the long path agrees with the short one
    assert len(token_ends(text)) == tokens


def test_a_max_tokens_cut_keeps_the_same_offsets_beyond_the_bmp() -> None:
    text = f"go {KAWI}{MATH_LETTERS} now"
    assert cut_to_tokens(text, 2) == (f"go {KAWI[0]}", True)
    assert cut_to_tokens(text, 5) == (f"go {KAWI}{MATH_LETTERS}", True)  # the letters beyond the BMP are one word


def test_word_and_printable_characters() -> None:
    assert is_word("a") and is_word("é") and is_word("_") and is_word(MATH_LETTERS[0]) and not is_word(KAWI[0])
    assert is_printable("é") and is_printable("☕") and not is_printable("\u2ffc") and not is_printable(CJK_EXT_I[0])


def test_quoted_escapes_what_unicode_14_does_not_print() -> None:
    assert quoted(KAWI) == "'\\U00011f04\\U00011f05\\U00011f06'"  # repr() on 3.12 prints the letters themselves
    assert quoted(f"{CJK_EXT_I[0]}\u2ffc") == "'\\U0002ebf0\\u2ffc'"
    assert quoted("café ☕ \n\t'") == "\"café ☕ \\n\\t'\""
    assert quoted({"k": [1, 2.5, None, True, "x\x00"]}) == "{'k': [1, 2.5, None, True, 'x\\x00']}"
    for value in ("plain", "it's", "both ' and \"", "\x7f\x9f\xa0\xad", "\u200b\u2028", "\ud7ff"):
        assert quoted(value) == repr(value)  # the same as repr wherever the versions agree


def test_error_messages_quote_the_same_on_every_python() -> None:
    client = TestClient(create_app(MockSettings(seed=3)))
    client.post("/__admin/spec", headers=KEY, json={"projects": [{"name": "t", "experiments": [{
        "id": "exp_tools", "name": "tools", "configs": [{"model": "gpt-4o", "tools": [{"name": "lookup"}]}]}]}]})
    answer = client.post("/v4/chat-experiment", headers=JSON_KEY, content=json.dumps(chat_body(
        experiment_id="exp_tools", tool_choice={"type": "function", "function": {"name": KAWI}})).encode())
    assert answer.status_code == 409
    assert "names function '\\U00011f04\\U00011f05\\U00011f06'" in answer.json()["detail"]


@pytest.mark.parametrize("value", [KAWI_DIGITS, "\u0661\u0662", "\uff11"])
def test_a_query_integer_is_ascii_digits(value: str) -> None:
    """int() reads any Unicode digit (Arabic-Indic, fullwidth, and on 3.12 Kawi too): a filter does not."""
    client = TestClient(create_app(MockSettings(seed=3)))
    answer = client.get("/__admin/requests", params={"call": value}, headers=KEY)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["msg"] == f"call: not an integer (got {quoted(value)})"
    assert client.get("/__admin/requests", params={"call": " 12 "}, headers=KEY).status_code == 200


def test_status_lines_keep_python_311_phrases() -> None:
    uvicorn_config(create_app(MockSettings()))
    assert httptools_impl.STATUS_LINE[422] == b"HTTP/1.1 422 Unprocessable Entity\r\n"  # 3.13: Unprocessable Content
    assert httptools_impl.STATUS_LINE[413] == b"HTTP/1.1 413 Request Entity Too Large\r\n"  # 3.13: Content Too Large
    assert httptools_impl.STATUS_LINE[599] == b"HTTP/1.1 599 \r\n"  # a status without a phrase, as before
    assert all(httptools_impl.STATUS_LINE[status] == b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode())
               for status, phrase in PHRASES.items())
    assert error_bytes(414, "too long", []).startswith(b"HTTP/1.1 414 Request-URI Too Long\r\n")  # 3.13: URI Too Long


@pytest.mark.parametrize(("msg", "doc", "pos", "expected", "expected_pos"), [
    ("Illegal trailing comma before end of object", '{"a": 1,}', 7, "Expecting property name enclosed in double quotes",
     8),
    ("Illegal trailing comma before end of array", "[1, 2 ,\n ]", 6, "Expecting value", 9),
    ("Expecting value", "[", 1, "Expecting value", 1),
])
def test_a_trailing_comma_reads_as_before_313(msg: str, doc: str, pos: int, expected: str, expected_pos: int) -> None:
    """3.13's wording (at the comma) becomes 3.11's (what was expected, at the closing bracket)."""
    error = jsonio.portable_error(json.JSONDecodeError(msg, doc, pos))
    assert (error.msg, error.pos) == (expected, expected_pos)
    with pytest.raises(json.JSONDecodeError) as raised:
        jsonio.loads(doc)
    assert (raised.value.msg, raised.value.pos) == (expected, expected_pos)  # what this Python says, worded so


def test_nesting_is_refused_past_a_fixed_depth() -> None:
    """The decoder's own limit is about 990 levels on 3.11, 1,500 on 3.12, 10,000 on 3.13."""
    deepest = "[" * jsonio.MAX_DEPTH + "]" * jsonio.MAX_DEPTH
    assert jsonio.loads(deepest) is not None
    assert jsonio.loads(f'["{"[" * 2000}"]') == ["[" * 2000]  # brackets in a string are text
    client = TestClient(create_app(MockSettings(seed=3)))
    for depth, status in [(jsonio.MAX_DEPTH - 2, 200), (jsonio.MAX_DEPTH - 1, 422), (900, 422), (2000, 422)]:
        body = json.dumps(chat_body(metadata={"deep": "@"}))  # two levels above the arrays
        body = body.replace('"@"', "[" * depth + "]" * depth)
        answer = client.post("/v4/chat-experiment", headers=JSON_KEY, content=body.encode())
        assert answer.status_code == status, depth
        if status == 422:
            assert answer.json() == {"detail": [{"loc": ["body"], "msg": "arrays and objects nested more than 512 deep",
                                                 "type": "value_error.jsondecode"}]}
