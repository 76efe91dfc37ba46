"""The journal page at `GET /__admin/`, in a real headless Chromium against a real server.

What the page shows is compared with what `GET /__admin/requests` and `GET /__admin/spec` say; the
screenshot is kept in the test's tmp_path and copied to `test-artifacts/journal-page.png`.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from tests.support.browser import chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
XSS_MESSAGE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> & </summary>'
XSS_EXPERIMENT = "exp_<b onmouseover=window.__pwned=3>runtime</b>"
WAIT = 15


def chat(http: httpx.Client, message: str, key: str = "page-key", **extra: Any) -> httpx.Response:
    body = {"experiment_id": "exp_demo", "messages": [{"role": "user", "content": message}], **extra}
    return http.post("/v4/chat-experiment", json=body, headers={"X-API-KEY": key})


def journal(http: httpx.Client, key: str = "page-key") -> list[dict[str, Any]]:
    return http.get("/__admin/requests", headers={"X-API-KEY": key}).json()["requests"]


def text(element: Any, selector: str) -> str:
    from selenium.webdriver.common.by import By

    return element.find_element(By.CSS_SELECTOR, selector).get_attribute("textContent")


def texts(element: Any, selector: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.get_attribute("textContent") for e in element.find_elements(By.CSS_SELECTOR, selector)]


def wait_for(driver: Any, condition: Any, what: str) -> Any:
    """Wait until `condition(driver)` holds; elements the page re-renders meanwhile are looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, WAIT, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(lambda d: condition(d), message=what)


def settled(driver: Any) -> bool:
    """No row is waiting for its request to finish (such rows are re-rendered on the next poll)."""
    return driver.execute_script("return document.querySelectorAll('#rows .badge.pending').length") == 0


def row_seqs(driver: Any) -> list[int]:
    return [int(s) for s in driver.execute_script(
        "return [...document.querySelectorAll('details.req')].map(d => d.dataset.seq)")]


def save_screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1440, max(900, min(int(height) + 40, 4000)))
    shot = tmp_path / name
    assert driver.save_screenshot(str(shot)), "screenshot failed"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / name)
    return shot


@pytest.fixture
def server() -> Iterator[tuple[BackgroundServer, httpx.Client]]:
    with BackgroundServer(create_app(MockSettings(seed=3))) as running, \
            httpx.Client(base_url=f"http://127.0.0.1:{running.port}", timeout=10) as http:
        yield running, http


def assert_rows_match_journal(driver: Any, records: list[dict[str, Any]]) -> None:
    from selenium.webdriver.common.by import By

    assert row_seqs(driver) == sorted((r["seq"] for r in records), reverse=True)  # newest first
    for record in records:
        row = driver.find_element(By.CSS_SELECTOR, f'details.req[data-seq="{record["seq"]}"]')
        assert text(row, ".c-status") == str(record["status"])
        assert text(row, ".path") == record["path"]
        experiment = record["experiment_id"] or (record["body"] or {}).get("experiment_id")
        assert text(row, ".c-exp").startswith(experiment or "—")
        if record["call"] is not None:  # numbered per experiment; the tooltip adds the number over all
            label = row.find_element(By.CSS_SELECTOR, ".c-exp .call")
            per_experiment = record["experiment_call"]
            assert label.get_attribute("textContent") == (
                f"call {per_experiment}" if per_experiment is not None else f"chat call {record['call']}")
            assert f"chat call {record['call']} since reset" in label.get_attribute("title")
        assert texts(row, ".chip.config") == [s["model_config_id"] for s in record["samples"]]
        assert texts(row, ".chip.script") == [s["script"] for s in record["samples"] if s["script"]]
        assert texts(row, ".chip.fault") == record["faults"]
        if record["stream_events"]:
            assert text(row, ".n-events") == f"{len(record['stream_events'])} events"


def assert_rule_tooltips(driver: Any, http: httpx.Client, key: dict[str, str]) -> None:
    """A rule chip shows the rule's name, and on hover what reports call it (its match)."""
    from selenium.webdriver.common.by import By

    labels = http.get("/__admin/requests", headers=key).json()["rule_labels"]
    assert labels == {"script": {"capital": "script 'capital' matching message='capital'"},
                      "fault": {"rate-limited": "fault 'rate-limited' matching call=3"}}
    for kind in ("script", "fault"):
        (chip,) = driver.find_elements(By.CSS_SELECTOR, f"#rows .chip.{kind}")
        assert chip.get_attribute("title") == labels[kind][chip.text]


