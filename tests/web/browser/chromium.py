"""Debian's headless Chromium driven by Selenium through Debian's chromedriver.

Both paths are given to Selenium, so Selenium Manager is never asked to find (or
download) a browser or a driver; ``SE_OFFLINE`` makes sure of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-extensions",
    "--no-first-run",
    "--window-size=1280,900",
    "--lang=en-US",  # a date field takes what the tests type (MM/DD/YYYY) in any locale
)
#: generous: the machine is small and shared; nothing here measures time
WAIT_S = 90.0


def new_driver(downloads: Path, log: Path) -> Any:
    """A headless Chromium that saves downloads into ``downloads`` without asking and
    keeps its console messages (``driver.get_log("browser")``)."""
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ARGS:
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
            "intl.accept_languages": "en-US",
        },
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # UTF-8 file names (C.UTF-8 is on every Debian), English everywhere else
    env = {**os.environ, "LANG": "C.UTF-8", "LANGUAGE": "en_US:en"}
    env.pop("LC_ALL", None)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(log), env=env)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT_S)
    # headless Chromium saves downloads only when told where, through the DevTools protocol
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    return driver
