"""A HAR file written by a real browser (Debian's Chromium, recording through Playwright's `record_har`)
while a page called a served mock, imported and replayed: bytes and stream events as recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from mockserver.recording import Hit, Miss, Replayer, import_file, save_cassette
from mockserver.recording.importers import imported_cassette
from tests.recording.live import SEED, assert_same_answer, mock_answers
from tests.support.browser import CHROMIUM_FLAGS, INSTALL, in_ci

KEY = "hl-browser-key-SECRET-31313131"
SECRET = "sk-browser-provider-SECRET-555"
BODIES = [
    json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Hi"}],
                "provider_api_keys": {"openai": SECRET}}).encode(),
    json.dumps({"experiment_id": "exp_demo", "messages": [{"role": "user", "content": "Stream please"}],
                "stream": True, "num_samples": 2}).encode(),
    json.dumps({"experiment_id": "exp_demo"}).encode(),  # no messages: a 422
]
FETCH = """async ({body, key}) => {
  const response = await fetch('/v4/chat-experiment', {method: 'POST', body,
    headers: {'X-API-KEY': key, 'Content-Type': 'application/json'}});
  return [response.status, await response.text()];
}"""


def _chromium() -> str:
    """Debian's chromium for Playwright to drive, or skip (fail in CI) saying what is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (it is a test dependency: pip install -e '.[test]')"
    else:
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser:
            return browser
        reason = f"chromium not found: the HAR import test records with Debian's browser ({INSTALL})"
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _record_har(path: Path) -> list[tuple[int, str]]:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with BackgroundServer(create_app(MockSettings(seed=SEED))) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=list(CHROMIUM_FLAGS))
        try:
            context = browser.new_context(record_har_path=str(path), record_har_content="embed")
            page = context.new_page()
            page.goto(server.base_url.removesuffix("/v4") + "/healthz")  # a page on the mock's origin
            seen = [page.evaluate(FETCH, {"body": body.decode(), "key": KEY}) for body in BODIES]
            context.close()  # writes the HAR
        finally:
            browser.close()
    return [(status, text) for status, text in seen]


def test_a_har_written_by_chromium_imports_and_replays(tmp_path: Path) -> None:
    har = tmp_path / "browser.har"
    seen = _record_har(har)
    raw = har.read_text()
    assert json.loads(raw)["log"]["creator"]["name"] == "Playwright" and KEY in raw and SECRET in raw
    assert [status for status, _ in seen] == [200, 200, 422]

    result = import_file(har)
    assert result.kind.startswith("HAR file (Playwright")
    assert len(result.skipped) == 1 and "GET" in result.skipped[0] and "/healthz: path does not match" in \
        result.skipped[0]
    exchanges = result.exchanges
    assert len(exchanges) == 3
    dumped = "".join(e.model_dump_json() for e in exchanges)
    assert KEY not in dumped and SECRET not in dumped

    # What the page read, what the HAR kept, and what the mock sends for these bodies: all the same bytes.
    for exchange, (status, text), answer in zip(exchanges, seen, mock_answers(BODIES), strict=True):
        assert exchange.response.status == status and exchange.response.content.body() == text.encode()
        assert_same_answer(exchange, answer)
    stream = exchanges[1]
    assert stream.is_stream and stream.pace == "estimated"
    offsets = [event.offset_ms for event in stream.response.content.events or []]
    assert offsets == sorted(offsets) and offsets[-1] == pytest.approx(stream.time)

    replayer = Replayer(exchanges)
    for number, body in enumerate(BODIES):
        hit = replayer.answer("POST", "/v4/chat-experiment", body, [("X-API-KEY", "another-key")])
        assert isinstance(hit, Hit) and hit.index == number
        plan = hit.plan(speed=0)
        assert plan.status == seen[number][0]
        assert b"".join(data for _, data in plan.sends) == seen[number][1].encode()
    again = replayer.answer("POST", "/v4/chat-experiment", BODIES[1])
    assert isinstance(again, Miss) and again.used_up == [1]

    # Served by `serve --replay`: a client gets the bytes the page read, the stream event by event.
    cassette = tmp_path / "cassette.har"
    save_cassette(imported_cassette(result), cassette)
    app = create_app(MockSettings(replay=str(cassette), replay_speed=0))
    try:
        with BackgroundServer(app) as replaying, httpx.Client(base_url=replaying.base_url) as client:
            for body, (status, text) in zip(BODIES, seen, strict=True):
                answer = client.post("/chat-experiment", content=body, headers={"X-API-KEY": "another-key"})
                assert (answer.status_code, answer.text) == (status, text)
    finally:
        app.traffic.close()


def test_an_entry_no_cassette_may_hold_is_skipped_in_the_loaders_words(tmp_path: Path) -> None:
    """A HAR entry with a header replay could not send, or a 1xx status, is skipped with the field and the
    problem, not pydantic's raw text and its help URL."""
    def entry(status: int, headers: list[dict[str, str]]) -> dict[str, object]:
        return {"request": {"method": "POST", "url": "http://x/v4/chat-experiment", "headers": []},
                "response": {"status": status, "headers": headers, "content": {"size": 2, "text": "{}"}}}

    path = tmp_path / "browser.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": [
        entry(200, [{"name": "bad\nname", "value": "x"}]), entry(101, [])]}}))
    skipped = import_file(path).skipped
    assert len(skipped) == 2
    assert "headers: Value error, header name 'bad\\nname' is not an HTTP token" in skipped[0]
    assert "status: Input should be greater than or equal to 200" in skipped[1]
    assert not any("pydantic" in line or "[type=" in line for line in skipped)
