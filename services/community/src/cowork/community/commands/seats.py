"""Seats: freeing one and giving it to the first who waits. Every caller has locked the meeting
row first (`meeting_by_id(..., for_update=True)`), then its registrations: one order
everywhere, so concurrent registrations, cancellations and jobs queue instead of deadlocking,
and `seats_held` is only ever changed by the one transaction holding that lock."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from cowork.community.commands.common import emit, remove_contact
from cowork.community.domain.meetings import HOLDING, promoted_status
from cowork.community.store import meetings as store
from cowork.shared import scheduler
from cowork.shared.events import contracts as ev

HOLD_JOB = "community.registration_hold"
FORGET_JOB = "community.contact_forget"

# The cancellations notifications mails about (the meeting was cancelled, the unconfirmed seat
# released). It reads the address from the contact card, and the event and the card's tombstone
# travel on two topics in no fixed order: a tombstone read first means no mail. So their card
# stays this long; the registrant's own cancellation, staff's and the erasure tombstone it at
# once (nobody is mailed about them, and an erasure must not wait).
MAILED_CANCELLATIONS = frozenset({"meeting_cancelled", "expired"})
CARD_KEPT_FOR = timedelta(days=1)


async def hold_seat_until(conn: asyncpg.Connection, registration_id: object,
                          until: datetime) -> None:
    await scheduler.schedule(conn, HOLD_JOB, str(registration_id), until)


async def promote(conn: asyncpg.Connection, meeting: asyncpg.Record, now: datetime,
                  hold: timedelta) -> int:
    """Fill the free seats from the waiting list, in order; returns how many were promoted.
    Nobody once the meeting has begun: a seat offered then (by mail, with a hold) is a seat at
    a meeting already under way or over, the registration itself being closed by then."""
    if now >= meeting["starts_at"]:
        return 0
    held = meeting["seats_held"]
    promoted = 0
    while held < meeting["capacity"]:
        first = await store.first_waiting(conn, meeting["id"])
        if first is None:
            break
        status = promoted_status(first["address_confirmed"])
        hold_until = now + hold if status == "pending_confirmation" else None
        await store.set_registration(
            conn, first["id"], status=status, holds_seat=True, waitlist_seq=None,
            hold_until=hold_until, confirmed_at=now if status == "confirmed" else None)
        if hold_until is not None:
            await hold_seat_until(conn, first["id"], hold_until)
        await emit(conn, ev.RegistrationPromoted(registration_id=first["id"],
                                                 meeting_id=meeting["id"], at=now,
                                                 status=status))
        held += 1
        promoted += 1
    if promoted:
        await store.add_seats_held(conn, meeting["id"], promoted)
    return promoted


async def end_registration(conn: asyncpg.Connection, meeting: asyncpg.Record,
                           registration: asyncpg.Record, *, by: str, now: datetime,
                           hold: timedelta | None) -> bool:
    """Cancel one registration (its seat freed, its contact tombstoned: at once, or a day later
    for the cancellations that are mailed); with `hold`, the freed seat goes to the first who
    waits. False when it had already ended."""
    if registration["status"] == "cancelled":
        return False
    await store.set_registration(conn, registration["id"], status="cancelled",
                                 holds_seat=False, waitlist_seq=None, cancelled_at=now,
                                 cancelled_by=by, hold_until=None)
    await scheduler.cancel(conn, HOLD_JOB, str(registration["id"]))
    await emit(conn, ev.RegistrationCancelled(registration_id=registration["id"],
                                              meeting_id=meeting["id"], at=now,
                                              cancelled_by=by))
    if by in MAILED_CANCELLATIONS:
        await scheduler.schedule(conn, FORGET_JOB, str(registration["id"]), now + CARD_KEPT_FOR)
    else:
        await remove_contact(conn, registration, now)
    if registration["status"] in HOLDING:
        await store.add_seats_held(conn, meeting["id"], -1)
        if hold is not None:
            fresh = await store.meeting_by_id(conn, meeting["id"])
            assert fresh is not None
            await promote(conn, fresh, now, hold)
    return True
