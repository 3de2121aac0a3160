"""The dashboard benchmark: loading the overview of a large fleet in Chromium.

``upcast serve`` runs as a user starts it; the dashboard is driven by
Debian's headless Chromium through Playwright. Steps:

1. Start ``upcast serve`` and apply ``--monitors`` push monitors (they run
   no checks, so the machine's time goes to the gateway and the browser),
   then ping a tenth of them so the overview shows a mix of states.
2. Make a viewer account and sign in through the login page.
3. Load the overview ``--loads`` times. For each load: the first
   contentful paint (the browser's paint timing), the first meaningful
   paint (the moment the list first shows monitors), and the moment the
   overview is usable (every monitor loaded, counts shown, rows on
   screen), all from the start of navigation. The first load is in a
   fresh browser profile holding only the session (nothing cached, no
   service worker); the others are repeat visits in that profile.
4. The JavaScript and CSS the overview needs, in bytes as sent
   (compressed) and as read.
5. Send ``--changes`` pings that flip the first monitor on screen between
   UP and DOWN, and time each from the ping leaving this process to the
   row's state changing on screen.

Targets: first meaningful paint and usable overview under 1 s with 10,000
monitors; a state change on screen under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import report
from bench.report import progress, step
from bench.serving import ServeProcess

SUMMARY = "overview load times in Chromium, bytes shipped, state change to screen"

TARGETS = {
    "meaningful_paint_ms": 1000.0,
    "usable_ms": 1000.0,
    "change_to_screen_p95_ms": 1000.0,
}

CHROMIUM = "/usr/bin/chromium"
APPLY_PART = 5000
VIEWER = "bench-viewer"

# Runs in the page after each navigation: when did rows first show, and when
# was the overview whole (the count of monitors shown and rows on screen)?
WATCH_OVERVIEW = """
(total) => new Promise((resolve) => {
  const found = {meaningful: null, usable: null};
  const look = () => {
    const rows = document.querySelectorAll("[data-monitor-id]").length;
    const now = performance.now();
    if (rows > 0 && found.meaningful === null) found.meaningful = now;
    const text = document.querySelector(".page-overview")?.textContent || "";
    const counted = text.replace(/[,\\u202f\\u00a0 ]/g, "").includes(String(total));
    if (rows > 0 && counted) {
      found.usable = now;
      resolve(found);
      return;
    }
    requestAnimationFrame(look);
  };
  look();
})
"""

SESSION = "() => localStorage.getItem('upcast.session')"

KEEP_SESSION = """
if (!localStorage.getItem("upcast.session")) {
  localStorage.setItem("upcast.session", %s);
}
"""

FIRST_CONTENTFUL_PAINT = """
() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null
"""

ASSETS = """
() => performance.getEntriesByType("resource")
  .map((entry) => entry.name)
  .filter((name) => /\\.(m?js|css)(\\?|$)/.test(new URL(name).pathname))
"""

# Resolves with the wall-clock time (ms) at which a row's state changes.
WATCH_ROW = """
([id, from]) => new Promise((resolve) => {
  const check = () => {
    const row = document.querySelector(`[data-monitor-id="${CSS.escape(id)}"]`);
    if (row && row.dataset.state !== from) {
      resolve(performance.timeOrigin + performance.now());
      return true;
    }
    return false;
  };
  if (check()) return;
  const observer = new MutationObserver(() => check() && observer.disconnect());
  observer.observe(document.body, {subtree: true, attributes: true, childList: true});
})
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--monitors", type=int, default=10_000, help="monitors (default: 10,000)"
    )
    parser.add_argument(
        "--loads", type=int, default=6, help="overview loads timed (default: 6)"
    )
    parser.add_argument(
        "--changes",
        type=int,
        default=10,
        help="state changes timed to the screen (default: 10)",
    )
    parser.add_argument(
        "--shards", type=int, default=2, help="shard actors (default: 2)"
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        help="also save a picture of the loaded overview to this PNG file",
    )
    report.add_output(parser, "dashboard")


def monitor_ids(count: int) -> list[str]:
    return [f"dash-{index:06d}" for index in range(count)]


