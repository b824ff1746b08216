"""Every SQL statement of the notifications service, named for what it does. Functions take a
connection: the caller owns the transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
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


# -- deliveries


@dataclass(frozen=True)
class MailIntent:
    cause_event_id: UUID
    recipient_ref: str  # a member id, or 'officers'
    member_id: UUID | None  # None for the officers
    subject_ref: str
    payload: dict[str, Any]


# The delivery id is derived from the key in SQL exactly as domain.delivery_id does in Python.
_RECORD_MAIL_INTENTS = """
INSERT INTO deliveries (id, cause_event_id, cause_event_type, channel, recipient_ref, template,
                        subject_ref, payload, status, next_attempt_at, created_at, settled_at,
                        last_error)
SELECT md5(u.cause::text || '/email/' || u.recipient)::uuid, u.cause, $6::text, 'email',
       u.recipient, $7::text, u.subject, u.payload::jsonb,
       CASE WHEN w.wanted THEN 'pending' ELSE 'cancelled' END, $8::timestamptz, $8::timestamptz,
       CASE WHEN w.wanted THEN NULL ELSE $8::timestamptz END,
       CASE WHEN w.wanted THEN NULL ELSE 'opted out of ' || $9::text END
FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[])
     AS u(cause, recipient, member, subject, payload)
CROSS JOIN LATERAL (
    SELECT $10::boolean OR NOT ($9::text = ANY(coalesce(
        (SELECT opted_out FROM preferences p WHERE p.member_id = u.member), '{}'))) AS wanted
) w
WHERE u.member IS NULL
   OR NOT EXISTS (SELECT 1 FROM erased_members e WHERE e.member_id = u.member)
ON CONFLICT (cause_event_id, channel, recipient_ref) DO NOTHING
"""


async def record_mail_intents(conn: asyncpg.Connection, intents: Sequence[MailIntent], *,
                              cause_event_type: str, template: str, category: str,
                              essential: bool, now: datetime) -> int:
    """Record, in one statement for a whole batch of events, that each is to be mailed to its
    recipient — once: the key (cause event, channel, recipient) is unique, so a redelivered
    event adds nothing. An erased member gets no row; a member who opted out of the category
    gets a `cancelled` one that says so (the delivery log shows why nothing went)."""
    if not intents:
        return 0
    status = await conn.execute(
        _RECORD_MAIL_INTENTS,
        [i.cause_event_id for i in intents], [i.recipient_ref for i in intents],
        [i.member_id for i in intents], [i.subject_ref for i in intents],
        [json.dumps(i.payload, default=str) for i in intents],
        cause_event_type, template, now, category, essential)
    return int(status.split()[-1])


_RECORD_WEBHOOK_INTENTS = """
INSERT INTO deliveries (id, cause_event_id, cause_event_type, channel, recipient_ref, template,
                        subject_ref, payload, status, next_attempt_at, created_at)
SELECT md5(u.cause::text || '/webhook/' || s.id::text)::uuid, u.cause, u.type, 'webhook',
       s.id::text, u.type, u.subject, u.body::jsonb, 'pending', $5::timestamptz, $5::timestamptz
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(cause, type, subject, body)
JOIN webhook_subscriptions s
  ON s.active AND (u.type = ANY(s.event_types) OR '*' = ANY(s.event_types))
