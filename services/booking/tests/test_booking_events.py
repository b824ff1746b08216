"""The booking lifecycle as partners see it on Kafka, driven by real membership events, and
the race that must never be won twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime

import pytest
from booking_support import Booking, rome

from cowork.booking import commands
from cowork.devtools.kafka import SeenRecord, collect, of_type, publish
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev
from cowork.shared.scheduler import Scheduler

pytestmark = [pytest.mark.infra]


async def _booking_events(svc: Booking, until) -> list[SeenRecord]:
    return await collect(svc.bootstrap, svc.topic_prefix + topics.BOOKING_EVENTS, until=until,
                         timeout=30)


def _has(event_type: str, count: int = 1):
    return lambda records: len(of_type(records, event_type)) >= count


async def _wait_for_status(svc: Booking, member_id: uuid.UUID, status: str | None) -> None:
    for _ in range(150):
        current = await svc.runtime.db.fetchval(
            "SELECT status FROM eligibility WHERE member_id = $1", member_id)
        if current == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"eligibility of {member_id} never became {status}")


async def test_eligibility_follows_published_membership_events(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member_id, membership_id = uuid.uuid4(), uuid.uuid4()
    membership_topic = svc.topic_prefix + topics.MEMBERSHIP_EVENTS

    def wrap(event: ev.DomainEvent) -> Envelope:
        return Envelope.wrap(event, source="/cowork/membership")

    await publish(svc.bootstrap, membership_topic, [wrap(ev.MembershipActivated(
        membership_id=membership_id, member_id=member_id, plan_code="monthly",
        plan_kind="monthly", resource_kinds=["hot_desk"], period_start=date(2027, 3, 1),
        period_end=date(2027, 3, 31), price_cents=15000))])
    await _wait_for_status(svc, member_id, "active")
    assert (await svc.book(member_id, desk["id"], rome(2, 9), rome(2, 11))).status_code == 201

    await publish(svc.bootstrap, membership_topic, [wrap(ev.MembershipSuspended(
        membership_id=membership_id, member_id=member_id, reason="no-shows"))])
    await _wait_for_status(svc, member_id, "suspended")
    refused = await svc.book(member_id, desk["id"], rome(3, 9), rome(3, 11))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "membership_not_active"

    await publish(svc.bootstrap, membership_topic, [wrap(ev.MemberErased(
        member_id=member_id, erased_at=datetime(2027, 3, 1, 9, tzinfo=UTC)))])
    await _wait_for_status(svc, member_id, None)
    gone = await svc.book(member_id, desk["id"], rome(3, 9), rome(3, 11))
    assert gone.json()["error"]["code"] == "no_membership"


async def test_lifecycle_waitlist_promotion_no_show_and_completion(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    # Alice's plan allows desks only at the tariff; Bob's and Carla's include them.
    alice = await svc.member_with(included_kinds=["meeting_room"])
    bob, carla = await svc.member_with(), await svc.member_with()
    first = (await svc.book(alice, desk["id"], rome(1, 10), rome(1, 12))).json()
    await svc.client.post("/v1/waitlist", json={
        "member_id": str(bob), "resource_id": desk["id"], "start": rome(1, 10),
        "end": rome(1, 12)}, headers=svc.member(bob))
    await svc.client.post(f"/v1/bookings/{first['id']}/cancel", headers=svc.member(alice))
    bobs = (await svc.client.get("/v1/bookings", headers=svc.member(bob))).json()["items"]
    [promoted] = bobs

    later = (await svc.book(carla, desk["id"], rome(1, 14), rome(1, 16))).json()
    jobs = {commands.NO_SHOW_JOB: commands.no_show_job(commands.Policy()),
            commands.COMPLETE_JOB: commands.complete_job}
    scheduler = Scheduler(svc.runtime.db, jobs)
    svc.clock.now = datetime(2027, 3, 1, 9, 5, tzinfo=UTC)  # 10:05 in Rome: Bob checks in
    checked = await svc.client.post(f"/v1/bookings/{promoted['id']}/check-in",
                                    headers=svc.member(bob))
    assert checked.status_code == 200
    # Carla never comes: after the 30-minute grace she is a no-show; Bob's booking completes.
    assert await scheduler.run_due(datetime(2027, 3, 1, 13, 31, tzinfo=UTC)) == 2
    assert await scheduler.run_due(datetime(2027, 3, 1, 16, tzinfo=UTC)) == 0, "each job once"

    records = await _booking_events(svc, _has(ev.BookingNoShow.event_type))
    by_booking: dict[str, list[str]] = {}
    for r in records:
        if r.envelope.type != ev.ResourcePublished.event_type:
            by_booking.setdefault(r.key or "", []).append(r.envelope.type.split(".")[-2])
    assert by_booking == {
        first["id"]: ["confirmed", "cancelled"],
        promoted["id"]: ["confirmed", "checked_in", "completed"],
        later["id"]: ["confirmed", "no_show"],
    }
    [cancelled] = of_type(records, ev.BookingCancelled.event_type)
    assert json.loads(cancelled.value or b"")["late"] is True  # within 24 h of the start
    assert cancelled.envelope.data.charged_cents == first["price_cents"]
    confirmations = {str(r.envelope.data.booking_id): r.envelope.data
                     for r in of_type(records, ev.BookingConfirmed.event_type)}
    assert confirmations[promoted["id"]].via_waitlist is True
    assert confirmations[first["id"]].via_waitlist is False
    assert confirmations[first["id"]].price_cents == 600
    assert confirmations[first["id"]].charged_cents == 600, "charged at the tariff"
    assert confirmations[promoted["id"]].charged_cents == 0, "included in Bob's plan"
    assert cancelled.envelope.data.reason is None, "the member cancelled, not the system"
    assert confirmations[first["id"]].resource_kind == "hot_desk"
    [first_confirmed] = [r for r in of_type(records, ev.BookingConfirmed.event_type)
                         if r.key == first["id"]]
    assert json.loads(first_confirmed.value or b"")["start"] in (
        "2027-03-01T09:00:00Z", "2027-03-01T09:00:00+00:00"), "times travel in UTC (docs/events.md)"
    assert records[-1].headers["ce_source"] == "/cowork/booking"
    published = of_type(records, ev.ResourcePublished.event_type)
    assert [r.key for r in published] == [desk["id"]]


async def test_200_concurrent_requests_for_one_slot_confirm_exactly_one(svc: Booking) -> None:
    space = await svc.space()
    room = await svc.resource(space["id"], name="Sala", kind="meeting_room", min_minutes=30)
    members = [await svc.member_with() for _ in range(200)]
    # Overlapping, not identical: every pair clashes somewhere.
    starts = [rome(2, 9), rome(2, 9, 30), rome(2, 10)]

    async def attempt(i: int):
        start = starts[i % 3]
        return await svc.book(members[i], room["id"], start, rome(2, 11))

    responses = await asyncio.gather(*(attempt(i) for i in range(200)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1
    assert statuses.count(409) == 199
    assert all(r.json()["error"]["code"] == "slot_taken" for r in responses if r.status_code == 409)
    active = await svc.runtime.db.fetchval(
        "SELECT count(*) FROM bookings WHERE status IN ('confirmed', 'checked_in')")
    assert active == 1


async def test_concurrent_bookings_of_one_member_never_exceed_the_plan_limits(svc: Booking) -> None:
    """Fair use and allowances hold under concurrency: a member with one booking a day sends
    twenty at once for twenty desks; a member with a one-day carnet sends ten for ten days."""
    space = await svc.space()
    desks = [await svc.resource(space["id"], name=f"Desk {n}") for n in range(20)]
    daily = await svc.member_with(max_bookings_per_day=1)
    carnet = await svc.member_with(plan_kind="carnet", carnet_days=1)

    same_day = await asyncio.gather(*(svc.book(daily, desk["id"], rome(2, 9), rome(2, 10))
                                      for desk in desks))
    assert sorted(r.status_code for r in same_day) == [201] + [403] * 19
    assert {r.json()["error"]["code"] for r in same_day if r.status_code == 403} == {"fair_use_daily"}

    days = [2, 3, 4, 5, 8, 9, 11, 12, 15, 16]  # open weekdays of March 2027 (10th: closed)
    many_days = await asyncio.gather(*(svc.book(carnet, desks[n]["id"], rome(day, 14), rome(day, 15))
                                       for n, day in enumerate(days)))
    assert sorted(r.status_code for r in many_days) == [201] + [403] * 9
    assert {r.json()["error"]["code"] for r in many_days if r.status_code == 403} == {"carnet_used_up"}
