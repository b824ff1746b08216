"""The feature pages end to end, as citizens use them: in Debian's chromium, against the
community service AND the notifications service on the real Kafka and PostgreSQL, the mails
read from an SMTP sink and their links followed in the browser.

A meeting with one seat: A registers and confirms from the mail; B gets the waiting list; A
cancels from the mail's link and B is promoted (B's mail says so, and so does the staff list).
An expression of interest, an open-data CSV downloaded from the page, and an erasure asked for
and confirmed from its mail. Every page: no axe violation, every control reached by the
keyboard, a screenshot in .devstack/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from browser_support import Visitor, check_page, scratch, serving
from playwright.async_api import Browser

from cowork.community.app import CommunitySettings
from cowork.community.app import create_app as community_app
from cowork.devstack.mailsink import EmlWriter, listening
from cowork.devtools import Infra, free_port
from cowork.devtools.services import bearer, eventually, running
from cowork.notifications.app import NotificationsSettings
from cowork.notifications.app import create_app as notifications_app

pytestmark = [pytest.mark.infra]


@dataclass
class Site:
    """The two services running: the pages' base URL, the API client, the mail sink."""

    base_url: str
    api: httpx.AsyncClient
    mailbox: EmlWriter

    def mails_to(self, address: str) -> list[Message]:
        return [m for m in self.mailbox.messages if address in str(m["To"])]

    async def mail(self, address: str, subject_start: str) -> Message:
        async def arrived() -> Message | None:
            found = [m for m in self.mails_to(address)
                     if str(m["Subject"]).startswith(subject_start)]
            return found[0] if found else None
        return await eventually(arrived)

    def link(self, mail: Message, kind: str) -> str:
        """The mail's link to a page (`registrations/confirm`, `erasure/confirm`…), as a path."""
        [text] = [p.get_content() for p in mail.walk() if p.get_content_type() == "text/plain"]
        found = re.search(re.escape(self.base_url) + r"/" + kind + r"\?token=[A-Za-z0-9_%-]+", text)
        assert found, f"no {kind} link in the mail:\n{text}"
        return found.group(0).removeprefix(self.base_url)


@pytest.fixture(scope="module")
async def site(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """Started once for this module's tests: each service costs seconds to start (migrations,
    consumer groups), and the suite must stay quick."""
    async with scratch(infra) as (new_database, prefix):
        common: dict[str, Any] = {"kafka_bootstrap": infra.kafka_bootstrap,
                                  "topic_prefix": prefix, "outbox_poll_seconds": 0.2,
                                  "log_json": False}
        smtp_port, port = free_port(), free_port()
        # The mails' links start with the service's public address: its port is chosen first.
        community = community_app(CommunitySettings(
            database_url=await new_database(), public_base_url=f"http://127.0.0.1:{port}",
            **common))
        notifications = notifications_app(NotificationsSettings(
            database_url=await new_database(), smtp_port=smtp_port, dispatch_poll_seconds=0.1,
            **common))
        with listening(tmp_path_factory.mktemp("mail"), smtp_port) as mailbox:
            async with running(notifications), serving(community, port=port) as served, \
                    httpx.AsyncClient(base_url=served) as api:
                yield Site(served, api, mailbox)


@pytest.fixture
async def open_tab(browser: Browser, site: Site, request: pytest.FixtureRequest
                   ) -> AsyncIterator[Callable[[], Awaitable[Visitor]]]:
    """Fresh tabs (each its own person: no cookies, no history) on the site."""
    contexts = []

    async def tab() -> Visitor:
        context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                            accept_downloads=True)
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(20_000)
        return Visitor(page, site.base_url, f"{request.node.name}-{len(contexts)}")

    yield tab
    for context in contexts:
        await context.close()


