"""A real headless Chromium (Debian's `chromium` and `chromium-driver`), driven through Selenium.

`.ci/run` installs both packages when they are missing. In CI (`CI` set) a missing browser fails the
test that needs it; on a developer's machine it skips with the reason and the install command.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
)
INSTALL = "apt-get install -y chromium chromium-driver"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _first(*candidates: str | None) -> str | None:
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_chromium() -> tuple[str, str]:
    """(browser, driver) paths, or fail (CI) / skip (elsewhere) saying what is missing."""
    browser = _first(shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/lib/chromium/chromium")
    driver = _first(shutil.which("chromedriver"), "/usr/lib/chromium/chromedriver")
    if browser and driver:
        return browser, driver
    missing = " and ".join(name for name, path in (("chromium", browser), ("chromedriver", driver)) if not path)
    reason = f"{missing} not found: the journal page test needs Debian's browser ({INSTALL}; .ci/run does it)"
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@contextmanager
def chromium(width: int = 1440, height: int = 1000) -> Iterator[object]:
    """A fresh headless Chromium with its own throwaway profile; quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_chromium()
    with tempfile.TemporaryDirectory(prefix="hlmock-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        # An explicit driver path: Selenium then never looks for (or downloads) a driver itself.
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        try:
            yield driver
        finally:
            driver.quit()
