"""One archive per module here: each module shares one run (or one server) among its tests."""

import shutil

import pytest


@pytest.fixture(scope="module", name="home")
def module_home(module_env):
    """The module's archive (``STAGEBOOK_HOME``), instead of one per test."""
    return module_env[1]


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, driven by Playwright (``playwright install`` cannot reach its CDN here)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `make services` installs Debian's chromium")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()
