"""Community and notifications through the HTTP API, real Kafka and an SMTP sink: a cancelled
meeting is mailed to its registrants even when notifications reads everything late (the
contact card outlives the cancellation by a day, then goes); a registrant's own cancellation is
not mailed and their card is forgotten at once."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from cowork.community import commands
from cowork.community.app import CommunitySettings
from cowork.community.app import create_app as community_app
from cowork.devtools import ManualClock
from cowork.devtools.services import bearer, eventually, running
from cowork.notifications.app import NotificationsSettings
from cowork.notifications.app import create_app as notifications_app
from cowork.shared.scheduler import Scheduler

pytestmark = [pytest.mark.infra]

PUBLIC = "https://comune.example/cowork"


def common(infra: Any, topic_prefix: str) -> dict[str, Any]:
    return {"kafka_bootstrap": infra.kafka_bootstrap, "topic_prefix": topic_prefix,
            "outbox_poll_seconds": 0.2, "log_json": False}


async def community(infra: Any, new_database: Any, topic_prefix: str,
                    clock: ManualClock) -> Any:
    # The jobs run when the test says (Scheduler below), on the test's clock.
    return community_app(CommunitySettings(
        database_url=await new_database(), run_scheduler=False, public_base_url=PUBLIC,
        **common(infra, topic_prefix)), clock=clock)


async def notifications(infra: Any, new_database: Any, topic_prefix: str,
                        smtp_port: int) -> Any:
    return notifications_app(NotificationsSettings(
        database_url=await new_database(), smtp_port=smtp_port, dispatch_poll_seconds=0.1,
        delivery_retry_base_seconds=0.2, delivery_retry_max_seconds=1.0,
        **common(infra, topic_prefix)))


async def meeting(client: httpx.AsyncClient, now: datetime, capacity: int) -> str:
    start = now + timedelta(days=14)
    response = await client.post("/v1/meetings", headers=bearer("officer"), json={
        "title": {"it": "Incontro sul coworking", "en": "Coworking meeting"},
        "description": {"it": "Chi userebbe lo spazio."},
        "address": "Biblioteca Civica, Via Marconi 36, Novi Ligure",
        "start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat(),
        "capacity": capacity, "open_to": "everyone"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def register(client: httpx.AsyncClient, meeting_id: str, email: str) -> str:
    response = await client.post(f"/v1/meetings/{meeting_id}/registrations", json={
        "full_name": "Persona Registrata", "email": email, "language": "en",
        "consents": {"privacy": True}})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def all_published(db: asyncpg.Pool) -> bool | None:
    return await db.fetchval("SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL") or None


def to(mailbox: Any, address: str) -> list[Message]:
    return [m for m in mailbox.messages if address in str(m["To"])]


def text_of(message: Message) -> str:
    [plain] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    return str(plain.get_content())  # type: ignore[attr-defined]


async def forgotten(db: asyncpg.Pool, registration_id: str) -> bool | None:
    """Notifications applied the card's tombstone: no card left, the id remembered."""
    gone = await db.fetchval(
        "SELECT NOT EXISTS (SELECT 1 FROM community_contacts WHERE registration_id = $1) "
        "AND EXISTS (SELECT 1 FROM community_forgotten WHERE registration_id = $1)",
        UUID(registration_id))
    return gone or None


async def test_a_cancelled_meeting_is_mailed_even_to_a_late_reader_then_the_card_goes(
        infra, new_database, topic_prefix, sink) -> None:  # type: ignore[no-untyped-def]
    smtp_port, mailbox = sink
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    seated, waiting = (f"{who}.{uuid4().hex[:6]}@example.org" for who in ("seat", "wait"))
    town = await community(infra, new_database, topic_prefix, clock)
    async with running(town) as client:
        meeting_id = await meeting(client, clock(), capacity=1)
        ids = [await register(client, meeting_id, seated),
               await register(client, meeting_id, waiting)]
        cancelled = await client.post(f"/v1/meetings/{meeting_id}/cancel",
                                      headers=bearer("officer"))
        assert cancelled.status_code == 200, cancelled.text
        db = town.state.runtime.db
        # Notifications starts only once every event and card is on Kafka: the worst order
        # for a mail that needs its card (a tombstone at once would be read with them).
        await eventually(lambda: all_published(db))
        mails = await notifications(infra, new_database, topic_prefix, smtp_port)
        async with running(mails):
            for address in (seated, waiting):
                async def told(address: str = address) -> list[Message] | None:
                    found = [m for m in to(mailbox, address)
                             if str(m["Subject"]).startswith("Meeting cancelled")]
                    return found or None

                [message] = await eventually(told)
                assert "has been cancelled" in text_of(message)
            # A day later the cards are tombstoned, and notifications forgets them.
            clock.advance(days=1, minutes=1)
            await Scheduler(db, commands.jobs(town.state.runtime.settings),
                            clock=clock).run_due()
            for registration_id in ids:
                await eventually(lambda r=registration_id: forgotten(mails.state.runtime.db, r))


async def test_the_registrants_own_cancellation_is_not_mailed_and_forgets_the_card_at_once(
        infra, new_database, topic_prefix, sink) -> None:  # type: ignore[no-untyped-def]
    smtp_port, mailbox = sink
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    address = f"self.{uuid4().hex[:6]}@example.org"
    town = await community(infra, new_database, topic_prefix, clock)
    mails = await notifications(infra, new_database, topic_prefix, smtp_port)
    async with running(town) as client, running(mails):
        meeting_id = await meeting(client, clock(), capacity=2)
        registration_id = await register(client, meeting_id, address)
        async def mailed() -> list[Message] | None:
            return to(mailbox, address) or None

        [confirm_mail] = await eventually(mailed)
        # The registrant clicks the cancel link the mail carries (no clock moves after it).
        link = re.search(r"/registrations/cancel\?token=([\w-]+)", text_of(confirm_mail))
        assert link is not None
        cancelled = await client.post("/v1/registrations/cancel",
                                      params={"token": link.group(1)})
        assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
        await eventually(lambda: forgotten(mails.state.runtime.db, registration_id))
        await asyncio.sleep(1.0)  # room for a wrong mail
        assert len(to(mailbox, address)) == 1, "the cancellation itself is not mailed"
