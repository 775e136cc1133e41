"""End-to-end tests in Debian's Chromium, driven by Playwright for Python.

Playwright's own browser download does not work on these machines, so the tests launch
``/usr/bin/chromium`` (installed by ``scripts/ensure-chromium``, which ``make test`` runs). Where it
is missing, every test here skips with the reason. Screenshots go to ``tests/browser/screenshots/``
(ignored by git) so a person can look at the pages.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

try:
    # Assertions that retry until the page matches (up to Playwright's timeout): a click does not
    # wait for the page it opens, so reading the page at once can read the old one or a half-loaded one.
    from playwright.sync_api import expect
except ImportError:  # every test here skips, saying why (see _skip_reason)
    expect = None

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"


def _skip_reason() -> str | None:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM}: run scripts/ensure-chromium (needs root and apt-get)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make to set up
    # data are still plain synchronous calls between browser steps. Only for the browser tests.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    user_data = tempfile.mkdtemp(prefix="crm-chromium-")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()
    shutil.rmtree(user_data, ignore_errors=True)
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1366, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(request):
    """``screenshot(page, "name")`` saves tests/browser/screenshots/<test>-<name>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def admin_login(page, username: str, password: str = "pw") -> None:
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def assert_count(locator, expected: int) -> None:
    """Assert how many elements match, waiting (up to Playwright's timeout) for the page to settle.

    ``locator.count()`` answers at once, so right after a click it can count a page that is still
    loading; Playwright's ``expect`` retries until the count matches or the timeout passes.
    """
    expect(locator).to_have_count(expected)
