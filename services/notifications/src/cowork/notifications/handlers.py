"""Event subscribers. Each runs in the transaction that records the event in the inbox, and does
only database work there: it updates the small replicas the mails need and records the intent
of each delivery (one row per event, channel and recipient). Sending happens later, in the
dispatcher, so a slow SMTP server or webhook receiver never holds up consumption."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg

from cowork.notifications import commands, domain, store
from cowork.notifications.dispatcher import WAKE_CHANNEL
from cowork.shared.consumer import Handler
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev
from cowork.shared.scheduler import Clock

Facts = Callable[[asyncpg.Connection, Any], Awaitable[dict[str, Any]]]


def contact_handlers(clock: Clock) -> dict[str, Handler]:
    async def on_contact_card(conn: asyncpg.Connection, envelope: Envelope) -> None:
        card = envelope.data
        if card is None:  # a tombstone: the member was erased
            await commands.forget_member(conn, UUID(envelope.subject), clock())
            return
        assert isinstance(card, ev.ContactCard)
        await store.upsert_contact(conn, card.member_id, card.full_name, card.email,
                                   card.language, clock())

    return {ev.ContactCard.event_type: on_contact_card}


def event_handlers(clock: Clock) -> dict[str, Handler]:
    """One handler per event type partners may subscribe to: the replica work its type needs,
    then the mail its type causes (if any), then the webhook deliveries."""

    async def on_resource_published(conn: asyncpg.Connection, event: Any) -> None:
        await store.upsert_resource(conn, event.resource_id, event.name, event.kind)

    async def on_booking_confirmed(conn: asyncpg.Connection, event: Any) -> None:
        await store.record_booking(conn, event.booking_id, event.member_id, event.resource_id,
                                   event.resource_kind, event.start, event.end)
        await commands.schedule_reminders(conn, event, clock())

    async def on_booking_cancelled(conn: asyncpg.Connection, event: Any) -> None:
        await store.close_booking(conn, event.booking_id, "cancelled")
        await commands.cancel_reminders(conn, event.booking_id, clock())

    async def on_booking_ended(conn: asyncpg.Connection, event: Any) -> None:
        await store.close_booking(conn, event.booking_id, "ended")

    async def on_member_erased(conn: asyncpg.Connection, event: Any) -> None:
        await commands.forget_member(conn, event.member_id, clock())

    replica: dict[str, Callable[[asyncpg.Connection, Any], Awaitable[None]]] = {
        ev.ResourcePublished.event_type: on_resource_published,
        ev.BookingConfirmed.event_type: on_booking_confirmed,
        ev.BookingCancelled.event_type: on_booking_cancelled,
        ev.BookingCompleted.event_type: on_booking_ended,
        ev.BookingNoShow.event_type: on_booking_ended,
        ev.MemberErased.event_type: on_member_erased,
    }

    async def confirmed_facts(conn: asyncpg.Connection, event: Any) -> dict[str, Any]:
        return {"resource_name": await store.resource_name(conn, event.resource_id)}

    async def stored_booking_facts(conn: asyncpg.Connection, event: Any) -> dict[str, Any]:
        row = await store.booking(conn, event.booking_id)
        if row is None:  # confirmed before this service existed: say less
            return {"resource_name": None, "resource_kind": None, "start": None, "end": None}
        return await commands.booking_facts(conn, row["resource_id"], row["resource_kind"],
                                            row["starts_at"], row["ends_at"])

    facts: dict[str, Facts] = {
        ev.BookingConfirmed.event_type: confirmed_facts,
        ev.BookingCancelled.event_type: stored_booking_facts,
        ev.BookingNoShow.event_type: stored_booking_facts,
    }

    def handler_for(event_type: str) -> Handler:
        own = replica.get(event_type)
        rule = domain.MAIL_RULES.get(event_type)
        extra = facts.get(event_type)

        async def handle(conn: asyncpg.Connection, envelope: Envelope) -> None:
            event = envelope.data
            assert event is not None
            now = clock()
            if rule is not None:
                # The facts are read before the replica changes (a cancellation closes the
                # booking whose times its mail shows).
                payload = event.model_dump(mode="json")
                if extra is not None:
                    payload.update(await extra(conn, event))
                if rule.audience == "officers":
                    await commands.mail_officers(conn, cause_id=envelope.id,
                                                 cause_type=envelope.type, rule=rule,
                                                 subject_ref=envelope.subject, payload=payload,
                                                 now=now)
                else:
                    await commands.mail_member(conn, cause_id=envelope.id,
                                               cause_type=envelope.type, rule=rule,
                                               member_id=event.member_id,  # type: ignore[attr-defined]
                                               subject_ref=envelope.subject, payload=payload,
                                               now=now)
            if own is not None:
                await own(conn, event)
            await commands.fan_out_to_webhooks(conn, envelope, now)
            await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)

        return handle

    return {event_type: handler_for(event_type) for event_type in domain.WEBHOOK_EVENT_TYPES}
