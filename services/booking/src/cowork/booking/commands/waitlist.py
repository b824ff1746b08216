"""The waitlist: joining it for a taken slot, withdrawing from it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from cowork.booking import domain, store
from cowork.booking.commands.booking import check_in_service, decide
from cowork.shared.http import NotFound


async def join_waitlist(conn: asyncpg.Connection, *, member_id: UUID, resource: asyncpg.Record,
                        start: datetime, end: datetime, now: datetime) -> asyncpg.Record:
    space = store.space_rules(resource)
    check_in_service(resource)
    domain.check_interval(space, store.resource_rules(resource), start, end, now)
    day = domain.local(start, space).date()
    held = [store.Drawable(m.rights, domain.Usage(), m.usage_version)
            for m in await store.memberships_with_usage(conn, member_id, day)]
    await decide(conn, member_id, resource, held, day, domain.minutes_between(start, end),
                  domain.Tariff())
    if await store.clashing_booking(conn, resource, start, end) is None:
        raise domain.RuleViolation("slot_is_free", "the slot is free: book it instead", "start",
                                   status=409)
    return await store.insert_waitlist(conn, entry_id=uuid4(), member_id=member_id,
                                       resource_id=resource["id"], start=start, end=end, now=now)


async def withdraw_from_waitlist(conn: asyncpg.Connection, entry_id: UUID) -> asyncpg.Record:
    """A waiting request is withdrawn (again: nothing changes); a promoted one is a booking
    now — cancel that instead (409)."""
    entry = await store.waitlist_entry(conn, entry_id, for_update=True)
    if entry is None:
        raise NotFound("waitlist entry", entry_id)
    if entry["status"] == "promoted":
        raise domain.RuleViolation("already_promoted", "the request became a booking: cancel "
                                   "the booking instead", status=409)
    await store.withdraw_entry(conn, entry_id)
    return entry
