"""E-mail end to end inside the service: events on real Kafka, intents in PostgreSQL, messages
through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from aiosmtpd.controller import Controller
from notifications_support import (
    Notifications,
    OffsetClock,
    bearer,
    booking_confirmed,
    running,
    settings_for,
)

from cowork.devtools import free_port
from cowork.devtools.kafka import collect, of_type
from cowork.notifications import domain
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics

pytestmark = [pytest.mark.infra]


def in_days(days: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)


async def test_one_email_per_event_however_often_the_event_arrives(svc: Notifications) -> None:
    member = uuid4()
    address = await svc.contact(member, language="it")
    confirmed = booking_confirmed(member, in_days(3))
    [envelope] = await svc.publish(confirmed)
    await svc.publish(envelope, envelope)  # the relay republished it, twice
    await svc.settled(cause_event_id=envelope.id)
    await asyncio.sleep(1.0)  # room for a wrong second mail to arrive

    mails = svc.sink.to(address)
    assert len(mails) == 1
    mail = mails[0]
    delivery = domain.delivery_id(envelope.id, "email", str(member))
    assert mail["Message-ID"] == f"<{delivery}@notifications.cowork.localhost>"
    assert mail["Subject"].startswith("Prenotazione confermata")
    parts = {part.get_content_type(): part for part in mail.walk()}
    assert {"text/plain", "text/html", "text/calendar"} <= set(parts)
    ics = parts["text/calendar"].get_payload(decode=True).decode()
    assert f"UID:{confirmed.booking_id}@cowork" in ics
    assert "METHOD:PUBLISH" in ics and "TZID=Europe/Rome" in ics
    [row] = await svc.deliveries(cause_event_id=envelope.id)
    assert (row["status"], row["attempts"]) == ("sent", 1)

    # The outcome is published for audit, with no address in it.
    sent = await collect(svc.bootstrap, svc.topic_prefix + topics.NOTIFICATIONS_EVENTS,
                         until=lambda rs: bool(of_type(rs, ev.NotificationSent.event_type)))
    [record] = of_type(sent, ev.NotificationSent.event_type)
    assert record.envelope.data.cause_event_id == envelope.id
    assert record.envelope.data.recipient_ref == str(member)
    assert address.encode() not in (record.value or b"")


async def test_a_sender_that_died_after_claiming_is_replaced_with_the_same_message_id(
        svc: Notifications) -> None:
    """The crash window: the row is `sending` (claimed) but its outcome was never recorded.
    Once its lease runs out it is sent again, under the same Message-ID."""
    member = uuid4()
    address = await svc.contact(member, language="en")
    cause = uuid4()
    delivery = domain.delivery_id(cause, "email", str(member))
    async with svc.runtime.db.acquire() as conn:
        await conn.execute(
            "INSERT INTO deliveries (id, cause_event_id, cause_event_type, channel, "
            "recipient_ref, template, subject_ref, payload, status, attempts, next_attempt_at, "
            "lease_until, created_at) VALUES ($1, $2, $3, 'email', $4, 'voucher_granted', $5, "
            "$6::jsonb, 'sending', 1, now(), now() - interval '1 second', now())",
            delivery, cause, ev.VoucherGranted.event_type, str(member), str(uuid4()),
            '{"amount_cents": 25000, "valid_until": "2027-06-30"}')
    svc.dispatcher.wake()
    [row] = await svc.settled(id=delivery)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    [mail] = svc.sink.to(address)
    assert mail["Message-ID"] == f"<{delivery}@notifications.cowork.localhost>"
    assert mail["Subject"] == "You have been granted a €250.00 voucher"


async def test_mail_is_in_the_members_language(svc: Notifications) -> None:
    italian, english = uuid4(), uuid4()
    to_italian = await svc.contact(italian, language="it")
    to_english = await svc.contact(english, language="en")
    for member in (italian, english):
        await svc.publish(ev.VoucherGranted(voucher_id=uuid4(), programme_id=uuid4(),
                                            member_id=member, amount_cents=12050,
                                            valid_until=date(2027, 6, 30)))
    await svc.settled(2, template="voucher_granted")
    [it_mail] = svc.sink.to(to_italian)
    [en_mail] = svc.sink.to(to_english)
    assert it_mail["Subject"] == "Ti è stato assegnato un voucher di € 120,50"
    assert en_mail["Subject"] == "You have been granted a €120.50 voucher"


async def test_opted_out_categories_are_not_mailed_but_essential_messages_are(
        svc: Notifications) -> None:
    member = uuid4()
    address = await svc.contact(member)
    response = await svc.client.put(f"/v1/members/{member}/preferences",
                                    json={"opted_out": ["membership", "reminders"]},
                                    headers=bearer("member", str(member)))
    assert response.status_code == 200, response.text
    [activated] = await svc.publish(ev.MembershipActivated(
        membership_id=uuid4(), member_id=member, plan_code="monthly", plan_kind="monthly",
        resource_kinds=["hot_desk"], period_start=date(2027, 3, 1),
        period_end=date(2027, 3, 31), price_cents=15000))
    [confirmed] = await svc.publish(booking_confirmed(member, in_days(5)))
    await svc.settled(cause_event_id=confirmed.id)
    [skipped] = await svc.settled(cause_event_id=activated.id)
    assert skipped["status"] == "cancelled" and "opted out" in skipped["last_error"]
    assert [m["Subject"][:22] for m in svc.sink.to(address)] == ["Prenotazione confermat"]


async def test_essential_categories_cannot_be_opted_out_of(svc: Notifications) -> None:
    member = uuid4()
    for body in ({"opted_out": ["essential"]}, {"opted_out": ["spam"]}, {"opted_out": "x"}):
        response = await svc.client.put(f"/v1/members/{member}/preferences", json=body,
                                        headers=bearer("member", str(member)))
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "opted_out"
    other = await svc.client.put(f"/v1/members/{uuid4()}/preferences",
                                 json={"opted_out": []}, headers=bearer("member", str(member)))
    assert other.status_code == 403


async def test_erasure_removes_the_contact_and_stops_mail(svc: Notifications) -> None:
    member = uuid4()
    address = await svc.contact(member)
    await svc.erase(member)
    await svc.until(lambda c: _gone(c, member))
    [envelope] = await svc.publish(booking_confirmed(member, in_days(4)))
    # The event was applied (the booking is known) but no mail was recorded or sent.
    await svc.until(lambda c: c.fetchval("SELECT count(*) FROM bookings WHERE member_id = $1",
                                         member))
    assert await svc.deliveries(cause_event_id=envelope.id) == []
    # A contact card replayed from the compacted topic after the erasure does not come back.
    await svc.publish(ev.ContactCard(member_id=member, full_name="X", email=address, phone=None,
                                     language="it"))
    await asyncio.sleep(1.0)
    assert await svc.until(lambda c: _gone(c, member))
    assert svc.sink.to(address) == []


async def _gone(conn, member) -> bool:  # type: ignore[no-untyped-def]
    return not await conn.fetchval("SELECT count(*) FROM contacts WHERE member_id = $1", member)


async def test_officers_are_mailed_about_budget_thresholds(svc: Notifications) -> None:
    [envelope] = await svc.publish(ev.BudgetThresholdReached(
        programme_id=uuid4(), threshold_pct=80, available_cents=200000))
    [row] = await svc.settled(cause_event_id=envelope.id)
    assert (row["recipient_ref"], row["status"]) == ("officers", "sent")
    [mail] = svc.sink.to("ufficio.lavoro@comune.novi-ligure.example")
    assert mail["Subject"] == "Programma voucher: raggiunto il 80% del budget"


async def test_mail_waits_for_a_contact_card_that_arrives_after_the_event(
        svc: Notifications) -> None:
    member = uuid4()
    [envelope] = await svc.publish(booking_confirmed(member, in_days(2)))
    await svc.until(lambda c: c.fetchval(
        "SELECT count(*) FROM deliveries WHERE cause_event_id = $1 AND attempts >= 1",
        envelope.id))
    address = await svc.contact(member, language="en")
    [row] = await svc.settled(cause_event_id=envelope.id)
    assert row["status"] == "sent"
    assert len(svc.sink.to(address)) == 1


class RefusesEveryone:
    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        return "550 5.1.1 no such mailbox"


async def test_an_unreachable_smtp_server_is_retried_then_dead_and_a_refusal_is_dead_at_once(
        infra, new_database, topic_prefix, smtp_sink) -> None:  # type: ignore[no-untyped-def]
    nobody_listens = free_port()
    settings = settings_for(infra, await new_database(), topic_prefix, nobody_listens)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as down:
        member = uuid4()
        await down.contact(member)
        [envelope] = await down.publish(booking_confirmed(member, in_days(2)))
        [row] = await down.settled(cause_event_id=envelope.id)
        assert (row["status"], row["attempts"]) == ("dead", 4)
        assert "ConnectionRefused" in row["last_error"] or "SMTPConnect" in row["last_error"]

    refusing_port = free_port()
    controller = Controller(RefusesEveryone(), hostname="127.0.0.1", port=refusing_port)
    controller.start()
    try:
        settings = settings_for(infra, await new_database(), topic_prefix + "r.",
                                refusing_port)
        async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as strict:
            member = uuid4()
            await strict.contact(member)
            [envelope] = await strict.publish(booking_confirmed(member, in_days(2)))
            [row] = await strict.settled(cause_event_id=envelope.id)
            assert (row["status"], row["attempts"]) == ("dead", 1)
            assert row["last_error"].startswith("recipient refused: 550")
    finally:
        controller.stop()
