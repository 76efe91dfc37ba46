"""Cassettes on a running mock: `--record` of the mock's own answers, `--replay`, the fixture's `replay` and
its marker, `/__admin/cassette`, and `--record-on-miss`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from mockserver.recording import CassetteError, load_cassette
from tests.conftest import chat_body

KEY = "sk-replay-key-0123456789"
PROVIDER = "sk-provider-replay-55555"
HEADERS = {"X-API-KEY": KEY}
ASK = chat_body(provider_api_keys={"openai": PROVIDER})
STREAM = chat_body(stream=True, num_samples=2, provider_api_keys={"openai": PROVIDER})

pytest_plugins = ["pytester"]


@contextmanager
def serving(**settings: Any) -> Iterator[tuple[str, Any]]:
    app = create_app(MockSettings(seed=7, **settings))
    try:
        with BackgroundServer(app) as server:
            yield server.base_url, app
    finally:
        app.traffic.close()


def admin(url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, url.removesuffix("/v4") + "/__admin" + path, headers=HEADERS, **kwargs)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """A cassette of the mock's own answers (`serve --record`): a JSON call, a stream, a 422."""
    path = tmp_path_factory.mktemp("cassettes") / "mock.har"
    with serving(record=str(path)) as (url, _):
        bodies = [httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=body).content
                  for body in (ASK, STREAM, {"experiment_id": "exp_demo"})]
    return path, bodies


def test_the_mocks_own_answers_are_recorded_without_keys(recorded: tuple[Path, list[bytes]]) -> None:
    path, bodies = recorded
    exchanges = load_cassette(path).exchanges
    assert [e.response.content.body() for e in exchanges] == bodies
    assert [e.comment for e in exchanges] == ["mock"] * 3 and [e.response.status for e in exchanges] == [200, 200, 422]
    assert exchanges[1].is_stream and len(exchanges[1].event_bytes()) > 3
    assert KEY not in path.read_text() and PROVIDER not in path.read_text()


def test_serve_replay_answers_with_the_recorded_bytes(recorded: tuple[Path, list[bytes]]) -> None:
    path, bodies = recorded
    with serving(replay=str(path), replay_speed=0) as (url, _):
        again = [httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=body).content
                 for body in (STREAM, ASK, {"experiment_id": "exp_demo", "user": "ignored"})]
        assert again == [bodies[1], bodies[0], bodies[2]]  # matched by body, not by order
        info = admin(url, "GET", "/cassette").json()
        assert info["scope"] == "server" and info["unused"] == [] and info["recordings"] == 3
        used_up = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=ASK)
        assert used_up.status_code == 404 and "every recording of this" in used_up.json()["detail"]
        admin(url, "POST", "/reset").raise_for_status()  # starts over
        assert httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=ASK).content == bodies[0]


def test_admin_loads_a_cassette_for_the_tenant(recorded: tuple[Path, list[bytes]], tmp_path: Path) -> None:
    path, bodies = recorded
    with serving() as (url, _):
        assert admin(url, "GET", "/cassette").status_code == 404
        missing = admin(url, "POST", "/cassette", json={"path": str(tmp_path / "nope.har")})
        assert missing.status_code == 422 and "nope.har" in json.dumps(missing.json())
        (tmp_path / "bad.har").write_text('{"log": {}}')
        bad = admin(url, "POST", "/cassette", json={"path": str(tmp_path / "bad.har")})
        assert bad.status_code == 422 and "bad.har" in json.dumps(bad.json())
        os.mkfifo(tmp_path / "pipe.har")  # a pipe (or /dev/zero) has no size: read, it would hang or fill memory
        for odd in (str(tmp_path / "pipe.har"), "/dev/zero"):
            refused = admin(url, "POST", "/cassette", json={"path": odd})
            assert refused.status_code == 422 and "not a regular file" in json.dumps(refused.json()), odd
        huge = tmp_path / "huge.har"
        with huge.open("wb") as handle:
            handle.truncate(64 * 1024 * 1024 + 1)  # sparse: no disk used
        too_big = admin(url, "POST", "/cassette", json={"path": str(huge)})
        assert too_big.status_code == 413 and "over 67108864 bytes" in json.dumps(too_big.json())
        loaded = admin(url, "POST", "/cassette", json={"path": str(path), "speed": 0})
        assert loaded.status_code == 200 and loaded.json()["scope"] == "tenant" and loaded.json()["unused"] == [0, 1, 2]
        assert httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=ASK).content == bodies[0]
        miss = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=chat_body(num_samples=2))
        assert miss.status_code == 404 and "body.num_samples recorded absent, received 2" in miss.json()["detail"]
        unexpected = admin(url, "GET", "/unexpected").json()
        assert [u["reason"].split(":")[0] for u in unexpected] == ["no recording matched"]
        entries = admin(url, "GET", "/requests").json()["requests"]
        assert [e["answered_by"] for e in entries] == ["recording #0 (answer 1 of 1)", "replay: no recording matched"]
        assert admin(url, "DELETE", "/cassette").status_code == 204
        fresh = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=ASK)
        assert fresh.status_code == 200 and "answered_by" not in admin(url, "GET", "/requests").json()["requests"][-1]


