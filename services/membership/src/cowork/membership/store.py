"""Every SQL statement of the membership service. Functions take the caller's connection, so
the caller owns the transaction and the outbox rows share it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

Row = asyncpg.Record

# ---------------------------------------------------------------- members


async def insert_member(conn: asyncpg.Connection, *, member_id: UUID, kind: str, full_name: str,
                        email: str, phone: str | None, language: str, tax_code: str,
                        residence_istat: str | None, marketing: bool, now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        """
        INSERT INTO members (id, kind, full_name, email, phone, language, tax_code,
                             residence_istat, privacy_consent_at, marketing_consent,
                             marketing_consent_at, registered_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $9, $9)
        RETURNING *
        """,
        member_id, kind, full_name, email, phone, language, tax_code, residence_istat, now,
        marketing, now if marketing else None,
    )
    return row


async def note_registration_repeated(conn: asyncpg.Connection, *, tax_code: str, email: str,
                                     now: datetime, not_since: datetime) -> list[Row]:
    """The members not erased whose tax code or e-mail (case-insensitive) these are and who were
    not told of a repeated registration since `not_since`, marked as told at `now`; each row
    has `id`, `tax_code_matched`, `email_matched`. A concurrent attempt waits for the row lock
    and then finds the member told."""
    return list(await conn.fetch(
        """
        UPDATE members SET registration_repeated_at = $3
        WHERE erased_at IS NULL AND (tax_code = $1 OR lower(email) = $2)
          AND (registration_repeated_at IS NULL OR registration_repeated_at <= $4)
        RETURNING id, tax_code = $1 AS tax_code_matched, lower(email) = $2 AS email_matched
        """, tax_code, email.lower(), now, not_since))


async def member_by_id(conn: asyncpg.Connection, member_id: UUID, *, for_update: bool = False
                       ) -> Row | None:
    lock = " FOR UPDATE" if for_update else ""
    row: Row | None = await conn.fetchrow(
        f"SELECT * FROM members WHERE id = $1{lock}", member_id)  # noqa: S608 - a fixed fragment
    return row


async def update_member(conn: asyncpg.Connection, member_id: UUID, changes: dict[str, Any],
                        now: datetime) -> Row:
    """Apply the given column changes; column names come from the API model, never from input."""
    allowed = {"full_name", "email", "phone", "language", "residence_istat", "marketing_consent",
               "marketing_consent_at"}
    assert set(changes) <= allowed, set(changes) - allowed
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=3))
    row: Row = await conn.fetchrow(
        # Column names are checked against `allowed` above; values are parameters.
        f"UPDATE members SET updated_at = $2{', ' + sets if sets else ''} WHERE id = $1 RETURNING *",  # noqa: S608
        member_id, now, *changes.values(),
    )
    return row


async def erase_member(conn: asyncpg.Connection, member_id: UUID, now: datetime) -> None:
    """Null every personal field; keep the pseudonymous id, kind and dates."""
    await conn.execute(
        """
        UPDATE members SET full_name = NULL, email = NULL, phone = NULL, tax_code = NULL,
               residence_istat = NULL, marketing_consent = false, marketing_consent_at = NULL,
               erased_at = $2, updated_at = $2
        WHERE id = $1
        """,
        member_id, now,
    )
    await conn.execute("DELETE FROM member_people WHERE member_id = $1", member_id)
    # The desk's notes are about the person: they go with the rest.
    await conn.execute("UPDATE memberships SET status_note = NULL WHERE member_id = $1",
                       member_id)


async def forget_status_reasons(conn: asyncpg.Connection, member_id: UUID) -> None:
    """A membership's status reason is free text (the member's own words when they
    cancelled, the staff's when they suspended): it may name them, so it goes with them."""
    await conn.execute("UPDATE memberships SET status_reason = NULL "
                       "WHERE member_id = $1 AND status_reason IS NOT NULL", member_id)


