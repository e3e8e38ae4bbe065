"""The web dashboard in a real headless Chromium (Debian's chromium + chromium-driver, driven by
Selenium): every page loads with the demo run's data, its Plotly charts render without console
errors, navigation works, and a non-blank screenshot of each page is kept as a test artifact."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from cappuccino_runtime.dashboard import DashboardService, DashboardSources
from cappuccino_runtime.dashboard.figures import page_figures
from cappuccino_runtime.dashboard.pages import PAGE_TITLES
from cappuccino_runtime.dashboard.web import create_app
from cappuccino_runtime.settings import Settings
from tests.dashboard.world import DemoWorld

pytestmark = pytest.mark.dashboard

CONTENT = {
    1: ["trading ledger", "local/ensemble"],
    2: ["Positions", "avg entry", "BTC/USD"],
    3: ["local/arena", "± SE"],
    4: ["demo-phase1", "best trial_id"],
    5: ["fills in the ledger", "cap-"],
    6: ["trades/hour", "the original's target"],
    7: ["PBO", "configurations tried", "Refit models"],
    9: ["phase-1 winner", "trial_id"],
}


def _browser_binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail(
            "the dashboard browser tests need Debian's chromium and chromium-driver; run "
            "scripts/ensure-system-packages (apt-get install chromium chromium-driver)."
        )
    return chromium, driver


class _Server:
    def __init__(self, service: DashboardService) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(create_app(service), log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 30 s")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver_path = _browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1100"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def _severe(driver: webdriver.Chrome) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _wait_charts(driver: webdriver.Chrome, expected: int) -> None:
    def drawn(d: webdriver.Chrome) -> bool:
        return bool(
            d.execute_script(
                "const p = document.querySelectorAll('.js-plotly-plot');"
                "return p.length === arguments[0] && [...p].every("
                "  e => e.querySelector('.main-svg') && e._fullData && e._fullData.length > 0);",
                expected,
            )
        )

    WebDriverWait(driver, 30).until(drawn)


def _non_blank(path: Path) -> None:
    image = Image.open(path).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert image.size[0] > 800 and len(colours) > 20, f"{path} looks blank ({len(colours)} colours)"


def test_every_page_renders_in_chromium(
    demo_world: DemoWorld, browser: webdriver.Chrome, artifact_dir: Path
) -> None:
    service = DashboardService(DashboardSources.from_settings(demo_world.settings))
    model = service.build()
    with _Server(service) as server:
        assert browser.execute_script("return 1") == 1
        for n, title in PAGE_TITLES.items():
            browser.get(f"{server.url}/page/{n}")
            expected = len(page_figures(model, n))
            _wait_charts(browser, expected)
            heading = browser.find_element(By.TAG_NAME, "h1").text
            assert heading == f"{n} {title}"
            text = browser.find_element(By.TAG_NAME, "main").text
            missing = [w for w in CONTENT[n] if w not in text]
            assert not missing, f"page {n} lacks {missing}"
            assert not _severe(browser), f"console errors on page {n}: {_severe(browser)}"
            shot = artifact_dir / f"web-page-{n}.png"
            browser.save_screenshot(str(shot))
            _non_blank(shot)
        assert sum(len(page_figures(model, n)) for n in PAGE_TITLES) >= 10

        # navigation: the page bar, the arrow keys and the number keys
        browser.get(f"{server.url}/")
        assert browser.current_url.endswith("/page/1")
        browser.find_element(By.ID, "nav-4").click()
        WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/page/4"))
        ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
        WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/page/5"))
        ActionChains(browser).send_keys("9").perform()
        WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/page/9"))
        ActionChains(browser).send_keys(Keys.ARROW_RIGHT).perform()
        WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/page/1"))
        browser.get(f"{server.url}/healthz")
        assert '"ok"' in browser.find_element(By.TAG_NAME, "body").text
    service.close()


def test_empty_home_pages_load_without_errors(
    tmp_path: Path, browser: webdriver.Chrome, artifact_dir: Path
) -> None:
    service = DashboardService(DashboardSources.from_settings(Settings.from_env(home=tmp_path)))
    with _Server(service) as server:
        for n in PAGE_TITLES:
            browser.get(f"{server.url}/page/{n}")
            _wait_charts(browser, 0)
            assert browser.find_element(By.TAG_NAME, "h1").text.startswith(f"{n} ")
            assert not _severe(browser), f"console errors on empty page {n}"
        browser.get(f"{server.url}/page/1")
        assert "no database file" in browser.find_element(By.TAG_NAME, "main").text
        browser.save_screenshot(str(artifact_dir / "web-empty-page-1.png"))
        browser.get(f"{server.url}/page/8")
        assert "no page 8" in browser.find_element(By.TAG_NAME, "body").text
    service.close()
