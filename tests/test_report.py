"""The one-page HTML report of the tiny study: every figure is in it, and the page
loads in a real (headless) browser without errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from test_workflow import DATASETS, FIGURES
from workflow_helpers import snakemake

pytestmark = pytest.mark.workflow

BROWSER = ("/usr/bin/chromium", "/usr/bin/chromedriver")
PACKAGES = ("chromium", "chromium-driver")  # Debian's
# As the machines' probe runs it: no sandbox as root, and none of the background
# connections that a closed network refuses.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000")


@pytest.fixture(scope="module")
def report(built, tmp_path_factory) -> Path:
    """`snakemake --report` of the tiny study, written outside its folder."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    snakemake(built, "--report", str(path))
    return path


def test_the_report_holds_every_figure_and_the_summary_table(report):
    page = report.read_text()
    for name in DATASETS:
        for figure in FIGURES:
            assert f"artifacts/{name}/{figure}.png" in page, (name, figure)
    for path in ("artifacts/summary.html", "artifacts/summary.png", "artifacts/diabetes/inference.png"):
        assert path in page
    # Captions are rendered, with the dataset's settings filled in.
    assert "Accuracy against fraction of weights retained, mnist" in page
    assert "{{" not in page.split("<body", 1)[1].split("<script", 1)[0]


def have_browser() -> bool:
    return all(Path(p).exists() for p in BROWSER)


def install_browser() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, capture_output=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
                   check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the test extra: pip install -e '.[test]'")
    if not have_browser():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.skip("needs Debian's chromium and chromium-driver, or root and apt-get to install them")
        install_browser()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.binary_location = BROWSER[0]
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(BROWSER[1]), options=options)
    yield driver
    driver.quit()


def wait_for_text(driver, text: str, timeout: float = 10) -> str:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = driver.find_element(By.TAG_NAME, "body").text
        if text in body:
            return body
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; the page shows:\n{body}")


def test_the_report_page_loads_in_a_browser_without_errors(report, browser):
    from selenium.webdriver.common.by import By

    errors = []
    for name in DATASETS:  # the page is one app: load it afresh for each dataset's menu
        browser.get(report.as_uri())
        assert browser.title == "Snakemake Report"
        body = wait_for_text(browser, "0. summary")
        assert "how many of a trained network's weights are really needed" in body
        browser.find_element(By.XPATH, f"//*[normalize-space(text())='{name}']").click()
        body = wait_for_text(browser, "2. accuracy against fraction retained")
        assert "4. what pruning removed" in body and "5. how the networks decide" in body
        errors += [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
