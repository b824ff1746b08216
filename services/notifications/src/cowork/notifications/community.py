"""Community's mails (issue 21): the replica of community's contact cards and the mails its
events send to a registrant — confirm your registration, you are on the waiting list, a seat is
yours, tomorrow's reminder, the meeting cancelled or your hold expired, confirm the erasure.

The registrant is known here only by the id of their registration (or erasure request): it is
the deliveries' `recipient_ref`, and the key of their card. The event and the card travel on
two topics with no order between them: a mail recorded before its card waits for it (the
dispatcher retries, and the card's arrival makes it due at once, as for a member's mail);
a card tombstoned before its mail is sent means no mail."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from cowork.notifications import delivery_store, domain, store
from cowork.notifications.delivery_store import MailIntent
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev

# Delivery log rows settled by a tombstone say why (staff read `last_error`).
FORGOTTEN = "contact withdrawn"
# Every link a template may show, empty when the card has none (the templates then leave it out).
EMPTY_LINKS = {"confirm": "", "cancel": "", "erase": ""}


async def keep_card(conn: asyncpg.Connection, card: ev.CommunityContact, now: datetime) -> int:
    """Keep the newest card (unless its registration was forgotten: a card replayed after its
    tombstone must not bring the address back); returns how many of its mails, waiting for
    the card, are now due at once."""
    await conn.execute(
        """
        INSERT INTO community_contacts (registration_id, full_name, email, language, code,
                                        meeting_title, meeting_start, meeting_place, links,
                                        updated_at)
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10
        WHERE NOT EXISTS (SELECT 1 FROM community_forgotten WHERE registration_id = $1)
        ON CONFLICT (registration_id) DO UPDATE
            SET full_name = EXCLUDED.full_name, email = EXCLUDED.email,
                language = EXCLUDED.language, code = EXCLUDED.code,
                meeting_title = EXCLUDED.meeting_title, meeting_start = EXCLUDED.meeting_start,
                meeting_place = EXCLUDED.meeting_place, links = EXCLUDED.links,
                updated_at = EXCLUDED.updated_at
        """, card.registration_id, card.full_name, card.email, card.language, card.code,
        card.meeting_title, card.meeting_start, card.meeting_place,
        json.dumps(card.links), now)
    return await store.hasten_mail_awaiting(conn, card.registration_id, now)


async def forget(conn: asyncpg.Connection, registration_id: UUID, now: datetime) -> None:
    """A tombstone: the card goes, and any of its mails not yet sent is cancelled (one being
    sent right now is no longer `sending`, so the dispatcher does not hand it over)."""
    await conn.execute("DELETE FROM community_contacts WHERE registration_id = $1",
                       registration_id)
    await conn.execute(
        "INSERT INTO community_forgotten (registration_id, forgotten_at) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING", registration_id, now)
    await conn.execute(
        "UPDATE deliveries SET status = 'cancelled', settled_at = $2, lease_until = NULL, "
        "last_error = $3 WHERE recipient_ref = $1 AND channel = 'email' "
        "AND status IN ('pending', 'sending')", str(registration_id), now, FORGOTTEN)


async def is_forgotten(conn: asyncpg.Connection, registration_id: UUID) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM community_forgotten WHERE registration_id = $1)",
        registration_id))


async def _forgotten_among(conn: asyncpg.Connection, ids: list[UUID]) -> set[UUID]:
    rows = await conn.fetch("SELECT registration_id FROM community_forgotten "
                            "WHERE registration_id = ANY($1::uuid[])", ids)
    return {r["registration_id"] for r in rows}


async def mail_registrants(conn: asyncpg.Connection, envelopes: list[Envelope],
                           now: datetime) -> int:
    """Record the mail each event sends its registrant (none for a registration already
    forgotten), once per event: the delivery key is (event, channel, registration id).
    The payload is the event's data; the address, the code and the personal links stay on
    the card and are read only when the mail is sent."""
    forgotten = await _forgotten_among(conn, [domain.registrant_of(e.data) for e in envelopes])
    by_template: dict[str, list[MailIntent]] = defaultdict(list)
    for envelope in envelopes:
        template = domain.community_template(envelope.data)
        registrant = domain.registrant_of(envelope.data)
        if template is None or registrant in forgotten:
            continue
        payload: dict[str, Any] = envelope.data.model_dump(mode="json")  # type: ignore[union-attr]
        by_template[template].append(MailIntent(envelope.id, str(registrant), None,
                                                envelope.subject, payload))
    recorded = 0
    for template, intents in by_template.items():
        recorded += await delivery_store.record_mail_intents(
            conn, intents, cause_event_type=envelopes[0].type, template=template,
            category="essential", essential=True, now=now)
    return recorded


def mail_context(row: asyncpg.Record, payload: dict[str, Any]) -> dict[str, Any]:
    """What a community template is given: the event (`e`) and the card's facts (`card`). No
    name: these mails go to an address that may be unconfirmed, so they quote nothing the
    registrant typed (as the welcome does not)."""
    links = row["card_links"]
    links = json.loads(links) if isinstance(links, str) else dict(links or {})
    card = {"code": row["card_code"], "meeting_title": row["card_meeting_title"],
            "meeting_start": row["card_meeting_start"], "meeting_place": row["card_meeting_place"],
            "links": {**EMPTY_LINKS, **domain.safe_links(links)}}
    return {"e": payload, "card": card, "name": "", "place": row["card_meeting_place"] or ""}