async def publish(site: Site, *, title: str, capacity: int, start: datetime) -> str:
    answer = await site.api.post("/v1/meetings", headers=bearer("officer"), json={
        "title": {"it": title, "en": f"{title} (EN)"},
        "description": {"it": "Presentazione dello spazio e domande.", "en": None},
        "address": "Biblioteca Civica, Via Marconi 36", "capacity": capacity,
        "start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def submit(visitor: Visitor, button: str) -> int:
    """Press the form's button; the page that comes back is screenshot. Its HTTP status."""
    async with visitor.page.expect_navigation() as navigation:
        await visitor.page.get_by_role("button", name=button).click()
    await visitor.screenshot()
    response = await navigation.value
    assert response is not None
    return response.status


async def register(visitor: Visitor, meeting_path: str, name: str, email: str, *,
                   check_form: bool = True, check_answer: bool = True) -> str:
    """Through the meeting's form; what the page then says. The axe and keyboard checks run
    once per kind of page (each costs seconds; the suite must stay quick)."""
    await visitor.open(meeting_path)
    if check_form:
        await check_page(visitor.page)
    page = visitor.page
    await page.locator("#field-full_name").fill(name)
    await page.locator("#field-email").fill(email)
    await page.locator("#field-consents-privacy").check()
    button = "Register for the meeting" if "lang=en" in meeting_path else "Iscriviti all'incontro"
    assert await submit(visitor, button) == 200
    if check_answer:
        await check_page(page)
    return await page.locator("main").inner_text()


async def test_one_seat_a_confirms_b_waits_a_cancels_from_the_mail_and_b_is_promoted(
        site: Site, open_tab: Callable[[], Awaitable[Visitor]]) -> None:
    meeting_id = await publish(site, title="Il coworking si presenta", capacity=1,
                               start=datetime.now(UTC) + timedelta(days=10))
    a_mail, b_mail = (f"{who}.{uuid4().hex[:6]}@example.org" for who in ("anna", "bruno"))
    listing = await open_tab()
    await listing.open("/meetings")
    await check_page(listing.page)
    # The link's name says which meeting (chromium spaces the hidden part off: `\s*`).
    await listing.page.get_by_role(
        "link", name=re.compile(r"^Dettagli e iscrizione\s*: Il coworking si presenta$")).click()
    assert listing.page.url.endswith(f"/meetings/{meeting_id}")

    anna = await open_tab()
    said = await register(anna, f"/meetings/{meeting_id}", "Anna Prova", a_mail)
    assert "Controlla la tua posta" in said
    requested = await site.mail(a_mail, "Conferma la tua iscrizione")
    await anna.open(site.link(requested, "registrations/confirm"))
    await check_page(anna.page)
    assert "il posto è tuo" in await anna.page.locator("main").inner_text()

    bruno = await open_tab()
    said = await register(bruno, f"/meetings/{meeting_id}?lang=en", "Bruno Prova", b_mail,
                         check_form=False)
    assert "You are on the waiting list" in said and "position 1" in said
    await site.mail(b_mail, "You are on the waiting list")

    # A mail scanner opening the cancel link changes nothing: only the button cancels.
    await anna.open(site.link(requested, "registrations/cancel"))
    await check_page(anna.page)
    assert await submit(anna, "Annulla l'iscrizione") == 200
    await check_page(anna.page)
    assert "La tua iscrizione è annullata." in await anna.page.locator("main").inner_text()

    promoted = await site.mail(b_mail, "A seat is yours")
    assert "Il coworking si presenta" in str(promoted["Subject"])
    staff = await site.api.get(f"/v1/meetings/{meeting_id}/registrations",
                               headers=bearer("staff"))
    assert {r["email"]: r["status"] for r in staff.json()["items"]} == {
        a_mail: "cancelled", b_mail: "pending_confirmation"}

    # A's confirm link, its registration now cancelled, and a link never given: both tell
    # only that the link does not work.
    for path in ("/registrations/confirm?token=not-a-token", site.link(requested,
                                                                       "registrations/confirm")):
        await anna.open(path)
        assert await anna.page.locator("h1").inner_text() == "Link non valido"
    await check_page(anna.page)


async def test_the_meetings_page_shows_upcoming_meetings_and_past_minutes(
        site: Site, open_tab: Callable[[], Awaitable[Visitor]]) -> None:
    past = await publish(site, title="Primo incontro pubblico", capacity=50,
                         start=datetime.now(UTC) - timedelta(hours=3))
    minutes = await site.api.post(f"/v1/meetings/{past}/minutes", headers=bearer("officer"),
                                  json={"text": "Presenti 31 persone.\nSi è parlato degli orari.",
                                        "attendance": 31})
    assert minutes.status_code == 200, minutes.text
    visitor = await open_tab()
    await visitor.open("/meetings?lang=en")
    await check_page(visitor.page)
    past_section = visitor.page.locator("section", has=visitor.page.locator("#past"))
    text = await past_section.inner_text()
    assert "Primo incontro pubblico (EN)" in text and "Attendance: 31" in text
    assert "Si è parlato degli orari." in text
    assert await visitor.page.locator(".minutes").first.get_attribute("lang") == "it"


async def test_a_form_with_mistakes_then_an_expression_of_interest_recorded(
        site: Site, open_tab: Callable[[], Awaitable[Visitor]]) -> None:
    visitor = await open_tab()
    await visitor.open("/interest")
    await check_page(visitor.page)
    page = visitor.page
    assert await submit(visitor, "Invia la manifestazione di interesse") == 422
    await check_page(page)
    assert await page.locator("#field-who").get_attribute("aria-invalid") == "true"
    assert "Scegli almeno una voce." in await page.locator("#error-weekdays").inner_text()

    await page.get_by_label("Libero professionista").check()
    await page.get_by_label("Postazione libera").check()
    for choice in ("Martedì", "Giovedì", "Mattina", "Ogni settimana", "Sì"):
        await page.get_by_label(choice, exact=True).check()
    await page.locator("#field-email").fill(f"carla.{uuid4().hex[:6]}@example.org")
    await page.locator("#field-consents-privacy").check()
    assert await submit(visitor, "Invia la manifestazione di interesse") == 200
    await check_page(page)
    assert "è stata registrata" in await page.locator("main").inner_text()


async def test_an_erasure_asked_for_on_the_page_is_confirmed_from_its_mail(
        site: Site, open_tab: Callable[[], Awaitable[Visitor]]) -> None:
    address = f"dario.{uuid4().hex[:6]}@example.org"
    meeting_id = await publish(site, title="Incontro per le imprese", capacity=20,
                               start=datetime.now(UTC) + timedelta(days=20))
    visitor = await open_tab()
    await register(visitor, f"/meetings/{meeting_id}", "Dario Prova", address,
                   check_form=False, check_answer=False)

    await visitor.open("/erasure")
    await check_page(visitor.page)
    await visitor.page.locator("#field-email").fill(address)
    assert await submit(visitor, "Chiedi la cancellazione") == 200
    await check_page(visitor.page)
    said = await visitor.page.locator("main").inner_text()
    assert "Se conserviamo dati con questo indirizzo" in said

    mail = await site.mail(address, "Conferma la cancellazione")
    await visitor.open(site.link(mail, "erasure/confirm"))
    await check_page(visitor.page)
    assert await submit(visitor, "Cancella i miei dati") == 200
    await check_page(visitor.page)
    assert "sono stati cancellati" in await visitor.page.locator("main").inner_text()
    staff = await site.api.get(f"/v1/meetings/{meeting_id}/registrations",
                               headers=bearer("staff"))
    assert [(r["email"], r["status"]) for r in staff.json()["items"]] == [(None, "cancelled")]


async def test_an_open_data_csv_is_downloaded_from_the_page(
        site: Site, open_tab: Callable[[], Awaitable[Visitor]], tmp_path: Path) -> None:
    # Last month: a month is built once it is over (docs/open-data.md).
    period = (datetime.now(UTC).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    built = await site.api.post(f"/v1/open-data/build?period={period}",
                                headers=bearer("operator"))
    assert built.status_code == 201, built.text
    visitor = await open_tab()
    await visitor.open("/open-data")
    await check_page(visitor.page)
    page = visitor.page
    assert await page.locator("a[rel=license]").get_attribute("href") == (
        "https://creativecommons.org/licenses/by/4.0/")
    # Each chart's text alternative states its data (here: that the month has none).
    for figure in await page.locator("figure").all():
        title = await figure.locator("figcaption").inner_text()
        alt = await figure.locator("img").get_attribute("alt")
        assert alt is not None and alt.startswith(title) and len(alt) > len(title) + 5
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name=f"CSV — Incontri pubblici e partecipazione, {period}"
                               ).click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert download.suggested_filename == f"meetings-{period}.csv"
    assert saved.read_text().startswith("period,meeting_id,title,start,capacity")
