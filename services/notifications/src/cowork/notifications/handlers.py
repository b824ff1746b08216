"""Event subscribers. Each runs in the transaction that records the events in the inbox, and does
only database work there: it updates the small replicas the mails need and records the intent
of each delivery (one row per event, channel and recipient). Sending happens later, in the
dispatcher, so a slow SMTP server or webhook receiver never holds up consumption.

The event handlers take runs of consecutive events of one type (`applies_batches`), so a busy
stream costs a few statements per batch rather than several per event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg

from cowork.notifications import commands, community, domain, store
from cowork.notifications.commands import WAKE_CHANNEL
from cowork.shared.consumer import BatchHandler, Handler, applies_batches
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev
from cowork.shared.scheduler import Clock

Replica = Callable[[asyncpg.Connection, list[Any], Clock], Awaitable[None]]
Facts = Callable[[asyncpg.Connection, list[Any]], Awaitable[list[dict[str, Any]]]]


def contact_handlers(clock: Clock) -> dict[str, Handler]:
    async def on_contact_card(conn: asyncpg.Connection, envelope: Envelope) -> None:
        card = envelope.data
        if card is None:  # a tombstone: the member was erased
            await commands.forget_member(conn, UUID(envelope.subject), clock())
            return
        assert isinstance(card, ev.ContactCard)
        now = clock()
        await store.upsert_contact(conn, card.member_id, card.full_name, card.email,
                                   card.language, now)
        # Mail that came before the card (two topics, no order between them: a welcome on
        # member.registered usually does) is waiting for its next retry: send it now.
        if await store.hasten_mail_awaiting(conn, card.member_id, now):
            await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)

    async def on_community_card(conn: asyncpg.Connection, envelope: Envelope) -> None:
        card = envelope.data
        if card is None:  # a tombstone: cancelled, erased or the meeting is over
            await community.forget(conn, UUID(envelope.subject), clock())
            return
        assert isinstance(card, ev.CommunityContact)
        if await community.keep_card(conn, card, clock()):
            await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)

    return {ev.ContactCard.event_type: on_contact_card,
            ev.CommunityContact.event_type: on_community_card}


# -- the replicas the mails need, kept from the events


async def _resources_published(conn: asyncpg.Connection, events: list[Any], clock: Clock) -> None:
    for event in events:
        await store.upsert_resource(conn, event.resource_id, event.name, event.kind)


async def _bookings_confirmed(conn: asyncpg.Connection, events: list[Any], clock: Clock) -> None:
    await store.record_bookings(conn, [(e.booking_id, e.member_id, e.resource_id,
                                        e.resource_kind, e.start, e.end) for e in events])
    now = clock()
    for event in events:
        await commands.schedule_reminders(conn, event, now)


async def _bookings_cancelled(conn: asyncpg.Connection, events: list[Any], clock: Clock) -> None:
    now = clock()
    for event in events:
        await store.close_booking(conn, event.booking_id, "cancelled")
        await commands.cancel_reminders(conn, event.booking_id, now)


async def _bookings_ended(conn: asyncpg.Connection, events: list[Any], clock: Clock) -> None:
    for event in events:
        await store.close_booking(conn, event.booking_id, "ended")


async def _members_erased(conn: asyncpg.Connection, events: list[Any], clock: Clock) -> None:
    for event in events:
        await commands.forget_member(conn, event.member_id, clock())


REPLICAS: dict[str, Replica] = {
    ev.ResourcePublished.event_type: _resources_published,
    ev.BookingConfirmed.event_type: _bookings_confirmed,
    ev.BookingCancelled.event_type: _bookings_cancelled,
    ev.BookingCompleted.event_type: _bookings_ended,
    ev.BookingNoShow.event_type: _bookings_ended,
    ev.MemberErased.event_type: _members_erased,
}


# -- what a mail says beyond its event


async def _confirmed_facts(conn: asyncpg.Connection, events: list[Any]) -> list[dict[str, Any]]:
    names = await store.resource_names(conn, [e.resource_id for e in events])
    return [{"resource_name": names.get(e.resource_id)} for e in events]


async def _stored_booking_facts(conn: asyncpg.Connection, events: list[Any]
                                ) -> list[dict[str, Any]]:
    known = await store.bookings(conn, [e.booking_id for e in events])
    return [commands.booking_payload(known.get(e.booking_id)) for e in events]


FACTS: dict[str, Facts] = {
    ev.BookingConfirmed.event_type: _confirmed_facts,
    ev.BookingCancelled.event_type: _stored_booking_facts,
    ev.BookingNoShow.event_type: _stored_booking_facts,
}


def event_handlers(clock: Clock) -> dict[str, Handler | BatchHandler]:
    """One handler per event type partners may subscribe to, or members or community's
    registrants are mailed about."""
    return {event_type: _handler_for(event_type, clock)
            for event_type in domain.HANDLED_EVENT_TYPES}


def _handler_for(event_type: str, clock: Clock) -> BatchHandler:
    """The mail its type causes (if any), the replica work its type needs, then the webhook
    deliveries (not for the members' own security notices: domain.MEMBER_ONLY_EVENT_TYPES)."""
    own = REPLICAS.get(event_type)
    rule = domain.MAIL_RULES.get(event_type)
    extra = FACTS.get(event_type)
    to_partners = event_type in domain.WEBHOOK_EVENT_TYPES
    to_registrants = event_type in domain.COMMUNITY_MAILED_EVENT_TYPES

    @applies_batches
    async def handle(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
        events = [e.data for e in envelopes]
        if any(event is None for event in events):
            raise ValueError(f"{event_type} without data")  # only contacts have tombstones
        now = clock()
        recorded = 0
        if rule is not None:
            # The facts are read before the replica changes (a cancellation closes the
            # booking whose times its mail shows).
            payloads = [event.model_dump(mode="json") for event in events]  # type: ignore[union-attr]
            if extra is not None:
                for payload, more in zip(payloads, await extra(conn, events), strict=True):
                    payload.update(more)
            recorded += await commands.mail_about(conn, envelopes, rule, payloads, now)
        if to_registrants:
            recorded += await community.mail_registrants(conn, envelopes, now)
        if own is not None:
            await own(conn, events, clock)
        if to_partners:
            recorded += await commands.fan_out_to_webhooks(conn, envelopes, now)
        if recorded:
            await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)

    return handle