ON CONFLICT (cause_event_id, channel, recipient_ref) DO NOTHING
"""


async def record_webhook_intents(conn: asyncpg.Connection,
                                 events: Sequence[tuple[UUID, str, str, dict[str, Any]]],
                                 now: datetime) -> int:
    """One delivery per (event, active subscription whose filter takes the event's type), for a
    batch of (event id, type, subject, CloudEvent) in one statement."""
    if not events:
        return 0
    status = await conn.execute(
        _RECORD_WEBHOOK_INTENTS, [e[0] for e in events], [e[1] for e in events],
        [e[2] for e in events], [json.dumps(e[3], separators=(",", ":")) for e in events], now)
    return int(status.split()[-1])


# A row still `sending` after its lease is one whose sender died during the attempt; the claim
# counted that attempt, so when it was the last the row is returned `exhausted` (attempts not
# counted again) and the dispatcher settles it `dead` without sending: a delivery that kills
# every sender that takes it ends, rather than moving from replica to replica for ever.
_CLAIMED = """
claimed AS (
    UPDATE deliveries d SET status = 'sending', lease_until = $3,
        attempts = CASE WHEN due.lost AND due.before >= $4 THEN d.attempts
                        ELSE d.attempts + 1 END
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.cause_event_id, d.cause_event_type, d.channel, d.recipient_ref,
              d.template, d.subject_ref, d.payload, d.attempts, d.created_at,
              (due.lost AND due.before >= $4) AS exhausted
)"""
_DUE = "((d.status = 'pending' AND d.next_attempt_at <= $1) OR " \
       "(d.status = 'sending' AND d.lease_until < $1))"

_CLAIM_MAIL = f"""
WITH due AS (
    SELECT d.id, d.status = 'sending' AS lost, d.attempts AS before FROM deliveries d
    WHERE d.channel = 'email' AND {_DUE}
    ORDER BY d.next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), {_CLAIMED}
SELECT claimed.*, coalesce(c.email, k.email) AS email,
       coalesce(c.full_name, k.full_name) AS full_name,
       coalesce(c.language, k.language) AS language,
       k.code AS card_code, k.meeting_title AS card_meeting_title,
       k.meeting_start AS card_meeting_start, k.meeting_place AS card_meeting_place,
       k.links AS card_links
FROM claimed
LEFT JOIN contacts c ON c.member_id::text = claimed.recipient_ref
     AND claimed.cause_event_type NOT LIKE 'cowork.community.%'
LEFT JOIN community_contacts k ON k.registration_id::text = claimed.recipient_ref
     AND claimed.cause_event_type LIKE 'cowork.community.%'
"""  # noqa: S608 - constants only

# Webhooks: oldest first, but never more than $5 in flight per subscription nor $6 per
# partner (their leases still running), so one partner's slow endpoints cannot take every slot.
_CLAIM_WEBHOOKS = f"""
WITH busy_sub AS (
    SELECT recipient_ref, count(*) AS n FROM deliveries
    WHERE channel = 'webhook' AND status = 'sending' AND lease_until >= $1
    GROUP BY recipient_ref
), busy_owner AS (
    SELECT s.owner_sub, sum(b.n) AS n
    FROM busy_sub b JOIN webhook_subscriptions s ON s.id::text = b.recipient_ref
    GROUP BY s.owner_sub
), ready AS (
    SELECT d.id, d.next_attempt_at, d.recipient_ref, s.owner_sub,
           row_number() OVER (PARTITION BY d.recipient_ref
                              ORDER BY d.next_attempt_at, d.id) AS nth
    FROM deliveries d LEFT JOIN webhook_subscriptions s ON s.id::text = d.recipient_ref
    WHERE d.channel = 'webhook' AND {_DUE}
), within_subscription AS (
    SELECT r.id, r.next_attempt_at, r.owner_sub FROM ready r
    LEFT JOIN busy_sub b USING (recipient_ref)
    WHERE coalesce(b.n, 0) + r.nth <= $5
), within_partner AS (
    SELECT w.id, coalesce(b.n, 0) + row_number() OVER (
               PARTITION BY w.owner_sub ORDER BY w.next_attempt_at, w.id) AS load
    FROM within_subscription w LEFT JOIN busy_owner b USING (owner_sub)
), due AS (
    SELECT d.id, d.status = 'sending' AS lost, d.attempts AS before FROM deliveries d
    WHERE d.id IN (SELECT id FROM within_partner WHERE load <= $6) AND {_DUE}
    ORDER BY d.next_attempt_at
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), {_CLAIMED}
SELECT claimed.* FROM claimed
"""  # noqa: S608 - constants only


async def claim_mail(conn: asyncpg.Connection, now: datetime, limit: int,
                     lease_until: datetime, max_attempts: int) -> list[asyncpg.Record]:
    """Take up to `limit` due mails (and any whose sender died holding them: its lease ran
    out) for one attempt each, with the recipient's contact card (read at the moment of
    sending: deliveries never keep an address)."""
    return list(await conn.fetch(_CLAIM_MAIL, now, limit, lease_until, max_attempts))


async def claim_webhooks(conn: asyncpg.Connection, now: datetime, limit: int,
                         lease_until: datetime, max_attempts: int, *,
                         per_subscription: int, per_partner: int) -> list[asyncpg.Record]:
    return list(await conn.fetch(_CLAIM_WEBHOOKS, now, limit, lease_until, max_attempts,
                                 per_subscription, per_partner))


async def settle(conn: asyncpg.Connection, delivery_id: UUID, status: str, now: datetime,
                 error: str | None = None) -> bool:
    """Record the outcome of the attempt in hand; False if the row is no longer ours (it was
    cancelled, or replayed, meanwhile)."""
    result = await conn.execute(
        "UPDATE deliveries SET status = $2, settled_at = $3, lease_until = NULL, "
        "last_error = $4, sent_at = CASE WHEN $2 = 'sent' THEN $3 ELSE sent_at END "
        "WHERE id = $1 AND status = 'sending'", delivery_id, status, now, error)
    return not result.endswith(" 0")


async def settle_many(conn: asyncpg.Connection, status: str, outcomes: Sequence[tuple[UUID, str | None]],
                      now: datetime) -> set[UUID]:
    """`settle` for many deliveries of one outcome, in one statement; returns those settled."""
    rows = await conn.fetch(
        """
        UPDATE deliveries d SET status = $1, settled_at = $2, lease_until = NULL,
               last_error = u.error,
               sent_at = CASE WHEN $1 = 'sent' THEN $2::timestamptz ELSE d.sent_at END
        FROM unnest($3::uuid[], $4::text[]) AS u(id, error)
        WHERE d.id = u.id AND d.status = 'sending'
        RETURNING d.id
        """, status, now, [o[0] for o in outcomes], [o[1] for o in outcomes])
    return {r["id"] for r in rows}


async def retry_later(conn: asyncpg.Connection, delivery_id: UUID, at: datetime,
                      error: str) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = $2, lease_until = NULL, "
        "last_error = $3 WHERE id = $1 AND status = 'sending'", delivery_id, at, error)


async def delivery(conn: asyncpg.Connection, delivery_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery_id)


async def list_deliveries(conn: asyncpg.Connection, *, cause_event_id: UUID | None,
                          recipient_refs: Sequence[str] | None, status: str | None,
                          limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT * FROM deliveries
        WHERE ($1::uuid IS NULL OR cause_event_id = $1)
          AND ($2::text[] IS NULL OR recipient_ref = ANY($2::text[]))
          AND ($3::text IS NULL OR status = $3)
        ORDER BY created_at DESC, id
        LIMIT $4
        """, cause_event_id, list(recipient_refs) if recipient_refs is not None else None,
        status, limit)


async def replay(conn: asyncpg.Connection, delivery_id: UUID, now: datetime) -> asyncpg.Record | None:
    """Queue a settled delivery again (an operator's decision, e.g. once a partner's endpoint is
    fixed): attempts start again from zero."""
    return await conn.fetchrow(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2, "
        "lease_until = NULL, settled_at = NULL, last_error = NULL "
        "WHERE id = $1 AND status IN ('sent', 'dead', 'cancelled') RETURNING *",
        delivery_id, now)
