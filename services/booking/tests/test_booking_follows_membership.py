"""Bookings follow their membership (issue 12): played as membership would, on real Kafka;
what partners see of it on real Kafka."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest
from booking_support import Booking, rome

from cowork.devtools.kafka import collect, of_type, publish
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def _play(svc: Booking, *events: ev.DomainEvent) -> None:
    await publish(svc.bootstrap, svc.topic_prefix + topics.MEMBERSHIP_EVENTS,
                  [Envelope.wrap(e, source="/cowork/membership") for e in events])


async def _until(svc: Booking, sql: str, *args: object, expected: object) -> None:
    for _ in range(150):
        if await svc.runtime.db.fetchval(sql, *args) == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{sql} {args} never gave {expected!r}")


def _activated(member_id: uuid.UUID, membership_id: uuid.UUID, **change: object
               ) -> ev.MembershipActivated:
    return ev.MembershipActivated(**{
        "membership_id": membership_id, "member_id": member_id, "plan_code": "monthly",
        "plan_kind": "monthly", "resource_kinds": ["hot_desk", "meeting_room"],
        "period_start": date(2027, 3, 1), "period_end": date(2027, 3, 31),
        "price_cents": 15000, **change})


async def _cancellations(svc: Booking, count: int) -> dict[str, ev.BookingCancelled]:
    records = await collect(
        svc.bootstrap, svc.topic_prefix + topics.BOOKING_EVENTS, timeout=30,
        until=lambda rs: len(of_type(rs, ev.BookingCancelled.event_type)) >= count)
    return {r.key or "": r.envelope.data for r in of_type(records, ev.BookingCancelled.event_type)}


async def test_a_cancelled_membership_cancels_its_future_bookings_and_frees_the_slots(
        svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    alice, alice_membership = uuid.uuid4(), uuid.uuid4()
    await _play(svc, _activated(alice, alice_membership))
    await _until(svc, "SELECT status FROM eligibility WHERE membership_id = $1",
                 alice_membership, expected="active")
    tuesday = (await svc.book(alice, desk["id"], rome(2, 9), rome(2, 11))).json()
    wednesday = (await svc.book(alice, desk["id"], rome(3, 9), rome(3, 11))).json()
    bob = await svc.member_with()
    waiting = await svc.client.post("/v1/waitlist", json={
        "member_id": str(bob), "resource_id": desk["id"], "start": rome(2, 9),
        "end": rome(2, 11)}, headers=svc.member(bob))
    assert waiting.status_code == 201

    await _play(svc, ev.MembershipCancelled(membership_id=alice_membership, member_id=alice,
                                            at=svc.clock()))
    cancelled = await _cancellations(svc, 2)
    for booking in (tuesday, wednesday):
        event = cancelled[booking["id"]]
        assert (event.cancelled_by, event.reason, event.late, event.charged_cents) == (
            "system", "membership_cancelled", False, 0)
        read = await svc.client.get(f"/v1/bookings/{booking['id']}", headers=svc.staff())
        assert read.json()["status"] == "cancelled"
    bobs = (await svc.client.get("/v1/bookings", headers=svc.member(bob))).json()["items"]
    assert [(b["start"], b["via_waitlist"]) for b in bobs] == [(tuesday["start"], True)], \
        "the freed slot went to the waiting member"


async def test_a_booking_another_membership_covers_stays(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member, monthly, annual = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _play(svc, _activated(member, monthly),
                _activated(member, annual, plan_code="annual", plan_kind="annual",
                           period_end=date(2028, 2, 29)))
    await _until(svc, "SELECT count(*) FROM eligibility WHERE member_id = $1", member,
                 expected=2)
    booking = (await svc.book(member, desk["id"], rome(2, 9), rome(2, 11))).json()
    drawn = await svc.runtime.db.fetchval("SELECT membership_id FROM bookings WHERE id = $1",
                                          uuid.UUID(booking["id"]))
    assert drawn == monthly, "the one ending soonest"
    await _play(svc, ev.MembershipExpired(membership_id=monthly, member_id=member,
                                          at=datetime(2027, 3, 1, 7, tzinfo=UTC)))
    await _until(svc, "SELECT membership_id FROM bookings WHERE id = $1",
                 uuid.UUID(booking["id"]), expected=annual)
    read = await svc.client.get(f"/v1/bookings/{booking['id']}", headers=svc.staff())
    assert read.json()["status"] == "confirmed"


async def test_erasure_cancels_every_future_booking_and_suspension_blocks_check_in(
        svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    booth = await svc.resource(space["id"], name="Booth", kind="phone_booth", min_minutes=30,
                               pay_per_use=True)
    member, membership = uuid.uuid4(), uuid.uuid4()
    await _play(svc, ev.MemberRegistered(member_id=member, kind="person", language="it",
                                         residence_istat=None, registered_at=svc.clock()),
                _activated(member, membership, resource_kinds=["hot_desk"]))
    await _until(svc, "SELECT status FROM eligibility WHERE membership_id = $1", membership,
                 expected="active")
    today = (await svc.book(member, desk["id"], rome(1, 8), rome(1, 10))).json()
    paid = (await svc.book(member, booth["id"], rome(2, 9), rome(2, 10))).json()
    assert paid["charged_cents"] > 0  # pay-per-use: on no membership

    await _play(svc, ev.MembershipSuspended(membership_id=membership, member_id=member,
                                            reason="three no-shows"))
    await _until(svc, "SELECT status FROM eligibility WHERE membership_id = $1", membership,
                 expected="suspended")
    refused = await svc.client.post(f"/v1/bookings/{today['id']}/check-in",
                                    headers=svc.staff())
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "membership_suspended"
    no_booth = await svc.book(member, booth["id"], rome(3, 9), rome(3, 10))
    assert no_booth.status_code == 403, "a suspended member books nothing, not even paying"

    await _play(svc, ev.MemberErased(member_id=member, erased_at=svc.clock()))
    cancelled = await _cancellations(svc, 2)
    assert {cancelled[b["id"]].reason for b in (today, paid)} == {"member_erased"}
    assert all(cancelled[b["id"]].cancelled_by == "system" for b in (today, paid))
