"""Every string the JSON parser accepts gets a 4xx or a 200, never a 500 (issue 8, case 1 and 9).

A lone surrogate escape (`"\\ud800"`) is valid JSON syntax that Python reads into a string nothing can
encode as UTF-8; `1e400` reads as infinity, which JSON cannot hold. Both used to fail deep inside the
pipeline (500) or be silently changed (`null`). Each body below is a valid request with one string
(or key, or number) swapped for a hostile one, sent to every POST route.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.spec.config_file import ConfigFileError, load_spec
from tests.conftest import KEY

JSON_HEADERS = {**KEY, "Content-Type": "application/json"}
LONE = "\ud800"  # json.dumps writes it as the escape "\ud800", as a careless client would

CHAT = {
    "experiment_id": "exp_demo",
    "messages": [{"role": "user", "content": "Hello", "name": "ann"}],
    "inputs": {"topic": "tea"},
    "user": "user-1",
    "session_reference_id": "s-1",
    "metadata": {"note": "n"},
    "project": "demo",
}
MODEL_CONFIG = {
    "project": "demo",
    "model": "gpt-4o",
    "name": "cfg",
    "description": "d",
    "chat_template": [{"role": "system", "content": "You like {{topic}}."}],
    "stop": ["END"],
}
EXPERIMENT = {"name": "exp", "positive_labels": [{"type": "binary", "value": "good"}]}
UPDATE = {"name": "renamed", "positive_labels": [{"type": "binary", "value": "ok"}]}
SCRIPT = {"name": "s", "match": {"message": "Hello"}, "answer": {"output": "Hi there", "chunks": ["Hi", " there"]}}
FAULT = {"name": "f", "match": {"experiment_id": "exp_other"}, "status": 503, "detail": "busy"}
FEEDBACK = {"type": "rating", "value": "good", "data_id": "data_unknown", "user": "u"}
SPEC = {"projects": [{"name": "more", "experiments": [{"name": "e2", "configs": [{"model": "gpt-4o", "name": "c"}]}]}]}

# (method, path, valid body): every route that takes a body, the mock's admin API included.
ROUTES = [
    ("POST", "/v4/chat-experiment", CHAT),
    ("POST", "/v4/chat-experiment", {**CHAT, "stream": True}),
    ("POST", "/v4/model-configs", MODEL_CONFIG),
    ("POST", "/v4/projects/pr_demo/experiments", EXPERIMENT),
    ("PATCH", "/v4/experiments/exp_demo", UPDATE),
    ("POST", "/v4/feedback", FEEDBACK),
    ("POST", "/__admin/scripts", SCRIPT),
    ("POST", "/__admin/faults", FAULT),
    ("POST", "/__admin/spec", SPEC),
]
# What each valid body gets (feedback on an unknown answer id is a 404 after the body is read).
VALID_STATUS = {"/__admin/scripts": 201, "/__admin/faults": 201, "/v4/feedback": 404}


def string_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every string leaf in `value`."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_paths(item, (*path, index))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    copy = json.loads(json.dumps(value))
    target = copy
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return copy


CASES = [(method, path, body, leaf) for method, path, body in ROUTES for leaf in string_paths(body)]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(MockSettings()), raise_server_exceptions=False) as test_client:
        yield test_client


def send(client: TestClient, method: str, path: str, body: Any) -> Any:
    return client.request(method, path, content=json.dumps(body).encode(), headers=JSON_HEADERS)


def test_every_case_is_a_valid_request_before_it_is_spoiled(client: TestClient) -> None:
    """So that each 422 below is about the hostile string, not about something else."""
    for method, path, body in ROUTES:
        assert send(client, method, path, body).status_code == VALID_STATUS.get(path, 200), (method, path)
        client.post("/__admin/reset")
    assert len(CASES) >= 30


@pytest.mark.parametrize(("method", "path", "body", "leaf"), CASES,
                         ids=[f"{m} {p.rsplit('/', 1)[-1]} {'.'.join(map(str, leaf))}" for m, p, _, leaf in CASES])
def test_lone_surrogate_in_any_string_is_422_naming_the_field(client: TestClient, method: str, path: str,
                                                              body: Any, leaf: tuple[Any, ...]) -> None:
    response = send(client, method, path, replaced(body, leaf, f"a{LONE}b"))
    assert response.status_code == 422, response.text
    item = response.json()["detail"][0]
    if path.startswith("/__admin"):  # the admin API says only that the body is not acceptable JSON
        assert item["loc"] == ["body"] and item["type"] == "value_error.jsondecode"
        return
    assert item["loc"] == ["body", *leaf]
    assert item["type"] == "value_error.unicode"
    assert "surrogate" in item["msg"]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_lone_surrogate_in_a_key_is_422(client: TestClient, method: str, path: str, body: Any) -> None:
    raw = json.dumps({**body, f"k{LONE}": 1}).encode()
    response = client.request(method, path, content=raw, headers=JSON_HEADERS)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["type"] in ("value_error.unicode", "value_error.jsondecode")


def test_surrogate_pairs_and_escaped_backslashes_are_fine(client: TestClient) -> None:
    """Only a lone surrogate is refused: a pair is one character, and `\\\\ud800` is plain text."""
    # json.dumps writes Python's two surrogates as two escapes, which JSON reads as one character.
    for sent, read in [("\ud83d\ude00 emoji", "\U0001f600 emoji"), ("\\ud800 is text", "\\ud800 is text")]:
        response = send(client, "POST", "/v4/chat-experiment", {**CHAT, "messages": [
            {"role": "user", "content": sent}]})
        assert response.status_code == 200, response.text
        assert response.json()["data"][0]["messages"][-1]["content"] == read


HOSTILE_STRINGS = [
    "\x00", "nul\x00inside", "\x1b[31mred", "line\nbreak\r\n", "\u2028\u2029", "\ufeff", "\uffff", "\U0010ffff",
    "{{topic}}", "{{", "}}", "%s%d%n", "\\", '"', "\udfff", "\ud800\ud800", "x" * 100_000, "",
]


@pytest.mark.parametrize("hostile", HOSTILE_STRINGS, ids=range(len(HOSTILE_STRINGS)))
def test_hostile_strings_in_every_field_never_give_500(client: TestClient, hostile: str) -> None:
    statuses = set()
    for method, path, body, leaf in CASES:
        response = send(client, method, path, replaced(body, leaf, hostile))
        assert response.status_code != 500 and response.status_code < 600, (path, leaf, response.text)
        assert response.headers["content-type"].startswith(("application/json", "text/event-stream"))
        statuses.add(response.status_code)
        if path.startswith("/__admin"):
            client.post("/__admin/reset")
    assert statuses <= {200, 201, 404, 409, 422}, statuses


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1E309"])
def test_number_beyond_a_double_is_422_not_null(client: TestClient, number: str) -> None:
    raw = json.dumps({**CHAT, "inputs": {"n": "PLACEHOLDER"}}).replace('"PLACEHOLDER"', number).encode()
    response = client.post("/v4/chat-experiment", content=raw, headers=JSON_HEADERS)
    assert response.status_code == 422, response.text
    assert "out of range" in response.json()["detail"][0]["msg"]
    raw = json.dumps({**MODEL_CONFIG, "temperature": 0}).replace('"temperature": 0', f'"temperature": {number}')
    assert client.post("/v4/model-configs", content=raw.encode(), headers=JSON_HEADERS).status_code == 422


def test_a_number_of_too_many_digits_is_422_in_our_words(client: TestClient) -> None:
    """Python refuses to read an integer of over 4,300 digits; the client is told that, not how to
    change the interpreter's setting."""
    raw = json.dumps({**CHAT, "inputs": {"n": "PLACEHOLDER"}}).replace('"PLACEHOLDER"', "9" * 5000).encode()
    response = client.post("/v4/chat-experiment", content=raw, headers=JSON_HEADERS)
    assert response.status_code == 422, response.text
    item = response.json()["detail"][0]
    assert item["msg"] == "a number has more than 4300 digits" and item["type"] == "value_error.jsondecode"


def test_refused_bodies_are_journaled_as_text(client: TestClient) -> None:
    app = client.app
    app.state.mock.reset()  # type: ignore[attr-defined]
    send(client, "POST", "/v4/chat-experiment", {**CHAT, "user": LONE})
    entry = app.state.mock.journal.entries()[-1]  # type: ignore[attr-defined]
    assert entry.status == 422
    assert entry.body is None  # not parsed into a string nothing could write back
    assert "\\ud800" in entry.body_text
    json.dumps(entry.as_dict())  # the journal itself stays serialisable


def test_config_file_with_a_lone_surrogate_is_refused_by_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text('projects:\n  - name: "p\\ud800"\n')
    with pytest.raises(ConfigFileError) as raised:
        load_spec(path)
    assert "projects[0].name" in str(raised.value) and "surrogate" in str(raised.value)
