"""A real browser for the page: Debian's headless Chromium driven by Selenium through
Debian's chromedriver (nothing is downloaded: Selenium Manager is never asked).

``nox -s tests`` installs ``chromium`` and ``chromium-driver``; outside CI a machine
without them skips these tests with the reason, in CI (``CI=true``) they fail instead.
Every test keeps its screenshots in ``<tmp_path>/screenshots`` (CI artefacts).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.browser.chromium import CHROMEDRIVER, CHROMIUM, WAIT_S, new_driver


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if not missing:
        return
    reason = (
        f"headless Chromium tests need {', '.join(missing)}: "
        "`nox -s tests` installs them (apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class Browser:
    """A Selenium driver with the few helpers the tests need, screenshots into ``shots``."""

    def __init__(self, driver: Any, base: str, shots: Path, downloads: Path) -> None:
        self.driver = driver
        self.base = base
        self.shots = shots
        self.downloads = downloads
        self._n = 0
        self._allowed: list[str] = ["favicon.ico"]

    def allow(self, text: str) -> None:
        """Console errors holding ``text`` are expected (e.g. a page answered with 401)."""
        self._allowed.append(text)

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def click_to_load(self, element: Any, what: str = "the next page") -> None:
        """Click ``element`` and wait until a new document replaced this one, fully loaded
        (a click returns before the navigation it starts: reading at once may read the
        old page)."""
        self.driver.execute_script("window.leftBehind = true")
        element.click()
        self.wait(
            what,
            lambda: self.driver.execute_script(
                "return !window.leftBehind && document.readyState === 'complete'"
            ),
        )

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait(self, what: str, predicate: Callable[[], Any], timeout: float = WAIT_S) -> Any:
        """Poll ``predicate`` (DOM reads) until truthy; on time-out fail with a screenshot."""
        from selenium.common.exceptions import (
            JavascriptException,
            NoSuchElementException,
            StaleElementReferenceException,
        )

        passing = (
            StaleElementReferenceException,  # the page replaced what we read
            NoSuchElementException,  # not there yet (a page still loading)
            JavascriptException,  # a script ran while the document was being replaced
            LookupError,
        )

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            try:
                value = predicate()
            except passing as exc:
                value, last = None, exc  # read again
            if value:
                return value
            if time.monotonic() > deadline:
                shot = self.screenshot(f"timeout-{what}")
                seen = f"; last: {type(last).__name__}: {last}" if last else ""
                pytest.fail(f"the page never showed {what} (screenshot: {shot}){seen}")
            time.sleep(0.2)

    def screenshot(self, name: str) -> Path:
        self._n += 1
        path = self.shots / f"{self._n:02d}-{name.replace(' ', '-')}.png"
        self.driver.save_screenshot(str(path))
        return path

    def js_errors(self) -> list[str]:
        """Errors of the page's scripts and refused resources (CSP) seen in the console."""
        entries = self.driver.get_log("browser")
        return [
            e["message"]
            for e in entries
            if e["level"] == "SEVERE" and not any(a in e["message"] for a in self._allowed)
        ]


@pytest.fixture
def browser_factory(tmp_path: Path) -> Iterator[Callable[[str], Browser]]:
    """``browser_factory(base_url)``: a fresh headless Chromium for the page at ``base_url``.

    At the end each browser must have logged no script error, and is closed.
    """
    _require_browser()
    shots = tmp_path / "screenshots"
    downloads = tmp_path / "downloads"
    shots.mkdir()
    downloads.mkdir()
    opened: list[Browser] = []

    def make(base: str) -> Browser:
        driver = new_driver(downloads, tmp_path / "chromedriver.log")
        b = Browser(driver, base, shots, downloads)
        opened.append(b)
        return b

    try:
        yield make
    finally:
        errors = []
        for b in opened:
            try:
                errors += b.js_errors()
            finally:
                b.driver.quit()
    assert not errors, f"the page logged errors in the browser console: {errors}"
