"""Erasure reaches the delivery log and the mail in flight (issue 20 points 10 and 12): an
erased member's deliveries are deleted (staff can no longer read them), settled deliveries go
after the retention period, a mail already claimed when the erasure arrives does not go out,
and a cancellation caused by the erasure itself is not mailed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from notifications_support import (
    Notifications,
    OffsetClock,
    Receiver,
    SmtpSink,
    bearer,
    booking_confirmed,
    running,
    settings_for,
)

from cowork.devtools import Infra
from cowork.notifications import delivery_store, store
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]

STAFF = bearer("staff")


def _soon() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


def cancelled(booking: ev.BookingConfirmed, reason: str | None, by: str = "system"
              ) -> ev.BookingCancelled:
    return ev.BookingCancelled(
        booking_id=booking.booking_id, member_id=booking.member_id, space_id=booking.space_id,
        resource_id=booking.resource_id, resource_kind=booking.resource_kind,
        start=booking.start, end=booking.end, cancelled_by=by, late=False, charged_cents=0,
        cancelled_at=datetime.now(UTC), reason=reason)


async def test_an_erased_members_deliveries_are_deleted(svc: Notifications,
                                                        receiver: Receiver) -> None:
    created = await svc.client.post("/v1/webhooks", headers=bearer("partner", "p"), json={
        "url": receiver.url("/ok/p"), "event_types": ["*"]})
    assert created.status_code == 201
    member, other = uuid4(), uuid4()
    for who in (member, other):
        await svc.contact(who)
        [envelope] = await svc.publish(booking_confirmed(who, _soon()))
        await svc.settled(2, cause_event_id=envelope.id)
    await svc.publish(ev.MemberErased(member_id=member, erased_at=datetime.now(UTC)))
    await svc.erase(member)

    async def gone(conn: Any) -> bool:
        return not await conn.fetchval(
            "SELECT count(*) FROM deliveries WHERE recipient_ref = $1 "
            "OR payload->'data'->>'member_id' = $1 AND status IN ('sent', 'dead', 'cancelled') "
            "AND cause_event_type <> $2", str(member), ev.MemberErased.event_type)

    await svc.until(gone, timeout=15)
    seen = await svc.client.get(f"/v1/deliveries?recipient_ref={member}", headers=STAFF)
    assert seen.status_code == 200 and seen.json() == []
    # The other member's history is untouched.
    assert len(await svc.deliveries(recipient_ref=str(other))) == 1


async def test_settled_deliveries_go_after_the_retention_period(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink) -> None:
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port,
                            purge_interval_seconds=0.2)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        now = svc.clock()
        rows = {"old_sent": (now - timedelta(days=91), "sent"),
                "old_pending": (now - timedelta(days=91), "pending"),
                "recent_sent": (now - timedelta(days=89), "sent")}
        ids = {name: uuid4() for name in rows}
        async with svc.runtime.db.acquire() as conn:
            for name, (at, status) in rows.items():
                await conn.execute(
                    "INSERT INTO deliveries (id, cause_event_id, cause_event_type, channel, "
                    "recipient_ref, template, subject_ref, payload, status, next_attempt_at, "
                    "created_at, settled_at) VALUES ($1, $2, 't', 'email', 'officers', 't', "
                    "'x', '{}'::jsonb, $3, $4, $5, $6)",
                    ids[name], uuid4(), status, at if status == "sent" else now + timedelta(days=9),
                    at, at if status == "sent" else None)
        await svc.until(lambda c: c.fetchval(
            "SELECT NOT EXISTS (SELECT 1 FROM deliveries WHERE id = $1)", ids["old_sent"]),
            timeout=10)
        left = {r["id"] for r in await svc.deliveries()}
        assert {ids["old_pending"], ids["recent_sent"]} <= left


async def test_a_mail_claimed_before_the_erasure_does_not_go_out(svc: Notifications) -> None:
    member = uuid4()
    address = await svc.contact(member)
    later = svc.clock() + timedelta(days=30)  # not due for the running dispatcher
    delivery = uuid4()
    async with svc.runtime.db.acquire() as conn:
        await conn.execute(
            "INSERT INTO deliveries (id, cause_event_id, cause_event_type, channel, "
            "recipient_ref, template, subject_ref, payload, status, next_attempt_at, created_at) "
            "VALUES ($1, $2, 'x', 'email', $3, 'booking_confirmed', $3, $4::jsonb, "
            "'pending', $5, $6)", delivery, uuid4(), str(member),
            booking_confirmed(member, _soon()).model_dump_json(), later, svc.clock())
        [claimed] = await delivery_store.claim_mail(conn, later, 1, later + timedelta(minutes=5), 8)
    assert claimed["email"] == address  # claimed with the address in hand ...
    await svc.erase(member)  # ... then the erasure arrives
    await svc.until(lambda c: store.is_erased(c, member))
    await svc.dispatcher._attempt(claimed)  # the attempt that was under way
    await asyncio.sleep(0.5)  # its outcome recorded, if any
    assert svc.sink.to(address) == []
    # The erasure took the delivery out of the log; the attempt did not bring it back.
    assert await svc.deliveries(id=delivery) == []


async def test_a_cancellation_caused_by_the_erasure_is_not_mailed(svc: Notifications) -> None:
    member, other = uuid4(), uuid4()
    address = await svc.contact(member)
    other_address = await svc.contact(other)
    mine, theirs = booking_confirmed(member, _soon()), booking_confirmed(other, _soon())
    await svc.publish(mine, theirs)
    await svc.settled(2, template="booking_confirmed")
    [by_erasure, by_member] = await svc.publish(cancelled(mine, "member_erased"),
                                                cancelled(theirs, None, by="member"))
    await svc.settled(cause_event_id=by_member.id, channel="email")
    assert len(svc.sink.to(other_address)) == 2
    by_erasure_rows = await svc.deliveries(cause_event_id=by_erasure.id, channel="email")
    assert [r["status"] for r in by_erasure_rows] in ([], ["cancelled"])
    assert len(svc.sink.to(address)) == 1  # the confirmation only


async def _status(svc: Notifications, delivery: UUID) -> str:
    [row] = await svc.deliveries(id=delivery)
    return str(row["status"])
