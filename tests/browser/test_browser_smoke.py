"""The browser test set-up works: Chromium reaches the session's gateway."""

import json

from playwright.async_api import Page


async def test_browser_reads_the_gateways_health_as_json(
    page: Page, gateway_url: str
) -> None:
    response = await page.goto(f"{gateway_url}/healthz")

    assert response is not None
    assert response.ok
    assert json.loads(await page.inner_text("body")) == {"status": "ok"}
