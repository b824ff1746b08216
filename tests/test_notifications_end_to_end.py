"""Across services, through their HTTP APIs and Kafka only: a member registers and buys a plan
(membership), books a desk (booking), and the notifications service mails them — the
confirmation with its .ics, once, in their language; the cancellation; and after erasure,
nothing more, with their contact gone."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from email.message import Message
from uuid import UUID, uuid4

import asyncpg
import pytest

from cowork.booking.app import BookingSettings
from cowork.booking.app import create_app as booking_app
from cowork.devtools.kafka import publish
from cowork.devtools.services import bearer, running
from cowork.membership.app import MembershipSettings
from cowork.membership.app import create_app as membership_app
from cowork.notifications.app import NotificationsSettings
from cowork.notifications.app import create_app as notifications_app
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # Monday 08:00 in Rome


STAFF = bearer("staff", "front-desk")



async def eventually(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the services never caught up")
        await asyncio.sleep(0.2)


async def test_member_is_mailed_on_booking_and_cancellation_and_not_after_erasure(
        infra, new_database, topic_prefix, sink) -> None:  # type: ignore[no-untyped-def]
    smtp_port, mailbox = sink
    common = {"kafka_bootstrap": infra.kafka_bootstrap, "topic_prefix": topic_prefix,
              "outbox_poll_seconds": 0.2, "log_json": False}
    notifications_db = await new_database()
    membership = membership_app(MembershipSettings(database_url=await new_database(), **common),
                                clock=lambda: NOW)
    booking = booking_app(BookingSettings(database_url=await new_database(), **common),
                          clock=lambda: NOW)
    notifications = notifications_app(NotificationsSettings(
        database_url=notifications_db, smtp_port=smtp_port, dispatch_poll_seconds=0.1,
        **common))

    def mails(address: str) -> list[Message]:
        return [m for m in mailbox.messages if address in str(m["To"])]

    async with running(membership) as people, running(booking) as desks, \
            running(notifications) as mailer:
        plan = {"code": "monthly", "name": "Monthly", "kind": "monthly", "price_cents": 15000,
                "resource_kinds": ["hot_desk"]}
        assert (await people.post("/v1/plans", json=plan, headers=STAFF)).status_code == 201
        address = f"anna.{uuid4().hex[:6]}@example.org"
        registered = await people.post("/v1/members", headers=STAFF, json={
            "kind": "person", "full_name": "Anna Rossi", "email": address, "language": "en",
            "tax_code": "BNCGLI90A41F965D", "consents": {"privacy": True}})
        assert registered.status_code == 201, registered.text
        member_id = registered.json()["id"]
        me = bearer("member", member_id)
        bought = await people.post(f"/v1/members/{member_id}/memberships",
                                   json={"plan_code": "monthly", "starts_on": "2027-03-01"},
                                   headers=me)
        assert bought.status_code == 201, bought.text

        space = (await desks.post("/v1/spaces", json={
            "name": "Biblioteca Civica", "address": "Via Marconi 36, Novi Ligure",
            "opening_hours": {"mon": [["08:00", "19:00"]], "tue": [["08:00", "19:00"]]}},
            headers=STAFF)).json()
        desk = (await desks.post(f"/v1/spaces/{space['id']}/resources", json={
            "name": "Hot desk 1", "kind": "hot_desk", "price_per_hour_cents": 300},
            headers=STAFF)).json()

        async def booked():  # type: ignore[no-untyped-def]
            response = await desks.post("/v1/bookings", headers=me, json={
                "member_id": member_id, "resource_id": desk["id"],
                "start": "2027-03-02T09:00:00+01:00", "end": "2027-03-02T11:00:00+01:00"})
            return response if response.status_code == 201 else None

        booking_id = (await eventually(booked)).json()["id"]

        def confirmations() -> list[Message]:
            return [m for m in mails(address) if m["Subject"].startswith("Booking confirmed")]

        async def confirmed():  # type: ignore[no-untyped-def]
            return confirmations()

        [confirmation] = await eventually(confirmed)
        assert confirmation["Subject"] == ("Booking confirmed: Hot desk 1, "
                                           "Tuesday 2 March 2027, 09:00")
        [ics] = [p for p in confirmation.walk() if p.get_content_type() == "text/calendar"]
        calendar = ics.get_payload(decode=True).decode()
        assert f"UID:{booking_id}@cowork" in calendar and "METHOD:PUBLISH" in calendar
        assert "DTSTART;TZID=Europe/Rome:20270302T090000" in calendar

        cancelled = await desks.post(f"/v1/bookings/{booking_id}/cancel", headers=me)
        assert cancelled.status_code == 200, cancelled.text

        async def cancellation():  # type: ignore[no-untyped-def]
            return [m for m in mails(address) if m["Subject"].startswith("Booking cancelled")]

        [cancel_mail] = await eventually(cancellation)
        [cancel_ics] = [p for p in cancel_mail.walk() if p.get_content_type() == "text/calendar"]
        assert "METHOD:CANCEL" in cancel_ics.get_payload(decode=True).decode()
        assert len(confirmations()) == 1, "the confirmation went once"

        log = await mailer.get(f"/v1/deliveries?recipient_ref={member_id}", headers=me)
        assert {d["template"] for d in log.json()} >= {"booking_confirmed", "booking_cancelled"}

        erased = await people.delete(f"/v1/members/{member_id}", headers=STAFF)
        assert erased.status_code == 204, erased.text
        conn = await asyncpg.connect(notifications_db)
        try:
            async def contact_gone():  # type: ignore[no-untyped-def]
                contacts = await conn.fetchval(
                    "SELECT count(*) FROM contacts WHERE member_id = $1", UUID(member_id))
                erased_rows = await conn.fetchval(
                    "SELECT count(*) FROM erased_members WHERE member_id = $1", UUID(member_id))
                return contacts == 0 and erased_rows == 1

            await eventually(contact_gone)
            before = len(mails(address))
            # A later event about the member (a voucher granted) mails nobody.
            grant = ev.VoucherGranted(voucher_id=uuid4(), programme_id=uuid4(),
                                      member_id=UUID(member_id), amount_cents=5000,
                                      valid_until=date(2027, 12, 31))
            envelope = Envelope.wrap(grant, source="/cowork/vouchers")
            await publish(infra.kafka_bootstrap, topic_prefix + topics.VOUCHERS_EVENTS,
                          [envelope])

            async def applied():  # type: ignore[no-untyped-def]
                return await conn.fetchval(
                    "SELECT count(*) FROM inbox WHERE event_id = $1", envelope.id)

            await eventually(applied)
            await asyncio.sleep(1.0)
            assert len(mails(address)) == before
            assert await conn.fetchval("SELECT count(*) FROM deliveries WHERE cause_event_id = $1",
                                       envelope.id) == 0
        finally:
            await conn.close()