async def apply_monitors(http: httpx.AsyncClient, ids: list[str]) -> None:
    """Push monitors that expect a ping a day, made in parts."""
    for start in range(0, len(ids), APPLY_PART):
        part = [
            {
                "id": monitor_id,
                "name": f"Job {monitor_id}",
                "kind": "push",
                "interval": "24h",
                "tags": ["bench", f"team-{index % 20}"],
            }
            for index, monitor_id in enumerate(ids[start : start + APPLY_PART], start)
        ]
        answer = await http.post("/api/v1/apply", json={"monitors": part})
        if answer.status_code != 200:
            raise RuntimeError(f"applying failed: {answer.text[:500]}")
        progress(f"applied {min(start + APPLY_PART, len(ids)):,} of {len(ids):,}")


async def wait_for_overview(http: httpx.AsyncClient, count: int) -> None:
    """Until the gateway's overview holds every monitor."""
    began = time.monotonic()
    while time.monotonic() - began < 600:
        answer = await http.get("/api/v1/overview")
        if answer.status_code == 200 and len(answer.json()["monitors"]) >= count:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError("the overview did not hold every monitor within 10 minutes")


async def asset_bytes(url: str, assets: list[str]) -> dict[str, int]:
    """Bytes of the overview's scripts and styles, as sent and as read."""
    sent = read = 0
    async with httpx.AsyncClient(headers={"Accept-Encoding": "br, gzip"}) as http:
        for asset in sorted(set(assets)):
            if not asset.startswith(url):
                continue
            async with http.stream("GET", asset) as answer:
                raw = b"".join([chunk async for chunk in answer.aiter_raw()])
            sent += len(raw)
            read += len((await http.get(asset)).content)
    return {"files": len(set(assets)), "sent": sent, "read": read}


def quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    at95 = min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[at95], 1),
        "max": round(ordered[-1], 1),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    folder = tempfile.TemporaryDirectory(prefix="upcast-bench-dashboard-")
    # One process sends every push ping: the per-client ingest limit is off.
    serve = ServeProcess(
        Path(folder.name), args.shards, extra=["--rate-limit", "ingest=off"]
    )
    figures: dict[str, Any] = {"monitors": args.monitors}
    try:
        step(f"starting upcast serve ({args.shards} shards)")
        serve.wait_until_serving()
        ids = monitor_ids(args.monitors)
        password = secrets.token_urlsafe(18)
        headers = {"Authorization": f"Bearer {serve.api_key}"}
        async with httpx.AsyncClient(
            base_url=serve.url, headers=headers, timeout=300
        ) as http:
            step(f"applying {args.monitors:,} push monitors")
            await apply_monitors(http, ids)
            for monitor_id in ids[::10]:
                pinged = await http.get(f"/push/{monitor_id}")
                pinged.raise_for_status()
            await wait_for_overview(http, len(ids))
            made = await http.post(
                "/api/v1/users",
                json={"name": VIEWER, "password": password, "role": "viewer"},
            )
            if made.status_code != 201:
                raise RuntimeError(f"making the viewer failed: {made.text[:300]}")

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, chromium_sandbox=False
            )
            try:
                context = await browser.new_context(
                    viewport={"width": 1280, "height": 800}
                )
                page = await context.new_page()
                step("signing in through the login page")
                await page.goto(f"{serve.url}/#/login")
                await page.get_by_label("Name").fill(VIEWER)
                await page.get_by_label("Password").fill(password)
                await page.get_by_role("button", name="Sign in").click()
                await page.wait_for_selector("[data-monitor-id]", timeout=60_000)
                signed_in = await page.evaluate(SESSION)
                await context.close()

                # A fresh profile that holds only the session: nothing cached,
                # no service worker, as a browser opening the link the first
                # time after signing in elsewhere.
                context = await browser.new_context(
                    viewport={"width": 1280, "height": 800}
                )
                await context.add_init_script(KEEP_SESSION % json.dumps(signed_in))
                page = await context.new_page()
                step(f"loading the overview {args.loads} times")
                loads = await time_loads(page, serve.url, args.loads, len(ids))
                if args.screenshot is not None:
                    await page.screenshot(path=args.screenshot)
                assets = await page.evaluate(ASSETS)
                figures.update(loads)
                shipped = await asset_bytes(serve.url, assets)
                figures["script_and_style_files"] = shipped["files"]
                figures["script_and_style_bytes_sent"] = shipped["sent"]
                figures["script_and_style_bytes_read"] = shipped["read"]

                step(f"timing {args.changes} state changes to the screen")
                delays = await time_changes(page, serve.url, args.changes)
                figures["change_to_screen_ms"] = quantiles(delays)
                figures["change_to_screen_p95_ms"] = figures["change_to_screen_ms"][
                    "p95"
                ]
            finally:
                await browser.close()
    finally:
        serve.stop()
        folder.cleanup()
    return figures


