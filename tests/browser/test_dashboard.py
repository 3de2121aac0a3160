"""The dashboard in a real browser, against the session's gateway and platform.

An operator signs in, makes a monitor of a local TCP service in the form,
sees it go UP, stops the service and sees it go DOWN on screen, acknowledges
the incident that opened, and a visitor who is not signed in opens a status
page showing it. Screenshots of the overview and of the monitor page are
kept in tests/artefacts/ (the README shows copies of them).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from tests.conftest import OWNER, OWNER_PASSWORD

DOWN_ON_SCREEN_SECONDS = 2.0
"""How soon a service that stops must show DOWN: a check a second, and the
rest of the way (shard, alerting, gateway, browser) well under a second."""


class LocalService:
    """A TCP service on 127.0.0.1 that accepts and closes connections."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        async def answer(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            writer.close()

        self.server = await asyncio.start_server(answer, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    gateway_url: str, auth: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway's API as its owner, on the loop the browser runs on."""
    async with httpx.AsyncClient(
        base_url=gateway_url, headers=auth, timeout=30
    ) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def made(api: httpx.AsyncClient) -> AsyncIterator[list[str]]:
    """Ids of monitors a test made; each is deleted when the test ends."""
    ids: list[str] = []
    yield ids
    for monitor_id in ids:
        await api.delete(f"/api/v1/monitors/{monitor_id}")


@pytest_asyncio.fixture(loop_scope="session")
async def service() -> AsyncIterator[LocalService]:
    running = LocalService()
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def sign_in(page: Page, gateway_url: str) -> None:
    await page.goto(f"{gateway_url}/#/login")
    await page.get_by_label("Name").fill(OWNER)
    await page.get_by_label("Password").fill(OWNER_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#topbar")).to_be_visible()


async def test_an_operator_sees_a_service_go_down_and_acknowledges_its_incident(
    page: Page,
    browser: Browser,
    gateway_url: str,
    api: httpx.AsyncClient,
    made: list[str],
    service: LocalService,
    artefacts: Path,
) -> None:
    monitor_id = f"e2e-{secrets.token_hex(4)}"
    made.append(monitor_id)
    await sign_in(page, gateway_url)

    # A monitor of the local service, made in the form.
    await page.goto(f"{gateway_url}/#/monitors/new")
    form = page.locator("#monitor-form")
    await form.locator("[name=name]").fill(f"Checkout service {monitor_id}")
    await form.locator("[name=id]").fill(monitor_id)
    await form.locator("[name=kind]").select_option("tcp")
    await form.locator("[name=target]").fill(f"127.0.0.1:{service.port}")
    await form.locator("[name=interval]").fill("1s")
    await form.locator("[name=tags]").fill("e2e, checkout")
    await page.locator("#save-monitor").click()
    await expect(page).to_have_url(f"{gateway_url}/#/monitors/{monitor_id}")

    head_state = page.locator("#monitor-state")
    await expect(head_state).to_have_attribute("data-state", "up", timeout=15_000)
    results = page.locator("#results-table tbody tr")
    await expect(results.nth(3)).to_be_visible()
    await page.screenshot(path=artefacts / "monitor.png", full_page=True)

    # The overview shows it UP too, then DOWN as soon as the service stops.
    await page.goto(f"{gateway_url}/#/")
    row = page.locator(f'[data-monitor-id="{monitor_id}"]')
    await expect(row).to_have_attribute("data-state", "up")
    await page.screenshot(path=artefacts / "overview.png")
    await page.goto(f"{gateway_url}/#/?q={monitor_id}")
    await expect(row).to_have_attribute("data-state", "up")

    await service.stop()
    stopped = time.monotonic()
    await expect(row).to_have_attribute(
        "data-state", "down", timeout=DOWN_ON_SCREEN_SECONDS * 1000
    )
    assert time.monotonic() - stopped < DOWN_ON_SCREEN_SECONDS

    # The incident that opened is acknowledged from the incidents page.
    await page.goto(f"{gateway_url}/#/incidents")
    incident = page.locator("tr[data-incident-id]", has_text=monitor_id).first
    await expect(incident).to_have_attribute("data-status", "open", timeout=10_000)
    await incident.get_by_role("button", name="Acknowledge").click()
    await expect(incident).to_have_attribute("data-status", "acknowledged")
    answer = await api.get("/api/v1/incidents", params={"monitor": monitor_id})
    statuses = [found["status"] for found in answer.json()["incidents"]]
    assert "acknowledged" in statuses

    # A visitor who is not signed in opens a status page showing it.
    slug = f"e2e-{secrets.token_hex(3)}"
    created = await api.post(
        "/api/v1/status-pages",
        json={"id": slug, "title": "Checkout status", "monitors": [monitor_id]},
    )
    assert created.status_code == 201, created.text
    visitor = await browser.new_context()
    try:
        public = await visitor.new_page()
        await public.goto(f"{gateway_url}/status/{slug}")
        await expect(public.locator("#status-page")).to_have_attribute(
            "aria-busy", "false"
        )
        await expect(public.locator("#status-title")).to_have_text("Checkout status")
        shown = public.locator("#status-monitors li.monitor")
        await expect(shown).to_have_count(1)
        await expect(shown).to_contain_text(f"Checkout service {monitor_id}")
        await expect(shown).to_have_class(re.compile(r"\bmonitor-down\b"))
        assert f"127.0.0.1:{service.port}" not in await public.content()
    finally:
        await visitor.close()
        await api.delete(f"/api/v1/status-pages/{slug}")


async def test_the_form_shows_each_problem_next_to_its_field(
    page: Page, gateway_url: str
) -> None:
    await sign_in(page, gateway_url)
    await page.goto(f"{gateway_url}/#/monitors/new")
    form = page.locator("#monitor-form")
    await form.locator("[name=name]").fill("Broken monitor")
    await form.locator("[name=kind]").select_option("tcp")
    await form.locator("[name=target]").fill("127.0.0.1:1")
    await form.locator("[name=interval]").fill("a fortnight")
    await page.locator("#save-monitor").click()

    interval = form.locator('.field[data-field="interval"] .field-problem')
    await expect(interval).to_be_visible()
    await expect(interval).not_to_be_empty()
    await expect(page).to_have_url(f"{gateway_url}/#/monitors/new")


async def test_signing_out_returns_to_the_login_page(
    page: Page, gateway_url: str
) -> None:
    await sign_in(page, gateway_url)
    await page.goto(f"{gateway_url}/#/account")
    head = page.locator(".page-head")
    await head.get_by_role("button", name="Sign out", exact=True).click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert await page.evaluate("localStorage.getItem('upcast.session')") is None


@pytest.mark.parametrize("width", [390])
async def test_the_overview_fits_a_phone(
    page: Page, gateway_url: str, width: int
) -> None:
    await page.set_viewport_size({"width": width, "height": 844})
    await sign_in(page, gateway_url)
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await page.get_by_role("button", name="Menu").click()
    await expect(page.get_by_role("link", name="Incidents", exact=True)).to_be_visible()


async def make_job(api: httpx.AsyncClient, made: list[str], state: str) -> str:
    """A push monitor that has reported ``state`` ("up" or "down")."""
    monitor_id = f"job-{secrets.token_hex(4)}"
    created = await api.post(
        "/api/v1/monitors",
        json={"id": monitor_id, "name": f"Nightly {monitor_id}", "kind": "push"},
    )
    assert created.status_code == 201, created.text
    made.append(monitor_id)
    await api.get(f"/push/{monitor_id}" + ("/fail" if state == "down" else ""))
    return monitor_id


async def controlled_by_service_worker(page: Page) -> bool:
    for _ in range(100):
        if await page.evaluate("navigator.serviceWorker.controller !== null"):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_dashboard_that_lost_its_connection_catches_up(
    page: Page, gateway_url: str, api: httpx.AsyncClient, made: list[str]
) -> None:
    monitor_id = await make_job(api, made, "up")
    await sign_in(page, gateway_url)
    await page.goto(f"{gateway_url}/#/?q={monitor_id}")
    row = page.locator(f'[data-monitor-id="{monitor_id}"]')
    await expect(row).to_have_attribute("data-state", "up")
    await expect(page.locator("#connection")).to_have_attribute("data-status", "live")

    # The connection drops and cannot come back while the job fails.
    await page.context.set_offline(True)
    await page.evaluate(
        "import('/ui/js/live.js').then(({live}) => live.socket.io.engine.close())"
    )
    await expect(page.locator("#connection")).not_to_have_attribute(
        "data-status", "live"
    )
    await api.get(f"/push/{monitor_id}/fail")
    await asyncio.sleep(1)
    await expect(row).to_have_attribute("data-state", "up")

    await page.context.set_offline(False)
    await expect(row).to_have_attribute("data-state", "down")
    await expect(page.locator("#connection")).to_have_attribute("data-status", "live")


async def test_the_overview_shows_the_last_known_status_offline(
    page: Page, gateway_url: str, api: httpx.AsyncClient, made: list[str]
) -> None:
    monitor_id = await make_job(api, made, "down")
    await sign_in(page, gateway_url)
    await page.goto(f"{gateway_url}/#/?q={monitor_id}")
    row = page.locator(f'[data-monitor-id="{monitor_id}"]')
    await expect(row).to_have_attribute("data-state", "down")
    assert await controlled_by_service_worker(page)
    # Loaded once through the service worker, which keeps the answer.
    await page.reload()
    await expect(row).to_have_attribute("data-state", "down")

    await page.context.set_offline(True)
    try:
        await page.reload()
        await expect(row).to_have_attribute("data-state", "down")
        await expect(page.locator("#offline")).to_be_visible()
    finally:
        await page.context.set_offline(False)