def test_record_on_miss_fetches_and_appends(recorded: tuple[Path, list[bytes]], tmp_path: Path) -> None:
    cassette = tmp_path / "grow.har"
    cassette.write_bytes(recorded[0].read_bytes())
    with serving() as (upstream, _), \
            serving(replay=str(cassette), replay_speed=0, upstream=upstream, record_on_miss=True) as (url, app):
        assert httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=ASK).content == recorded[1][0]
        new = chat_body(messages=[{"role": "user", "content": "not recorded yet"}])
        fetched = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=new)
        assert fetched.status_code == 200
        again = httpx.post(f"{url}/chat-experiment", headers=HEADERS, json=new)  # fetched again, appended again
        assert again.status_code == 200 and again.content != fetched.content  # the upstream's second answer
        entries = admin(url, "GET", "/requests").json()["requests"]
        assert entries[1]["answered_by"].startswith(f"upstream {upstream} (no recording matched")
    assert app.traffic.close() == []  # closed once already (by `serving`): the cassette is whole
    grown = load_cassette(cassette).exchanges
    assert len(grown) == 5 and [e.response.content.body() for e in grown[3:]] == [fetched.content, again.content]
    assert KEY not in cassette.read_text()


def test_record_on_miss_needs_replay_and_upstream() -> None:
    with pytest.raises(ValueError, match="--record-on-miss needs --replay FILE and --upstream URL"):
        create_app(MockSettings(record_on_miss=True, replay="x.har"))


def test_a_bad_replay_file_stops_the_app(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match=r"nope\.har"):
        create_app(MockSettings(replay=str(tmp_path / "nope.har")))


def test_the_fixture_and_marker_replay(pytester: pytest.Pytester, recorded: tuple[Path, list[bytes]],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUMANLOOP_MOCK_URL", raising=False)
    (pytester.path / "cassettes").mkdir()
    (pytester.path / "cassettes" / "mock.har").write_bytes(recorded[0].read_bytes())
    expected = json.loads(recorded[1][0])
    pytester.makepyfile(f"""
import pytest

ASK = {json.dumps(ASK)}

@pytest.mark.humanloop_replay("cassettes/mock.har")
def test_marker(humanloop_mock):
    with humanloop_mock.httpx_client() as http:
        answer = http.post("/chat-experiment", json=ASK)
    assert answer.json()["data"][0]["output"] == {json.dumps(expected["data"][0]["output"])}
    assert humanloop_mock.unexpected() == []

def test_fixture(humanloop_mock):
    humanloop_mock.replay("cassettes/mock.har")
    client = humanloop_mock.sdk_client()
    reply = client.chat_experiment(**ASK)
    assert reply.data[0].output == {json.dumps(expected["data"][0]["output"])}
    with humanloop_mock.httpx_client() as http:
        assert http.post("/chat-experiment", json=ASK).status_code == 404  # used up
    assert len(humanloop_mock.unexpected()) == 1

def test_reset_lets_go(humanloop_mock):
    with humanloop_mock.httpx_client() as http:
        assert "model_config_id" in http.post("/chat-experiment", json={{**ASK, "user": "u"}}).text

@pytest.mark.humanloop_replay("cassettes/none.har")
def test_missing(humanloop_mock):
    pass
""")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*humanloop_replay*none.har*"])
