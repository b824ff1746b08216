"""The bookings that follow a membership when it ends, or a member when erased."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from cowork.booking import domain, store
from cowork.booking.commands.cancellation import cancel_by_system
from cowork.booking.commands.policy import Policy


async def follow_ended_membership(conn: asyncpg.Connection, member_id: UUID,
                                  membership_id: UUID, *, ended_at: datetime, reason: str,
                                  now: datetime, policy: Policy) -> None:
    """A membership was cancelled or expired: each confirmed booking drawn on it from then on
    moves to another live membership of the member that allows it at no higher charge, or is
    cancelled by the system."""
    orphans = []
    for booking in await store.future_bookings_drawn_on(conn, membership_id, ended_at):
        other = await _covering_membership(conn, member_id, booking)
        if other is None:
            orphans.append(booking)
        else:
            await store.redraw_booking(conn, booking["id"], other)
    await cancel_by_system(conn, orphans, reason=reason, now=now, policy=policy)


async def _covering_membership(conn: asyncpg.Connection, member_id: UUID,
                               booking: asyncpg.Record) -> UUID | None:
    resource = await store.resource_by_id(conn, booking["resource_id"])
    assert resource is not None
    held = await store.memberships_with_usage(conn, member_id, booking["local_day"])
    try:
        decision = domain.decide(
            [(m.rights, m.usage) for m in held if m.rights.membership_id != booking["membership_id"]],
            booking["resource_kind"], booking["local_day"], booking["minutes"],
            store.plans_allowed(resource),
            domain.Tariff(booking["price_cents"], resource["price_per_hour_cents"]))
    except domain.RuleViolation:
        return None
    if decision.rights is None or decision.charged_cents > booking["charged_cents"]:
        return None
    return decision.rights.membership_id


async def follow_erased_member(conn: asyncpg.Connection, member_id: UUID, *,
                               erased_at: datetime, now: datetime, policy: Policy) -> None:
    """Every booking of an erased member from the erasure on is cancelled by the system."""
    await cancel_by_system(conn, await store.future_bookings_of_member(conn, member_id, erased_at),
                           reason="member_erased", now=now, policy=policy)