async def time_loads(page: Any, url: str, loads: int, total: int) -> dict[str, Any]:
    """Load the overview ``loads`` times; the first load and the rest's medians."""
    timings: list[dict[str, float]] = []
    for number in range(loads):
        # A new document each time: going to the same address with only the
        # hash changed would not load the page again.
        await page.goto("about:blank")
        await page.goto(f"{url}/#/", wait_until="commit")
        found = await page.evaluate(WATCH_OVERVIEW, total)
        paint = await page.evaluate(FIRST_CONTENTFUL_PAINT)
        timing = {
            "contentful_paint_ms": round(paint or 0.0, 1),
            "meaningful_paint_ms": round(found["meaningful"], 1),
            "usable_ms": round(found["usable"], 1),
        }
        progress(f"load {number + 1}: {timing}")
        timings.append(timing)
    first, repeats = timings[0], timings[1:] or timings
    figures: dict[str, Any] = {f"first_visit_{k}": v for k, v in first.items()}
    for key in first:
        figures[key] = round(statistics.median(t[key] for t in repeats), 1)
    figures["loads"] = timings
    return figures


async def time_changes(page: Any, url: str, changes: int) -> list[float]:
    """Flip the first monitor on screen between UP and DOWN; ms each took."""
    row = page.locator("[data-monitor-id]").first
    monitor_id = await row.get_attribute("data-monitor-id")
    delays: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for number in range(changes):
            state = await row.get_attribute("data-state")
            path = f"/push/{monitor_id}" + ("" if state == "down" else "/fail")
            watching = asyncio.ensure_future(
                page.evaluate(WATCH_ROW, [monitor_id, state])
            )
            await asyncio.sleep(0.05)
            sent = time.time() * 1000
            (await http.get(path)).raise_for_status()
            shown = await asyncio.wait_for(watching, timeout=30)
            delays.append(shown - sent)
            progress(f"change {number + 1}: {delays[-1]:.0f} ms")
            await asyncio.sleep(0.3)
    return delays


def verdicts(figures: dict[str, Any]) -> list[report.Row]:
    row = report.row

    def under(name: str, key: str) -> report.Row:
        value, goal = figures.get(key), TARGETS[key]
        return row(name, value, f"< {goal:g}", value is not None and value < goal)

    changes = figures["change_to_screen_ms"]
    return [
        row("monitors", figures["monitors"]),
        row(
            "first visit: first contentful paint, ms",
            figures.get("first_visit_contentful_paint_ms"),
        ),
        row(
            "first visit: first meaningful paint, ms",
            figures.get("first_visit_meaningful_paint_ms"),
        ),
        row("first visit: usable overview, ms", figures.get("first_visit_usable_ms")),
        row("first contentful paint, ms (median)", figures.get("contentful_paint_ms")),
        under("first meaningful paint, ms (median)", "meaningful_paint_ms"),
        under("usable overview, ms (median)", "usable_ms"),
        row("JS and CSS files", figures["script_and_style_files"]),
        row("JS and CSS bytes sent", figures["script_and_style_bytes_sent"]),
        row("JS and CSS bytes read", figures["script_and_style_bytes_read"]),
        row("state change to screen, p50 ms", changes["p50"]),
        under("state change to screen, p95 ms", "change_to_screen_p95_ms"),
        row("state change to screen, max ms", changes["max"]),
    ]


def run(args: argparse.Namespace) -> int:
    step("dashboard benchmark")
    figures = asyncio.run(measure(args))
    rows = verdicts(figures)
    report.print_table(rows)
    report.write_json(
        args.json,
        "dashboard",
        settings={
            "monitors": args.monitors,
            "loads": args.loads,
            "changes": args.changes,
            "shards": args.shards,
        },
        targets=TARGETS,
        figures=figures,
    )
    return 0
