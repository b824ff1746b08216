"""What the statistics keep from the events community consumes (membership, booking, vouchers
and its own): counts and the ids needed to count, never a name, an e-mail or a birth date.
Each handler runs in the transaction that records the event in the inbox, so a redelivered
event changes nothing; every write is also an upsert or keyed by the event, the last line of
defence."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from cowork.community.store import statistics as store
from cowork.shared.consumer import Handler
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev

Apply = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]


async def on_member_registered(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.MemberRegistered)
    await store.member_joined(conn, event.member_id, kind=event.kind,
                              joined_at=event.registered_at,
                              residence_istat=event.residence_istat, age_band=event.age_band)


async def on_member_erased(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.MemberErased)
    await store.member_erased(conn, event.member_id)


async def on_resource_published(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.ResourcePublished)
    await store.resource(conn, event.resource_id, event.space_id, event.kind, event.seats,
                         event.in_service is not False)


async def on_booking_confirmed(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.BookingConfirmed)
    await store.booking(conn, event.booking_id, event.space_id, event.resource_kind,
                        event.start, event.end)


async def on_booking_cancelled(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.BookingCancelled)
    await store.booking_cancelled(conn, event.booking_id)


async def on_programme_opened(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.ProgrammeOpened)
    await store.programme(conn, event.programme_id, event.name, event.budget_cents,
                          event.valid_from, event.valid_until)


async def on_voucher_granted(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.VoucherGranted)
    await store.voucher_granted(conn, event.voucher_id, event.programme_id, event.member_id,
                                event.amount_cents, envelope.time, event.status, event.age_band)


async def on_partita_iva_declared(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.VoucherPartitaIvaDeclared)
    await store.partita_iva_declared(conn, event.voucher_id, event.at)


async def on_redeemed(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.VoucherRedeemed)
    await store.voucher_flow(conn, envelope.id, event.voucher_id, envelope.time,
                             event.subsidy_cents)


async def on_reversed(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.VoucherRedemptionReversed)
    await store.voucher_flow(conn, envelope.id, event.voucher_id, envelope.time,
                             -event.reversed_cents)


async def on_meeting(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.MeetingPublished | ev.MeetingUpdated | ev.MeetingCancelled)
    await store.meeting(conn, event.meeting_id, event.title, event.start, event.capacity,
                        cancelled=isinstance(event, ev.MeetingCancelled))


async def on_meeting_closed(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.MeetingClosed)
    await store.meeting_closed(conn, event.meeting_id, event.registered, event.attendance)


async def on_checked_in(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.RegistrationCheckedIn)
    await store.checked_in(conn, event.meeting_id)


async def on_interest(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.InterestExpressed)
    await store.interest(conn, event.interest_id, envelope.time, event.who,
                         list(event.desk_kinds), list(event.weekdays), list(event.time_bands),
                         event.would_help_run)


STATISTICS_HANDLERS: dict[str, Handler] = {
    ev.MemberRegistered.event_type: on_member_registered,
    ev.MemberErased.event_type: on_member_erased,
    ev.ResourcePublished.event_type: on_resource_published,
    ev.BookingConfirmed.event_type: on_booking_confirmed,
    ev.BookingCancelled.event_type: on_booking_cancelled,
    ev.ProgrammeOpened.event_type: on_programme_opened,
    ev.VoucherGranted.event_type: on_voucher_granted,
    ev.VoucherPartitaIvaDeclared.event_type: on_partita_iva_declared,
    ev.VoucherRedeemed.event_type: on_redeemed,
    ev.VoucherRedemptionReversed.event_type: on_reversed,
    ev.MeetingPublished.event_type: on_meeting,
    ev.MeetingUpdated.event_type: on_meeting,
    ev.MeetingCancelled.event_type: on_meeting,
    ev.MeetingClosed.event_type: on_meeting_closed,
    ev.RegistrationCheckedIn.event_type: on_checked_in,
    ev.InterestExpressed.event_type: on_interest,
}
