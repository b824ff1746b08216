"""The browser tests' tools: a service served over real HTTP on a free port (uvicorn, in this
process and event loop, so a test can still reach its runtime and clock), a visitor that
screenshots every page it opens, the axe-core check and the keyboard-only walk."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import uvicorn
from axe_playwright_python.async_playwright import Axe
from fastapi import FastAPI
from playwright.async_api import Page, Response

from cowork.devtools import Infra, delete_topics, free_port, unique_name

CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium, driven by Playwright: no sandbox (tests run as root in CI), nothing that
# reaches out to the Internet (the machine has none; a stalled fetch would slow every page).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / ".devstack" / "screenshots"

_AXE = Axe()


@contextlib.asynccontextmanager
async def scratch(infra: Infra) -> AsyncIterator[tuple[Callable[[], Awaitable[str]], str]]:
    """A factory of empty databases and a topic prefix of their own, for services shared by a
    module's tests (starting a service costs seconds: migrations, consumer groups); the
    databases are dropped and the topics deleted afterwards."""
    made: list[str] = []

    async def new_database() -> str:
        name = unique_name("cowork_test_")
        conn = await asyncpg.connect(infra.pg_admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        made.append(name)
        return infra.database_url(name)

    prefix = unique_name("t") + "."
    try:
        yield new_database, prefix
    finally:
        conn = await asyncpg.connect(infra.pg_admin_url)
        try:
            for name in made:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        await delete_topics(infra.kafka_bootstrap, prefix)


@contextlib.asynccontextmanager
async def serving(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """`app` started (its lifespan: migrations, relay, consumers) and listening on `port` (a
    free one unless told: a service whose settings name its own address picks it first);
    yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    # The test runner keeps its own signal handling: Ctrl-C stops pytest, not just this server.
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # its exception, if it failed to start
            raise RuntimeError("the service stopped before it started serving")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class Visitor:
    """A browser tab on the site under test; every page it opens is saved as a screenshot
    (`.devstack/screenshots/<test>--<n>-<page>.png`) for a person to look at after the run."""

    def __init__(self, page: Page, base_url: str, test_name: str) -> None:
        self.page, self.base_url = page, base_url
        self._prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self._shots = 0

    async def open(self, path: str) -> Response:
        response = await self.page.goto(self.base_url + path)
        assert response is not None, path
        await self.screenshot()
        return response

    async def screenshot(self, label: str | None = None) -> Path:
        """The page as it is now, whole."""
        self._shots += 1
        name = label or re.sub(r"[^A-Za-z0-9]+", "-", self.page.url.removeprefix(self.base_url))
        path = SCREENSHOTS / f"{self._prefix}--{self._shots:02d}-{name.strip('-') or 'home'}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(path), full_page=True)
        return path


async def check_page(page: Page) -> None:
    """The page as loaded: no axe violation, and every link, field and button reached by the
    keyboard alone with the focus visible."""
    await assert_accessible(page)
    await tab_through(page)


async def assert_accessible(page: Page) -> None:
    """axe-core over the whole page, every rule it runs by default (WCAG 2 A/AA and best
    practices): any violation fails, each listed with the elements it was found on."""
    results = await _AXE.run(page)
    violations = results.response["violations"]
    assert not violations, f"axe found {len(violations)} violation(s) on {page.url}:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(f"{' '.join(map(str, n['target']))}: {n.get('failureSummary', '')}"
                    for n in v["nodes"])
        for v in violations)


# What a keyboard user must be able to reach. Of a radio group only one stop (Tab enters the
# group at its checked radio, or its first; the arrows move within).
_TAB_STOPS_JS = """() => {
  const selector = 'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), '
    + 'select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
  const groups = new Set();
  const stops = [...document.querySelectorAll(selector)].filter(e => {
    if (e.getClientRects().length === 0 || getComputedStyle(e).visibility === 'hidden') return false;
    if (e.type !== 'radio') return true;
    if (groups.has(e.name)) return false;
    const checked = document.querySelector(`input[type=radio][name="${e.name}"]:checked`);
    if (checked && checked !== e) return false;
    groups.add(e.name);
    return true;
  });
  stops.forEach((e, i) => { e.dataset.tabStop = String(i); });
  return stops.map(e => e.outerHTML.slice(0, 100));
}"""

# Where the focus is, and whether it shows: an outline of at least 2px or a ring, inside the
# viewport (a focused element scrolled out of sight or clipped away shows nothing).
_FOCUSED_JS = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const s = getComputedStyle(e);
  const r = e.getBoundingClientRect();
  return {stop: e.dataset.tabStop ?? null, html: e.outerHTML.slice(0, 100),
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
          ring: s.boxShadow !== 'none',
          inView: r.width > 1 && r.height > 1 && r.bottom > 0 && r.right > 0
                  && r.top < innerHeight && r.left < innerWidth};
}"""


async def tab_through(page: Page) -> list[dict[str, Any]]:
    """Press Tab from the top of the freshly loaded page until the focus leaves it; what was
    focused, in order. Fails on a focus that does not show."""
    stops = await page.evaluate(_TAB_STOPS_JS)
    reached: list[dict[str, Any]] = []
    for _ in range(len(stops) + 2):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(_FOCUSED_JS)
        if focused is None or (reached and focused["stop"] == reached[0]["stop"]):
            break
        assert (focused["outline"] or focused["ring"]) and focused["inView"], (
            f"the keyboard focus does not show on {focused['html']}")
        reached.append(focused)
    order = [int(f["stop"]) if f["stop"] is not None else f["html"] for f in reached]
    assert order == list(range(len(stops))), (
        "Tab must reach every link, field and button once, in reading order; expected "
        f"{stops}, reached {[f['html'] for f in reached]}")
    return reached
