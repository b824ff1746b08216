"""Booking reminders 24 h and 1 h before the start, from the durable schedule in PostgreSQL,
on the injectable clock: once each, at the right time, never after a cancellation, never late
for a booking that began, and still there after a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from notifications_support import (
    Notifications,
    OffsetClock,
    SmtpSink,
    booking_confirmed,
    running,
    settings_for,
)

from cowork.devtools import Infra
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


def three_days_ahead(clock: OffsetClock) -> datetime:
    return (clock() + timedelta(days=3)).replace(microsecond=0)


async def jobs_for(svc: Notifications, booking_id) -> int:  # type: ignore[no-untyped-def]
    return await svc.until(lambda c: c.fetchval(
        "SELECT count(*) FROM scheduled_jobs WHERE key = $1", str(booking_id)))


async def test_each_reminder_is_sent_once_at_its_time(svc: Notifications) -> None:
    member = uuid4()
    address = await svc.contact(member, language="it")
    start = three_days_ahead(svc.clock)
    booking = booking_confirmed(member, start)
    [confirmed] = await svc.publish(booking)
    await svc.settled(cause_event_id=confirmed.id)
    assert await jobs_for(svc, booking.booking_id) == 2
    scheduler = svc.scheduler()

    assert await scheduler.run_due() == 0, "nothing is due three days ahead"
    svc.clock.offset = start - timedelta(hours=24, minutes=1) - datetime.now(UTC)
    assert await scheduler.run_due() == 0, "not a minute early"
    svc.clock.advance(minutes=2)
    assert await scheduler.run_due() == 1
    assert await scheduler.run_due() == 0, "once"
    await svc.settled(template="booking_reminder")
    svc.clock.offset = start - timedelta(minutes=59) - datetime.now(UTC)
    assert await scheduler.run_due() == 1
    await svc.settled(2, template="booking_reminder")
    svc.clock.advance(hours=2)
    assert await scheduler.run_due() == 0

    subjects = [m["Subject"] for m in svc.sink.to(address)]
    assert len(subjects) == 3
    assert subjects[0].startswith("Prenotazione confermata")
    assert subjects[1].startswith("Promemoria: Postazione flessibile domani")
    assert subjects[2].startswith("Promemoria: Postazione flessibile tra un'ora")


async def test_no_reminder_after_the_booking_is_cancelled(svc: Notifications) -> None:
    member = uuid4()
    address = await svc.contact(member, language="en")
    booking = booking_confirmed(member, three_days_ahead(svc.clock))
    await svc.publish(booking)
    assert await jobs_for(svc, booking.booking_id) == 2
    [cancelled] = await svc.publish(ev.BookingCancelled(
        booking_id=booking.booking_id, member_id=member, cancelled_by="member", late=False,
        charged_cents=0, cancelled_at=svc.clock()))
    await svc.settled(cause_event_id=cancelled.id)
    svc.clock.advance(days=3)
    assert await svc.scheduler().run_due() == 0
    await asyncio.sleep(0.5)

    mails = svc.sink.to(address)
    assert sorted(m["Subject"][:17] for m in mails) == ["Booking cancelled", "Booking confirmed"]
    [cancellation] = [m for m in mails if m["Subject"].startswith("Booking cancelled: Hot desk")]
    [ics] = [p for p in cancellation.walk() if p.get_content_type() == "text/calendar"]
    text = ics.get_payload(decode=True).decode()
    assert "METHOD:CANCEL" in text and "STATUS:CANCELLED" in text
    assert f"UID:{booking.booking_id}@cowork" in text
    assert await svc.deliveries(template="booking_reminder") == []


async def test_no_late_reminder_for_a_booking_that_already_began(svc: Notifications) -> None:
    """The service was down across both reminder times and comes back after the start."""
    member = uuid4()
    address = await svc.contact(member)
    start = three_days_ahead(svc.clock)
    booking = booking_confirmed(member, start)
    await svc.publish(booking)
    assert await jobs_for(svc, booking.booking_id) == 2
    await svc.settled(template="booking_confirmed")
    svc.clock.offset = start + timedelta(minutes=10) - datetime.now(UTC)
    assert await svc.scheduler().run_due() == 2  # the jobs run, and decide to send nothing
    await asyncio.sleep(0.5)
    assert await svc.deliveries(template="booking_reminder") == []
    assert len(svc.sink.to(address)) == 1


async def test_the_schedule_survives_a_restart(infra: Infra, database_url: str,
                                               topic_prefix: str, smtp_sink: SmtpSink) -> None:
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port)
    clock = OffsetClock()
    member = uuid4()
    async with running(settings, clock, smtp_sink, infra.kafka_bootstrap) as first:
        address = await first.contact(member, language="en")
        start = three_days_ahead(clock)
        booking = booking_confirmed(member, start)
        await first.publish(booking)
        assert await jobs_for(first, booking.booking_id) == 2
        await first.settled(template="booking_confirmed")
    async with running(settings, clock, smtp_sink, infra.kafka_bootstrap) as second:
        clock.offset = start - timedelta(minutes=30) - datetime.now(UTC)
        assert await second.scheduler().run_due() == 2  # the 24 h one is dropped, 1 h sent
        [reminder] = await second.settled(template="booking_reminder")
        assert reminder["status"] == "sent"
    assert [m["Subject"][:22] for m in smtp_sink.to(address)] == [
        "Booking confirmed: Hot", "Reminder: Hot desk in "]
