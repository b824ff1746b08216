"""Use cases of the notifications service. Each takes a connection and works in the caller's
transaction: a handler's inbox transaction, a scheduled job's, or an API request's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from cowork.notifications import delivery_store, domain, store, subscriptions
from cowork.notifications.secret_box import SecretBox, new_signing_secret
from cowork.shared import scheduler
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev
from cowork.shared.outbox import add_events
from cowork.shared.scheduler import Job

SOURCE = "/cowork/notifications"
WAKE_CHANNEL = "cowork_notifications"  # handlers NOTIFY it at commit; the dispatcher LISTENs


def cloudevent(envelope: Envelope) -> dict[str, Any]:
    """The event in CloudEvents structured mode: what a webhook delivery POSTs."""
    assert envelope.data is not None
    return {"specversion": "1.0", "id": str(envelope.id), "source": envelope.source,
            "type": envelope.type, "subject": envelope.subject,
            "time": envelope.time.isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": envelope.data.model_dump(mode="json")}


async def mail_about(conn: asyncpg.Connection, envelopes: list[Envelope],
                     rule: domain.MailRule, payloads: list[dict[str, Any]],
                     now: datetime) -> int:
    """Record the intent to mail each event's recipient (the member it is about, or the
    officers), for a batch of events of one type; returns how many deliveries are new."""
    intents = []
    for envelope, payload in zip(envelopes, payloads, strict=True):
        if not domain.mailed(envelope.data):
            continue
        if rule.audience == "officers":
            recipient, member = domain.OFFICERS, None
        else:
            member = envelope.data.member_id  # type: ignore[union-attr]
            recipient = str(member)
        intents.append(delivery_store.MailIntent(envelope.id, recipient, member, envelope.subject,
                                        payload))
    if not intents:
        return 0
    return await delivery_store.record_mail_intents(
        conn, intents, cause_event_type=envelopes[0].type, template=rule.template,
        category=rule.category, essential=rule.essential, now=now)


async def fan_out_to_webhooks(conn: asyncpg.Connection, envelopes: list[Envelope],
                              now: datetime) -> int:
    """One delivery per event and active subscription whose filter takes the event's type."""
    if not await subscriptions.any_subscription(conn):
        return 0
    return await delivery_store.record_webhook_intents(
        conn, [(e.id, e.type, e.subject, cloudevent(e)) for e in envelopes], now)


# -- reminders


async def schedule_reminders(conn: asyncpg.Connection, event: ev.BookingConfirmed,
                             now: datetime) -> None:
    for kind, due_at in domain.reminders_to_schedule(event.start, now):
        await scheduler.schedule(conn, kind, str(event.booking_id), due_at)


def booking_payload(row: asyncpg.Record | None) -> dict[str, Any]:
    """What a booking's mail says of it, from the replica (nothing known: say less)."""
    if row is None:
        return {"resource_name": None, "resource_kind": None, "start": None, "end": None}
    return {"resource_name": row["resource_name"], "resource_kind": row["resource_kind"],
            "start": row["starts_at"].isoformat(), "end": row["ends_at"].isoformat()}


async def cancel_reminders(conn: asyncpg.Connection, booking_id: UUID, now: datetime) -> None:
    for kind in domain.REMINDER_LEAD:
        await scheduler.cancel(conn, kind, str(booking_id))
    await store.cancel_pending_reminders(conn, booking_id, now)


async def send_reminder(conn: asyncpg.Connection, job: Job, now: datetime) -> None:
    """A reminder job come due: mail the member unless the booking is gone or has begun."""
    row = await store.booking(conn, UUID(job.key))
    if row is None or row["status"] != "confirmed":
        return
    if not domain.reminder_still_useful(job.kind, row["starts_at"], now):
        return
    payload = await booking_facts(conn, row["resource_id"], row["resource_kind"],
                                  row["starts_at"], row["ends_at"])
    payload["hours_before"] = int(domain.REMINDER_LEAD[job.kind].total_seconds() // 3600)
    rule = domain.REMINDER_RULE
    intent = delivery_store.MailIntent(domain.reminder_cause_id(row["booking_id"], job.kind),
                              str(row["member_id"]), row["member_id"], job.key, payload)
    if await delivery_store.record_mail_intents(conn, [intent], cause_event_type=job.kind,
                                       template=rule.template, category=rule.category,
                                       essential=rule.essential, now=now):
        await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)


async def booking_facts(conn: asyncpg.Connection, resource_id: UUID, resource_kind: str,
                        start: datetime | None, end: datetime | None) -> dict[str, Any]:
    return {"resource_name": await store.resource_name(conn, resource_id),
            "resource_kind": resource_kind,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None}


