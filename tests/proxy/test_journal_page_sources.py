"""The journal page says who answered each request and shows the passive checker's violations, in a real
headless Chromium against a proxy whose upstream deviates."""

from __future__ import annotations

import json

import httpx

from mockserver import MockSettings, create_app
from mockserver.http.server import BackgroundServer
from tests.admin.test_journal_page import row_seqs, text, texts, wait_for
from tests.checker.raw_server import RawServer, json_answer
from tests.conftest import chat_body
from tests.support.browser import chromium

KEY = {"X-API-KEY": "page-key"}


def test_page_shows_the_source_and_the_violations() -> None:
    from selenium.webdriver.common.by import By

    deviating = json.dumps({"project_id": "pr_x", "data": [{"id": "d", "index": 0, "output": "hi"}]}).encode()
    with RawServer(lambda seen: json_answer(deviating)) as upstream:
        app = create_app(MockSettings(upstream=upstream.url + "/v4"))
        try:
            with BackgroundServer(app) as running, httpx.Client(base_url=running.base_url, headers=KEY) as http, \
                    chromium() as driver:
                assert http.post("/chat-experiment", json=chat_body()).content == deviating
                app.traffic.checker.drain(10)
                record = http.get(running.base_url.removesuffix("/v4") + "/__admin/requests").json()["requests"][0]
                checks = sorted({v["check"] for v in record["violations"]})
                assert "response_schema" in checks
                driver.get(running.base_url.removesuffix("/v4") + "/__admin/")
                driver.execute_script("localStorage.setItem('humanloop-mock.api-key', 'page-key')")
                driver.refresh()
                wait_for(driver, lambda d: row_seqs(d) == [0], "the proxied row")
                row = driver.find_element(By.CSS_SELECTOR, 'details.req[data-seq="0"]')
                assert texts(row, ".chip.source") == ["upstream"]
                assert row.find_element(By.CSS_SELECTOR, ".chip.source").get_attribute("title") == \
                    f"upstream {upstream.url}/v4"
                assert sorted(texts(row, ".chip.violation")) == checks
                row.click()
                shown = text(row, '[data-part="source"]')
                assert shown.startswith(f"answered by upstream {upstream.url}/v4")
                assert "response_schema: data[0]" in shown
        finally:
            app.traffic.close()
