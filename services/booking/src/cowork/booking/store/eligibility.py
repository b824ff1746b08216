"""The eligibility replica (from cowork.membership.events): who may book what, and what each
membership has been drawn on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from cowork.booking import domain

Row = asyncpg.Record


async def upsert_eligibility(conn: asyncpg.Connection, event: Any) -> None:
    """One row per membership: a member may hold a stackable plan beside another."""
    await conn.execute(
        """
        INSERT INTO eligibility (member_id, membership_id, status, plan_code, plan_kind,
                                 resource_kinds, period_start, period_end, max_bookings_per_day,
                                 max_bookings_per_week, carnet_days,
                                 meeting_room_minutes_per_month, included_kinds, overage_kinds,
                                 updated_at)
        VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now())
        ON CONFLICT (membership_id) DO UPDATE SET
            status = 'active',
            plan_code = EXCLUDED.plan_code, plan_kind = EXCLUDED.plan_kind,
            resource_kinds = EXCLUDED.resource_kinds, period_start = EXCLUDED.period_start,
            period_end = EXCLUDED.period_end,
            max_bookings_per_day = EXCLUDED.max_bookings_per_day,
            max_bookings_per_week = EXCLUDED.max_bookings_per_week,
            carnet_days = EXCLUDED.carnet_days,
            meeting_room_minutes_per_month = EXCLUDED.meeting_room_minutes_per_month,
            included_kinds = EXCLUDED.included_kinds, overage_kinds = EXCLUDED.overage_kinds,
            updated_at = now()
        """,
        event.member_id, event.membership_id, event.plan_code, event.plan_kind,
        list(event.resource_kinds), event.period_start, event.period_end,
        event.max_bookings_per_day, event.max_bookings_per_week, event.carnet_days,
        event.meeting_room_minutes_per_month,
        list(event.included_kinds) if event.included_kinds is not None else None,
        sorted(kind for kind, policy in (event.overage or {}).items() if policy == "charge"))


async def set_eligibility_status(conn: asyncpg.Connection, member_id: UUID, membership_id: UUID,
                                 status: str) -> None:
    await conn.execute(
        "UPDATE eligibility SET status = $3, updated_at = now() "
        "WHERE member_id = $1 AND membership_id = $2", member_id, membership_id, status)


async def extend_eligibility(conn: asyncpg.Connection, member_id: UUID, membership_id: UUID,
                             period_end: date) -> None:
    await conn.execute(
        "UPDATE eligibility SET period_end = $3, updated_at = now() "
        "WHERE member_id = $1 AND membership_id = $2", member_id, membership_id, period_end)


async def remember_member(conn: asyncpg.Connection, member_id: UUID,
                          registered_at: datetime) -> None:
    await conn.execute("INSERT INTO known_members (member_id, registered_at) VALUES ($1, $2) "
                       "ON CONFLICT DO NOTHING", member_id, registered_at)


async def is_known_member(conn: asyncpg.Connection, member_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM known_members "
                                    "WHERE member_id = $1)", member_id))


async def forget_member(conn: asyncpg.Connection, member_id: UUID) -> None:
    await conn.execute("DELETE FROM known_members WHERE member_id = $1", member_id)
    await conn.execute("DELETE FROM eligibility WHERE member_id = $1", member_id)
    await conn.execute("UPDATE waitlist SET status = 'withdrawn' "
                       "WHERE member_id = $1 AND status = 'waiting'", member_id)


@dataclass(frozen=True)
class Drawable:
    """A membership a booking may draw on: its rights, what it has been drawn on for around the
    booking's day, and the version that usage was read at."""

    rights: domain.Rights
    usage: domain.Usage
    usage_version: int


async def memberships_with_usage(conn: asyncpg.Connection, member_id: UUID, day: date
                                 ) -> list[Drawable]:
    """Every membership the replica holds for the member, with its usage, in one statement
    and without locks (see book_drawing_on for why none is needed)."""
    week_start, week_end = domain.week_bounds(day)
    month_start, month_end = domain.month_bounds(day)
    rows = await conn.fetch(
        """
        SELECT e.*, u.*
        FROM eligibility e
        CROSS JOIN LATERAL (
            SELECT count(*) FILTER (WHERE b.local_day = $2)                   AS that_day,
                   count(*) FILTER (WHERE b.local_day BETWEEN $3 AND $4)      AS that_week,
                   count(DISTINCT b.local_day)
                       FILTER (WHERE b.local_day BETWEEN e.period_start AND e.period_end)
                                                                             AS carnet_days_used,
                   coalesce(bool_or(b.local_day = $2), false)                 AS day_already_used,
                   coalesce(sum(b.minutes) FILTER (WHERE b.resource_kind = 'meeting_room'
                                                    AND b.local_day BETWEEN $5 AND $6), 0)
                                                                             AS room_minutes
            FROM bookings b
            WHERE b.member_id = e.member_id AND b.membership_id = e.membership_id
              -- only the days some limit counts: the week, the month, and a carnet's period
              AND b.local_day BETWEEN
                  least($3::date, $5::date,
                        CASE WHEN e.carnet_days IS NOT NULL THEN e.period_start END)
                  AND greatest($4::date, $6::date,
                               CASE WHEN e.carnet_days IS NOT NULL THEN e.period_end END)
              AND b.status IN ('confirmed', 'checked_in', 'completed', 'no_show')
        ) AS u
        WHERE e.member_id = $1
        ORDER BY e.membership_id
        """,
        member_id, day, week_start, week_end, month_start, month_end)
    return [Drawable(
        domain.Rights(row["status"], frozenset(row["resource_kinds"]), row["period_start"],
                      row["period_end"], row["max_bookings_per_day"],
                      row["max_bookings_per_week"], row["carnet_days"],
                      row["meeting_room_minutes_per_month"], row["membership_id"],
                      row["plan_code"],
                      frozenset(row["included_kinds"]) if row["included_kinds"] is not None
                      else None,
                      frozenset(row["overage_kinds"])),
        domain.Usage(row["that_day"], row["that_week"], row["carnet_days_used"],
                     not row["day_already_used"], row["room_minutes"]),
        row["usage_version"]) for row in rows]


async def usage_changed(conn: asyncpg.Connection, membership_id: UUID | None) -> None:
    """A booking drawn on the membership stopped counting (cancelled): bookings decided on the
    old usage must decide again."""
    await conn.execute("UPDATE eligibility SET usage_version = usage_version + 1 "
                       "WHERE membership_id = $1", membership_id)


async def member_is_suspended(conn: asyncpg.Connection, member_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM eligibility WHERE member_id = $1 AND status = 'suspended')",
        member_id))