# -- erasure


async def forget_member(conn: asyncpg.Connection, member_id: UUID, now: datetime) -> None:
    for booking_id in await store.forget_member(conn, member_id, now):
        for kind in domain.REMINDER_LEAD:
            await scheduler.cancel(conn, kind, str(booking_id))


# -- outcomes (called by the dispatcher, each in its own short transaction)


def _outcome(event_type: type[ev.NotificationSent] | type[ev.NotificationFailed],
             row: asyncpg.Record) -> ev.DomainEvent:
    return event_type(notification_id=row["id"], channel=row["channel"],
                      template=row["template"], cause_event_id=row["cause_event_id"],
                      recipient_ref=row["recipient_ref"], attempts=row["attempts"])


async def record_outcomes(conn: asyncpg.Connection,
                          outcomes: list[tuple[str, asyncpg.Record, str | None]],
                          now: datetime) -> None:
    """Settle attempts (`sent`, `dead` or `cancelled`, with the error if any) in one
    transaction, with `notification.sent` / `.failed` in the outbox for those settled. A row
    that is no longer `sending` (replayed or cancelled meanwhile) is left alone."""
    for status, event_type in (("sent", ev.NotificationSent), ("dead", ev.NotificationFailed),
                               ("cancelled", None)):
        rows = [(row, error) for s, row, error in outcomes if s == status]
        if not rows:
            continue
        settled = await delivery_store.settle_many(conn, status, [(r["id"], e) for r, e in rows], now)
        if event_type is not None and settled:
            await add_events(conn, [_outcome(event_type, r) for r, _ in rows
                                    if r["id"] in settled], source=SOURCE)
        if settled:
            await store.forget_webhook_deliveries_of_erased(conn, list(settled))


# -- API use cases


class SubscriptionLimit(Exception):
    """The partner has as many active subscriptions as it may."""


async def create_subscription(conn: asyncpg.Connection, box: SecretBox, owner_sub: str,
                              url: str, event_types: list[str], now: datetime, *,
                              limit: int) -> tuple[asyncpg.Record, str]:
    """A new subscription and its secret (returned in the clear this once, stored sealed);
    refused once the partner has `limit` active ones (counted under a per-partner lock)."""
    if await subscriptions.count_and_lock_subscriptions(conn, owner_sub) >= limit:
        raise SubscriptionLimit(f"at most {limit} active webhook subscriptions per partner")
    secret = new_signing_secret()
    row = await subscriptions.create_subscription(conn, uuid4(), owner_sub, url, event_types,
                                          box.seal(secret), now)
    return row, secret


# Secrets kept signing after a rotation: the one it replaced, and one more when it came
# during an overlap (the partner may never have had the one in between: a lost answer, a
# retried call); bounded, so rotating again and again does not keep every old secret.
MAX_PREVIOUS_SECRETS = 2


async def rotate_secret(conn: asyncpg.Connection, box: SecretBox, subscription_id: UUID,
                        now: datetime, overlap: timedelta) -> tuple[asyncpg.Record, str] | None:
    """A new signing secret; the ones signing until now keep signing for `overlap` (every
    signature is sent meanwhile), then are dropped."""
    current = await subscriptions.subscription_for_update(conn, subscription_id)
    if current is None or not current["active"]:
        return None
    previous = [box.open(current["secret"])]
    until = current["previous_secret_until"]
    if current["previous_secret"] and until is not None and until > now:
        previous += box.open(current["previous_secret"]).split()
    secret = new_signing_secret()
    row = await subscriptions.rotate_secret(
        conn, subscription_id, box.seal(secret),
        box.seal(" ".join(previous[:MAX_PREVIOUS_SECRETS])), now + overlap)
    return (row, secret) if row is not None else None


async def seal_secrets_at_rest(conn: asyncpg.Connection, box: SecretBox) -> int:
    """At start: encrypt the secrets stored in the clear before migration 0002, and re-encrypt
    the others under the first key (so an old key can be dropped after a restart)."""
    rows = await subscriptions.stored_secrets(conn)
    for row in rows:
        current = row["secret"]
        sealed = box.seal(current) if current.startswith("whsec_") else box.reseal(current)
        previous = row["previous_secret"]
        if previous is not None:
            previous = box.seal(previous) if previous.startswith("whsec_") else box.reseal(
                previous)
        await subscriptions.replace_secrets(conn, row["id"], sealed, previous)
    return len(rows)
