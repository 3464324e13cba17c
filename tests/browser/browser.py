"""Debian's Chromium driven by Selenium, for the console's browser tests: headless, a fresh
profile, nothing fetched from the network behind the test's back; each page screenshotted and
checked with the vendored axe-core."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1000", "--lang=zh-CN")
BLOCKING = ("serious", "critical")
WAIT = 60  # seconds for a page to load or swap: generous, for a machine under load


def chromium_or_fail() -> tuple[str, str]:
    """The browser and its driver; a failure (never a skip) when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.fail("the browser tests need Debian's chromium and chromium-driver "
                    "(`make test` installs them as root; see the README)", pytrace=False)
    return browser, driver


class Browser:
    def __init__(self, profile: Path, artifacts: Path, downloads: Path) -> None:
        binary, driver_path = chromium_or_fail()
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_experimental_option("prefs", {
            "download.default_directory": str(downloads), "download.prompt_for_download": False})
        self.driver: WebDriver = webdriver.Chrome(options=options,
                                                  service=Service(executable_path=driver_path))
        self.driver.set_page_load_timeout(90)
        self.artifacts = artifacts
        self.downloads = downloads
        self.shots = 0
        self.started = time.monotonic()
        self.violations: dict[str, list[dict[str, Any]]] = {}

    def quit(self) -> None:
        self.driver.quit()

    def open(self, url: str) -> None:
        self.driver.get(url)
        self.settled()

    def settled(self) -> None:
        WebDriverWait(self.driver, WAIT).until(lambda d: d.execute_script(
            "return document.readyState === 'complete' && "
            "!document.querySelector('.htmx-request')"))

    def by_id(self, element_id: str) -> WebElement:
        return self.driver.find_element(By.ID, element_id)

    def text_of(self, element_id: str) -> str:
        """An element's text; a part htmx swaps (a job's progress) is read again when it went
        while being read."""
        for _ in range(20):
            try:
                return self.by_id(element_id).text
            except (StaleElementReferenceException, NoSuchElementException):
                time.sleep(0.1)
        return self.by_id(element_id).text

    def fill(self, values: dict[str, str]) -> None:
        for element_id, value in values.items():
            field = self.by_id(element_id)
            field.clear()
            field.send_keys(value)

    def submit(self, button_id: str) -> None:
        """Click and wait for the page (boosted by htmx, or loaded) to be replaced."""
        main = self.driver.find_element(By.TAG_NAME, "main")
        self.by_id(button_id).click()
        WebDriverWait(self.driver, WAIT).until(expected_conditions.staleness_of(main))
        self.settled()

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "main").text

    def flash(self) -> str:
        return " ".join(e.text for e in self.driver.find_elements(By.CSS_SELECTOR, ".flash"))

    def until(self, action: Callable[[], None], done: Callable[[], bool], *,
              seconds: float = 40) -> None:
        """Repeat ``action`` (submitting a form again, say) until ``done``: for a command
        refused while a service has yet to hear of an event from the bus."""
        deadline = time.monotonic() + seconds
        while True:
            action()
            if done():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not done after {seconds}s: {self.flash() or self.text()}")
            time.sleep(0.5)

    def check(self, name: str) -> Path:
        """Screenshot the page as ``NN-name.png`` and run axe-core on it; serious and critical
        violations are kept for the test to assert on."""
        self.shots += 1
        path = self.artifacts / f"{self.shots:02d}-{re.sub(r'[^a-z0-9-]', '-', name)}.png"
        self.driver.save_screenshot(str(path))
        print(f"{time.monotonic() - self.started:6.1f}s  {path.name}")
        self.driver.execute_script(AXE.read_text())
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => done(JSON.stringify(r.violations)), e => done(String(e)));")
        violations = json.loads(result)
        bad = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                "nodes": [n["html"][:200] for n in v["nodes"][:3]]}
               for v in violations if v["impact"] in BLOCKING]
        if bad:
            self.violations[name] = bad
        return path
