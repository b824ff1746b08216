"""Time-driven work with the clock in the test's hands: an unconfirmed seat is released after
the hold and goes to the next who waits; the reminder goes once, the day before, to confirmed
registrations; the contacts are tombstoned once the meeting has ended."""

from __future__ import annotations

import pytest
from community_support import Community

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def test_an_unconfirmed_seat_is_released_after_the_hold(svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    unconfirmed = await svc.registered(meeting["id"], 1)
    waiting = await svc.registered(meeting["id"], 2)
    svc.clock.advance(hours=47)
    await svc.run_jobs()
    assert (await svc.registrations(meeting["id"]))[unconfirmed["id"]]["status"] == \
        "pending_confirmation"
    svc.clock.advance(hours=1)
    await svc.run_jobs()
    regs = await svc.registrations(meeting["id"])
    assert (regs[unconfirmed["id"]]["status"], regs[unconfirmed["id"]]["cancelled_by"]) == \
        ("cancelled", "expired")
    assert regs[waiting["id"]]["status"] == "pending_confirmation"
    [promoted] = await svc.outbox(ev.RegistrationPromoted)
    assert (promoted["registration_id"], promoted["status"]) == \
        (waiting["id"], "pending_confirmation")
    # The card stays a day, so notifications can still tell them the seat went.
    assert unconfirmed["id"] not in await svc.tombstones()
    # A confirmed seat is never released.
    assert (await svc.confirm(waiting["id"])).json()["status"] == "confirmed"
    svc.clock.advance(hours=49)
    await svc.run_jobs()
    assert unconfirmed["id"] in await svc.tombstones()
    assert (await svc.registrations(meeting["id"]))[waiting["id"]]["status"] == "confirmed"


async def test_the_reminder_goes_once_the_day_before(svc: Community) -> None:
    meeting = await svc.meeting(capacity=3)  # starts 15 March, 09:00 UTC
    confirmed = await svc.registered(meeting["id"], 1)
    await svc.registered(meeting["id"], 2)  # never confirms
    await svc.confirm(confirmed["id"])
    svc.clock.advance(days=12)  # 13 March: too early
    await svc.run_jobs()
    assert await svc.outbox(ev.RegistrationReminderDue) == []
    svc.clock.advance(days=1, hours=1)
    await svc.run_jobs()
    await svc.run_jobs()
    [reminder] = await svc.outbox(ev.RegistrationReminderDue)
    assert reminder["registration_id"] == confirmed["id"]
    assert reminder["start"] == meeting["start"].replace("+00:00", "Z")


async def test_contacts_are_tombstoned_after_the_meeting(svc: Community) -> None:
    meeting = await svc.meeting(capacity=3)
    ids = [(await svc.registered(meeting["id"], n))["id"] for n in range(3)]
    for registration_id in ids:
        await svc.confirm(registration_id)
    svc.clock.advance(days=14, hours=2)
    await svc.run_jobs()
    assert not set(ids) & await svc.tombstones()
    svc.clock.advance(hours=2)  # the meeting ended
    await svc.run_jobs()
    assert set(ids) <= await svc.tombstones()
