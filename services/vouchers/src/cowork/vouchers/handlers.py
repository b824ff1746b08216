"""What the vouchers service learns from booking and membership events: the replicas of
members and spaces, and the redemptions and reversals. Each handler runs in the transaction
that records the event in the inbox, so an event redelivered after a crash changes nothing;
redemptions also carry a unique key on the source event id, the last line of defence.

A handler that stamps something takes the service's `clock` (it decides the ledger entries'
statement month); `handlers(clock)` binds it."""

from __future__ import annotations

from functools import partial

import asyncpg

from cowork.shared.consumer import BatchHandler, Handler, applies_batches
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev
from cowork.shared.logging import get_logger
from cowork.shared.scheduler import Clock, system_clock
from cowork.vouchers.commands.members import forget_member
from cowork.vouchers.commands.redemptions import redeem, redeem_many, reverse_booking
from cowork.vouchers.domain.dates import rome_date
from cowork.vouchers.domain.redemptions import Source
from cowork.vouchers.store import replicas

log = get_logger(__name__)


async def on_registered(conn: asyncpg.Connection, envelope: Envelope, *, clock: Clock) -> None:
    event = envelope.data
    assert isinstance(event, ev.MemberRegistered)
    await replicas.upsert_member(conn, event.member_id, kind=event.kind,
                                 residence_istat=event.residence_istat, now=clock())


async def on_updated(conn: asyncpg.Connection, envelope: Envelope, *, clock: Clock) -> None:
    event = envelope.data
    assert isinstance(event, ev.MemberUpdated)
    await replicas.upsert_member(conn, event.member_id, kind=None,
                                 residence_istat=event.residence_istat, now=clock())


async def on_erased(conn: asyncpg.Connection, envelope: Envelope, *, clock: Clock) -> None:
    event = envelope.data
    assert isinstance(event, ev.MemberErased)
    await forget_member(conn, event.member_id, clock())


async def on_resource_published(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.ResourcePublished)
    await replicas.upsert_space_resource(conn, event.resource_id, event.space_id, event.kind,
                                         event.in_service)


async def on_bookings_confirmed(conn: asyncpg.Connection, envelopes: list[Envelope], *,
                                clock: Clock) -> None:
    """Consecutive booking.confirmed events, redeemed together (see redeem_many)."""
    sources = []
    for envelope in envelopes:
        event = envelope.data
        assert isinstance(event, ev.BookingConfirmed)
        if event.charged_cents is None:
            # A record from before booking said what it charged: never assume the tariff.
            log.warning("booking without charged_cents: not subsidised",
                        booking_id=str(event.booking_id), event_id=str(envelope.id))
            continue
        sources.append(Source(
            type="booking", id=event.booking_id, event_id=envelope.id,
            member_id=event.member_id, price_cents=event.price_cents,
            charged_cents=event.charged_cents, used_on=rome_date(event.start),
            space_id=event.space_id, resource_kind=event.resource_kind))
    if sources:
        await redeem_many(conn, sources, clock())


async def on_booking_cancelled(conn: asyncpg.Connection, envelope: Envelope, *,
                               clock: Clock) -> None:
    event = envelope.data
    assert isinstance(event, ev.BookingCancelled)
    await reverse_booking(conn, booking_id=event.booking_id, late=event.late,
                          late_charge_cents=event.charged_cents, event_id=envelope.id,
                          now=clock())


async def on_membership_activated(conn: asyncpg.Connection, envelope: Envelope, *,
                                  clock: Clock) -> None:
    event = envelope.data
    assert isinstance(event, ev.MembershipActivated)
    await redeem(conn, Source(
        type="membership", id=event.membership_id, event_id=envelope.id,
        member_id=event.member_id, price_cents=event.price_cents,
        charged_cents=event.price_cents, used_on=event.period_start), clock())


async def on_membership_renewed(conn: asyncpg.Connection, envelope: Envelope, *,
                                clock: Clock) -> None:
    """A renewal is subsidised as a use on its period's first day: the voucher's validity and
    the year cap are those of the period paid for, never of the day the event is processed."""
    event = envelope.data
    assert isinstance(event, ev.MembershipRenewed)
    if event.period_start is None:
        # A record from before membership said which period it pays for: never assume one.
        log.warning("renewal without period_start: not subsidised",
                    membership_id=str(event.membership_id), event_id=str(envelope.id))
        return
    await redeem(conn, Source(
        type="membership", id=event.membership_id, event_id=envelope.id,
        member_id=event.member_id, price_cents=event.price_cents,
        charged_cents=event.price_cents, used_on=event.period_start), clock())


def handlers(clock: Clock = system_clock) -> dict[str, Handler | BatchHandler]:
    """The handler map; `clock` stamps the ledger entries (it decides their statement month)."""
    return {
        ev.MemberRegistered.event_type: partial(on_registered, clock=clock),
        ev.MemberUpdated.event_type: partial(on_updated, clock=clock),
        ev.MemberErased.event_type: partial(on_erased, clock=clock),
        ev.ResourcePublished.event_type: on_resource_published,
        ev.BookingConfirmed.event_type: applies_batches(
            partial(on_bookings_confirmed, clock=clock)),
        ev.BookingCancelled.event_type: partial(on_booking_cancelled, clock=clock),
        ev.MembershipActivated.event_type: partial(on_membership_activated, clock=clock),
        ev.MembershipRenewed.event_type: partial(on_membership_renewed, clock=clock),
    }


HANDLERS = handlers()
