"""The SQL of the notifications service's replicas and members: contacts, preferences, the
booking facts the mails need, erasure and retention. Functions take a connection: the caller
owns the transaction. The delivery queue's SQL is in `delivery_store`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

# -- contacts replica


async def upsert_contact(conn: asyncpg.Connection, member_id: UUID, full_name: str, email: str,
                         language: str, now: datetime) -> None:
    """Keep the current card, unless the member was erased: a card replayed from the compacted
    topic after the erasure must not bring the address back."""
    await conn.execute(
        """
        INSERT INTO contacts (member_id, full_name, email, language, updated_at)
        SELECT $1, $2, $3, $4, $5
        WHERE NOT EXISTS (SELECT 1 FROM erased_members WHERE member_id = $1)
        ON CONFLICT (member_id) DO UPDATE
            SET full_name = EXCLUDED.full_name, email = EXCLUDED.email,
                language = EXCLUDED.language, updated_at = EXCLUDED.updated_at
        """, member_id, full_name, email, language, now)


async def hasten_mail_awaiting(conn: asyncpg.Connection, member_id: UUID, now: datetime) -> int:
    """The member's mail waiting for a later attempt becomes due now (their contact card has
    just arrived); returns how many."""
    status = await conn.execute(
        "UPDATE deliveries SET next_attempt_at = $2 "
        "WHERE recipient_ref = $1 AND channel = 'email' AND status = 'pending' "
        "AND next_attempt_at > $2", str(member_id), now)
    return int(status.split()[-1])


async def is_erased(conn: asyncpg.Connection, member_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM erased_members WHERE member_id = $1)", member_id))


async def forget_member(conn: asyncpg.Connection, member_id: UUID, now: datetime) -> list[UUID]:
    """Erasure: the card, the preferences and the member's delivery log go (a mail being sent
    right now is no longer `sending`, so the dispatcher does not hand it over: see
    `still_to_send`), and the settled webhook deliveries about the member; the member's
    bookings are returned so their reminders can be cancelled."""
    await conn.execute("DELETE FROM contacts WHERE member_id = $1", member_id)
    await conn.execute("DELETE FROM preferences WHERE member_id = $1", member_id)
    await conn.execute(
        "INSERT INTO erased_members (member_id, erased_at) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING", member_id, now)
    await conn.execute("DELETE FROM deliveries WHERE recipient_ref = $1", str(member_id))
    await conn.execute(
        "DELETE FROM deliveries WHERE channel = 'webhook' "
        "AND payload -> 'data' ->> 'member_id' = $1 AND status IN ('sent', 'dead', 'cancelled')",
        str(member_id))
    rows = await conn.fetch(
        "UPDATE bookings SET status = 'erased' WHERE member_id = $1 AND status = 'confirmed' "
        "RETURNING booking_id", member_id)
    return [r["booking_id"] for r in rows]


async def forget_webhook_deliveries_of_erased(conn: asyncpg.Connection,
                                             delivery_ids: Sequence[UUID]) -> None:
    """Webhook deliveries about a member erased while they were in flight go once settled."""
    await conn.execute(
        "DELETE FROM deliveries d USING erased_members e "
        "WHERE d.id = ANY($1::uuid[]) AND d.channel = 'webhook' "
        "AND d.payload -> 'data' ->> 'member_id' = e.member_id::text", list(delivery_ids))


async def still_to_send(conn: asyncpg.Connection, delivery_id: UUID) -> bool:
    """Is the claimed mail still ours to send? Not if the erasure (or a replay, a
    cancellation) came meanwhile: asked just before the message is handed to SMTP."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = $1 AND d.status = 'sending' "
        "AND NOT EXISTS (SELECT 1 FROM erased_members e "
        "                WHERE e.member_id::text = d.recipient_ref) "
        "AND NOT EXISTS (SELECT 1 FROM community_forgotten f "
        "                WHERE f.registration_id::text = d.recipient_ref))", delivery_id))


async def purge_settled_deliveries(conn: asyncpg.Connection, before: datetime,
                                   batch_size: int) -> int:
    """Retention: one batch of deliveries settled before `before` (oldest first)."""
    status = await conn.execute(
        "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries "
        "WHERE settled_at IS NOT NULL AND settled_at < $1 ORDER BY settled_at LIMIT $2 "
        "FOR UPDATE SKIP LOCKED)", before, batch_size)
    return int(status.split()[-1])


# -- preferences


async def opted_out(conn: asyncpg.Connection, member_id: UUID) -> list[str]:
    value = await conn.fetchval("SELECT opted_out FROM preferences WHERE member_id = $1",
                                member_id)
    return list(value or [])


async def set_preferences(conn: asyncpg.Connection, member_id: UUID, categories: Sequence[str],
                          now: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO preferences (member_id, opted_out, updated_at) VALUES ($1, $2, $3)
        ON CONFLICT (member_id) DO UPDATE
            SET opted_out = EXCLUDED.opted_out, updated_at = EXCLUDED.updated_at
        """, member_id, list(categories), now)


# -- booking facts the mails need


async def upsert_resource(conn: asyncpg.Connection, resource_id: UUID, name: str,
                          kind: str) -> None:
    await conn.execute(
        "INSERT INTO resources (resource_id, name, kind) VALUES ($1, $2, $3) "
        "ON CONFLICT (resource_id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind",
        resource_id, name, kind)


async def resource_name(conn: asyncpg.Connection, resource_id: UUID) -> str | None:
    value = await conn.fetchval("SELECT name FROM resources WHERE resource_id = $1", resource_id)
    return str(value) if value is not None else None


async def resource_names(conn: asyncpg.Connection, resource_ids: Sequence[UUID]
                         ) -> dict[UUID, str]:
    rows = await conn.fetch("SELECT resource_id, name FROM resources "
                            "WHERE resource_id = ANY($1::uuid[])", list(set(resource_ids)))
    return {r["resource_id"]: r["name"] for r in rows}


async def bookings(conn: asyncpg.Connection, booking_ids: Sequence[UUID]
                   ) -> dict[UUID, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT b.booking_id, b.member_id, b.resource_id, b.resource_kind, b.starts_at, "
        "b.ends_at, b.status, r.name AS resource_name "
        "FROM bookings b LEFT JOIN resources r USING (resource_id) "
        "WHERE b.booking_id = ANY($1::uuid[])", list(booking_ids))
    return {r["booking_id"]: r for r in rows}


async def record_bookings(conn: asyncpg.Connection,
                          rows: Sequence[tuple[UUID, UUID, UUID, str, datetime, datetime]]
                          ) -> None:
    await conn.executemany(
        """
        INSERT INTO bookings (booking_id, member_id, resource_id, resource_kind, starts_at, ends_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (booking_id) DO NOTHING
        """, rows)


async def booking(conn: asyncpg.Connection, booking_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT booking_id, member_id, resource_id, resource_kind, starts_at, ends_at, status "
        "FROM bookings WHERE booking_id = $1", booking_id)


async def close_booking(conn: asyncpg.Connection, booking_id: UUID, status: str) -> None:
    await conn.execute("UPDATE bookings SET status = $2 WHERE booking_id = $1", booking_id,
                       status)


async def cancel_pending_reminders(conn: asyncpg.Connection, booking_id: UUID,
                                   now: datetime) -> None:
    """A reminder already handed to the dispatcher but not yet sent is dropped too."""
    await conn.execute(
        "UPDATE deliveries SET status = 'cancelled', settled_at = $2, "
        "last_error = 'booking cancelled' "
        "WHERE subject_ref = $1 AND template = 'booking_reminder' AND status = 'pending'",
        str(booking_id), now)