def assert_draws_match(driver: Any, records: list[dict[str, Any]], weights: dict[tuple[str, str], float]) -> None:
    """The draws table: per experiment and config, the journal's draw count and the configured weight."""
    from selenium.webdriver.common.by import By

    drawn = Counter((r["experiment_id"], s["model_config_id"]) for r in records for s in r["samples"])
    shown: dict[tuple[str, str], tuple[int, float]] = {}
    for card in driver.find_elements(By.CSS_SELECTOR, "article.exp"):
        experiment = card.get_attribute("data-experiment")
        assert int(text(card, ".exp-draws")) == sum(n for (e, _), n in drawn.items() if e == experiment)
        for row in card.find_elements(By.CSS_SELECTOR, "tr[data-config]"):
            shown[(experiment, row.get_attribute("data-config"))] = (
                int(text(row, ".draws-count")), float(text(row, ".weight")))
    assert {key: draws for key, (draws, _) in shown.items() if draws} == dict(drawn)
    assert {key: weight for key, (_, weight) in shown.items()} == weights


def test_page_shows_the_journal_and_draws_and_updates_live(server: tuple[BackgroundServer, httpx.Client],
                                                           tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    running, http = server
    key = {"X-API-KEY": "page-key"}
    assert http.post("/__admin/scripts", headers=key, json={
        "name": "capital", "match": {"message": "capital"}, "answer": {"output": "Paris."}}).status_code == 201
    assert http.post("/__admin/faults", headers=key, json={
        "name": "rate-limited", "match": {"call": 3}, "status": 429, "retry_after": 1}).status_code == 201
    assert chat(http, "Hello there").status_code == 200
    streamed = chat(http, "Tell me a short story", stream=True, num_samples=2)
    assert streamed.status_code == 200 and streamed.headers["content-type"].startswith("text/event-stream")
    assert chat(http, "This one is refused").status_code == 429
    assert chat(http, "What is the capital of France?").json()["data"][0]["output"] == "Paris."
    assert chat(http, XSS_MESSAGE, experiment_id=XSS_EXPERIMENT, num_samples=2).status_code == 200
    assert http.get("/v4/no-such-path", headers=key).status_code == 404

    records = journal(http)
    assert len(records) == 6
    spec = http.get("/__admin/spec", headers=key).json()
    weights = {(e["id"], c["id"]): c["weight"]
               for p in spec["projects"] for e in p["experiments"] for c in e["configs"]}
    live = {(e["id"], c["id"]): c["weight"] for e in http.get("/__admin/experiments", headers=key).json()
            for c in e["configs"]}
    assert set(weights) < set(live)  # the provisioned experiment is known only to the live state
    assert {k: live[k] for k in weights} == weights

    with chromium() as driver:
        driver.get(f"http://127.0.0.1:{running.port}/__admin/")
        driver.execute_script("localStorage.clear()")
        driver.find_element(By.ID, "api-key").send_keys("page-key")
        driver.find_element(By.ID, "use-key").click()
        wait_for(driver, lambda d: len(row_seqs(d)) == 6, "six rows")
        wait_for(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.exp")) == 2, "two experiments")

        assert_rows_match_journal(driver, records)
        assert_draws_match(driver, records, live)
        assert_rule_tooltips(driver, http, key)
        assert driver.find_element(By.ID, "request-count").text == "6 in the journal"

        by_seq = {r["seq"]: r for r in records}
        scripted = next(r for r in records if any(s["script"] for s in r["samples"]))
        assert text(driver.find_element(By.CSS_SELECTOR, f'details.req[data-seq="{scripted["seq"]}"]'),
                    ".out") == "Paris."
        faulted = next(r for r in records if r["faults"])
        assert isinstance(faulted["error"], str) and faulted["status"] == 429
        assert text(driver.find_element(By.CSS_SELECTOR, f'details.req[data-seq="{faulted["seq"]}"]'),
                    ".err") == faulted["error"]

        # The call label counts per experiment: the provisioned experiment's first call is its call 1.
        assert [r["experiment_call"] for r in records if r["call"]] == [1, 2, 3, 4, 1]
        assert [r["call"] for r in records if r["call"]] == [1, 2, 3, 4, 5]

        # A click shows the answer's headers: the 429's Retry-After, as the client got it.
        row = driver.find_element(By.CSS_SELECTOR, f'details.req[data-seq="{faulted["seq"]}"]')
        row.find_element(By.TAG_NAME, "summary").click()
        shown_headers = row.find_element(By.CSS_SELECTOR, '[data-part="response-headers"] pre')
        wait_for(driver, lambda d: shown_headers.is_displayed(), "response headers shown")
        assert json.loads(shown_headers.get_attribute("textContent")) == faulted["response_headers"]
        assert faulted["response_headers"]["retry-after"] == "1"
        assert text(row, '[data-part="response-headers"] h4') == "response headers · 429"

        # A stream is behind a click: its text put together per sample, then its events one per line, as sent.
        stream = next(r for r in records if r["stream_events"])
        per_sample: dict[int, str] = {}
        for event in stream["stream_events"]:
            item = json.loads(event)["data"][0]
            per_sample[item["index"]] = per_sample.get(item["index"], "") + item["output"]
        assert sorted(per_sample) == [0, 1] and all(per_sample.values())
        row = driver.find_element(By.CSS_SELECTOR, f'details.req[data-seq="{stream["seq"]}"]')
        events = row.find_elements(By.CSS_SELECTOR, "ol.events li")
        assert len(events) == len(stream["stream_events"]) and not events[0].is_displayed()
        row.find_element(By.TAG_NAME, "summary").click()
        wait_for(driver, lambda d: events[0].is_displayed(), "stream events shown")
        assert [e.get_attribute("textContent") for e in events] == stream["stream_events"]
        assert texts(row, ".sample-text") == [per_sample[0], per_sample[1]]
        configs = [s["model_config_id"] for s in stream["samples"]]
        assert texts(row, ".sample .sub") == [f"sample {i} · {configs[i]}" for i in (0, 1)]
        joined = f"[0] {per_sample[0]}  [1] {per_sample[1]}"
        assert text(row, ".out") == (joined if len(joined) <= 120 else joined[:119] + "…")
        assert json.loads(text(row, '[data-part="response-headers"] pre')) == stream["response_headers"]
        assert stream["response_headers"]["content-type"].startswith("text/event-stream")

        # Client-sent markup is shown as text and never runs.
        hostile = next(r for r in records if r["experiment_id"] == XSS_EXPERIMENT)
        row = driver.find_element(By.CSS_SELECTOR, f'details.req[data-seq="{hostile["seq"]}"]')
        assert text(row, ".msg") == XSS_MESSAGE and text(row, ".exp-id") == XSS_EXPERIMENT
        assert driver.find_elements(By.CSS_SELECTOR, "#rows img, #rows script, #rows b, #experiments b") == []
        assert driver.execute_script("return window.__pwned === undefined")

        shot = save_screenshot(driver, tmp_path, "journal-page.png")
        driver.set_window_size(1440, 1000)

        # Live: a new call shows up on top, and the draws table follows.
        assert chat(http, "One more, live").status_code == 200
        newest = journal(http)[-1]
        wait_for(driver, lambda d: row_seqs(d)[:1] == [newest["seq"]] and settled(d), "the new call on top")
        records = journal(http)
        wait_for(driver, lambda d: int(text(d, 'article.exp[data-experiment="exp_demo"] .exp-draws')) == 5,
                 "draws updated")
        assert_rows_match_journal(driver, records)
        assert_draws_match(driver, records, live)
        assert_rule_tooltips(driver, http, key)
        assert by_seq.keys() < {r["seq"] for r in records}

        # A reset starts the journal over: the page drops the old rows and shows the new ones.
        assert http.post("/__admin/reset", headers=key).status_code == 200
        wait_for(driver, lambda d: row_seqs(d) == [], "rows cleared after reset")
        assert driver.find_element(By.ID, "empty").is_displayed()
        assert chat(http, "after reset").status_code == 200
        wait_for(driver, lambda d: row_seqs(d) == [0] and settled(d), "the first call after reset")
        assert_rows_match_journal(driver, journal(http))
        assert driver.execute_script("return window.__pwned === undefined")

    assert len(journal(http)) == 1  # the page's own fetches are never journaled
    assert shot.exists() and (ARTIFACTS / "journal-page.png").exists()


def test_key_field_chooses_the_tenant_and_is_remembered(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    settings = MockSettings(isolate_keys=True, api_keys=("key-a", "key-b"))
    with BackgroundServer(create_app(settings)) as running, \
            httpx.Client(base_url=f"http://127.0.0.1:{running.port}", timeout=10) as http, chromium() as driver:
        for message in ("a first", "a second"):
            assert chat(http, message, key="key-a").status_code == 200
        assert chat(http, "only b sees this", key="key-b").status_code == 200

        driver.get(f"http://127.0.0.1:{running.port}/__admin/")
        driver.execute_script("localStorage.clear()")
        driver.refresh()
        notice = driver.find_element(By.ID, "notice")
        wait_for(driver, lambda d: notice.is_displayed() and "--api-key" in notice.text, "asks for a key")
        assert row_seqs(driver) == []

        field = driver.find_element(By.ID, "api-key")
        assert field.get_attribute("type") == "password"
        field.send_keys("key-a")
        driver.find_element(By.ID, "use-key").click()
        wait_for(driver, lambda d: len(row_seqs(d)) == 2, "key-a's two rows")
        assert_rows_match_journal(driver, journal(http, "key-a"))
        assert "only b" not in driver.find_element(By.ID, "rows").get_attribute("textContent")
        assert not driver.find_element(By.ID, "notice").is_displayed()

        driver.refresh()  # the key comes back from localStorage
        wait_for(driver, lambda d: len(row_seqs(d)) == 2, "key-a's rows after reload")
        assert driver.find_element(By.ID, "api-key").get_attribute("value") == "key-a"
        assert driver.execute_script("return localStorage.getItem('humanloop-mock.api-key')") == "key-a"

        field = driver.find_element(By.ID, "api-key")
        field.clear()
        field.send_keys("key-b")
        driver.find_element(By.ID, "use-key").click()
        wait_for(driver, lambda d: len(row_seqs(d)) == 1, "key-b's one row")
        assert text(driver.find_element(By.ID, "rows"), ".msg") == "only b sees this"
        save_screenshot(driver, tmp_path, "journal-page-tenant.png")
