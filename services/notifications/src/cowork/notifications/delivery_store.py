"""The SQL of the delivery queue: recording what is to be sent (mail and webhook intents),
claiming due deliveries for an attempt, settling them, and what the delivery API reads and
replays. Functions take a connection: the caller owns the transaction. The replicas the mails
are written from (contacts, preferences, bookings) are in `store`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


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
