"""The browser tests: the community pages served over HTTP against the real stack (Kafka,
PostgreSQL), driven in Debian's headless chromium (`make browser-tools` installs it; without it
these tests fail, never skip)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, Visitor, scratch, serving
from playwright.async_api import Browser, async_playwright

from cowork.community.app import CommunitySettings, create_app
from cowork.devtools import Infra


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser-tools` (as root) installs Debian's chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                    args=CHROMIUM_ARGS, headless=True)
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
async def community_settings(infra: Infra) -> AsyncIterator[CommunitySettings]:
    """One database and topic prefix per test module: its tests share one running service."""
    async with scratch(infra) as (new_database, prefix):
        yield CommunitySettings(database_url=await new_database(),
                                kafka_bootstrap=infra.kafka_bootstrap, topic_prefix=prefix,
                                outbox_poll_seconds=0.2, log_json=False)


@pytest.fixture(scope="module")
async def community(community_settings: CommunitySettings) -> AsyncIterator[str]:
    """The community service with its pages, started; its base URL."""
    async with serving(create_app(community_settings)) as base_url:
        yield base_url


@pytest.fixture
async def visitor(browser: Browser, community: str, request: pytest.FixtureRequest
                  ) -> AsyncIterator[Visitor]:
    """A fresh tab (no cookies, no history) on the community pages."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield Visitor(page, community, request.node.name)
    finally:
        await context.close()