def like_pattern(word: str) -> str:
    """`%word%` with LIKE's own wildcards taken literally."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_members(conn: asyncpg.Connection, words: list[str], *, after: UUID | None,
                         limit: int) -> list[Row]:
    """Members not erased whose name, e-mail or tax code holds every word (case-insensitive,
    in any order), by name; from after the member `after` (keyset cursor)."""
    return list(await conn.fetch(
        r"""
        SELECT * FROM members m
        WHERE m.erased_at IS NULL
          AND NOT EXISTS (
              SELECT 1 FROM unnest($1::text[]) AS word
              WHERE NOT (m.full_name ILIKE word ESCAPE '' OR m.email ILIKE word ESCAPE ''
                         OR m.tax_code ILIKE word ESCAPE ''))
          AND ($2::uuid IS NULL OR (lower(m.full_name), m.id) > (
              SELECT lower(c.full_name), c.id FROM members c WHERE c.id = $2))
        ORDER BY lower(m.full_name), m.id
        LIMIT $3
        """, [like_pattern(w) for w in words], after, limit))


async def memberships_of_members(conn: asyncpg.Connection, member_ids: list[UUID]) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM memberships WHERE member_id = ANY($1::uuid[]) "
        "ORDER BY period_start DESC, created_at DESC", member_ids))


# ---------------------------------------------------------------- organisation people


async def insert_person(conn: asyncpg.Connection, *, person_id: UUID, member_id: UUID,
                        full_name: str, email: str, now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        "INSERT INTO member_people (id, member_id, full_name, email, created_at) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING *",
        person_id, member_id, full_name, email, now,
    )
    return row


async def people_of(conn: asyncpg.Connection, member_id: UUID) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM member_people WHERE member_id = $1 ORDER BY created_at, id", member_id))


async def delete_person(conn: asyncpg.Connection, member_id: UUID, person_id: UUID) -> bool:
    status = await conn.execute("DELETE FROM member_people WHERE member_id = $1 AND id = $2",
                                member_id, person_id)
    return bool(status != "DELETE 0")


# ---------------------------------------------------------------- plans


async def insert_plan(conn: asyncpg.Connection, plan: dict[str, Any], now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        """
        INSERT INTO plans (code, name, kind, price_cents, resource_kinds, carnet_days,
                           max_bookings_per_day, max_bookings_per_week,
                           meeting_room_minutes_per_month, stackable, created_at,
                           included_kinds, overage_kinds)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        RETURNING *
        """,
        plan["code"], plan["name"], plan["kind"], plan["price_cents"], plan["resource_kinds"],
        plan.get("days"), plan.get("max_bookings_per_day"), plan.get("max_bookings_per_week"),
        plan.get("meeting_room_minutes_per_month"), plan.get("stackable", False), now,
        plan.get("included_kinds"),
        sorted(kind for kind, policy in (plan.get("overage") or {}).items()
               if policy == "charge"),
    )
    return row


async def plan_by_code(conn: asyncpg.Connection, code: str) -> Row | None:
    row: Row | None = await conn.fetchrow("SELECT * FROM plans WHERE code = $1", code)
    return row


async def list_plans(conn: asyncpg.Connection, *, include_retired: bool) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM plans WHERE $1 OR retired_at IS NULL ORDER BY price_cents, code",
        include_retired))


async def retire_plan(conn: asyncpg.Connection, code: str, now: datetime) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "UPDATE plans SET retired_at = coalesce(retired_at, $2) WHERE code = $1 RETURNING *",
        code, now)
    return row


# ---------------------------------------------------------------- memberships


async def insert_membership(conn: asyncpg.Connection, *, membership_id: UUID, member_id: UUID,
                            plan_code: str, stackable: bool, period_start: date,
                            period_end: date, price_cents: int, now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        """
        INSERT INTO memberships (id, member_id, plan_code, stackable, status, period_start,
                                 period_end, price_cents, created_at, updated_at)
        VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $8)
        RETURNING *
        """,
        membership_id, member_id, plan_code, stackable, period_start, period_end, price_cents, now,
    )
    return row


async def membership_by_id(conn: asyncpg.Connection, membership_id: UUID, *,
                           for_update: bool = False, nowait: bool = False) -> Row | None:
    """`nowait` (with `for_update`): raise LockNotAvailableError instead of waiting."""
    lock = (" FOR UPDATE NOWAIT" if nowait else " FOR UPDATE") if for_update else ""
    row: Row | None = await conn.fetchrow(
        f"SELECT * FROM memberships WHERE id = $1{lock}", membership_id)  # noqa: S608
    return row


async def memberships_of(conn: asyncpg.Connection, member_id: UUID) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM memberships WHERE member_id = $1 ORDER BY period_start DESC, created_at DESC",
        member_id))


async def set_membership_status(conn: asyncpg.Connection, membership_id: UUID, status: str,
                                reason: str | None, now: datetime, *,
                                note: str | None = None) -> Row:
    """The status, its reason and the desk's note (each change replaces the last's)."""
    row: Row = await conn.fetchrow(
        "UPDATE memberships SET status = $2, status_reason = $3, status_note = $5, "
        "updated_at = $4 WHERE id = $1 RETURNING *",
        membership_id, status, reason, now, note)
    return row


async def extend_membership(conn: asyncpg.Connection, membership_id: UUID, period_start: date,
                            period_end: date, now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        "UPDATE memberships SET period_start = $2, period_end = $3, updated_at = $4 "
        "WHERE id = $1 RETURNING *", membership_id, period_start, period_end, now)
    return row


# ---------------------------------------------------------------- registration limits


async def count_registration_attempts(conn: asyncpg.Connection, digests: list[bytes],
                                      now: datetime, window: timedelta) -> list[Row]:
    """One more attempt on each counter (a new window once the last has passed); each row:
    digest, attempts in its window, window_start. Passed windows are deleted on the way."""
    await conn.execute(
        "DELETE FROM registration_limits WHERE digest IN (SELECT digest FROM registration_limits"
        " WHERE window_start <= $1 LIMIT 100)", now - window)
    return list(await conn.fetch(
        """
        INSERT INTO registration_limits AS l (digest, window_start, attempts)
        SELECT d, $2, 1 FROM unnest($1::bytea[]) AS d
        ON CONFLICT (digest) DO UPDATE SET
            attempts = CASE WHEN l.window_start <= $2 - $3::interval THEN 1
                            ELSE l.attempts + 1 END,
            window_start = CASE WHEN l.window_start <= $2 - $3::interval THEN $2
                                ELSE l.window_start END
        RETURNING digest, attempts, window_start
        """, digests, now, window))
