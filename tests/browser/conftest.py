"""A headless Chromium for the browser tests, launched once per test session.

Each pytest-xdist worker that runs browser tests launches its own browser the
first time one of them asks for it, and closes it when its session ends. A
test gets a page in a browser context of its own (its own cookies and
storage), so tests cannot see each other's sign-ins. When a test fails, a
screenshot of its page and what the page wrote to its console are saved
under tests/artefacts/.

Debian's chromium is used as it is installed (.ci/run installs it): nothing
here downloads a browser. Without it the tests are skipped, except under CI,
where a missing browser fails them.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    ViewportSize,
    async_playwright,
)

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parent.parent / "artefacts"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
# Playwright waits up to this long for a page to load or an element to show
# up; the gateway answers in milliseconds, live updates within a few seconds.
TIMEOUT_MS = 10_000

_phase_reports = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_collectstart(collector: pytest.Collector) -> None:
    """Run every test module here on the session's event loop, the loop the
    browser was launched on: Playwright's objects belong to the loop that
    made them."""
    if isinstance(collector, pytest.Module):
        collector.add_marker(pytest.mark.asyncio(loop_scope="session"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, so that the ``page`` fixture
    can tell at teardown whether the test failed."""
    report = yield
    item.stash.setdefault(_phase_reports, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def artefacts() -> Path:
    """tests/artefacts/, where browser tests save screenshots (git-ignored),
    made when a test first asks for it."""
    ARTEFACTS.mkdir(exist_ok=True)
    return ARTEFACTS


def _failed(item: pytest.Item) -> bool:
    return any(report.failed for report in item.stash.get(_phase_reports, {}).values())


async def _keep_failure(page: Page, console: list[str], nodeid: str) -> None:
    """Save the screenshot and console lines of a failed test's page."""
    ARTEFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^\w.-]+", "_", nodeid).strip("_")
    try:
        await page.screenshot(path=ARTEFACTS / f"{name}.png", full_page=True)
    except Error as exc:
        # A crashed or closed page has nothing to show; the log says so.
        console.append(f"no screenshot: {exc}")
    lines = "".join(f"{line}\n" for line in console)
    (ARTEFACTS / f"{name}.console.txt").write_text(lines)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; its absence skips the browser tests, or under CI
    fails them, since CI installs it."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """Chromium, headless, for the whole session."""
    async with async_playwright() as playwright:
        # Chromium's sandbox cannot start as root, which tests in a container
        # are; Playwright then passes --no-sandbox.
        launched = await playwright.chromium.launch(
            executable_path=chromium, headless=True, chromium_sandbox=False
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A page in a fresh browser context, 1280x800; on failure its screenshot
    and console go to tests/artefacts/<test>.png and .console.txt."""
    context = await browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    opened = await context.new_page()
    console: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        console.append(f"{message.type}: {message.text}")

    def on_page_error(error: Error) -> None:
        console.append(f"uncaught: {error}")

    opened.on("console", on_console)
    opened.on("pageerror", on_page_error)
    try:
        yield opened
        if _failed(request.node):
            await _keep_failure(opened, console, request.node.nodeid)
    finally:
        await context.close()
