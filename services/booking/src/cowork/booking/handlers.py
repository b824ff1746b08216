"""The eligibility replica, from cowork.membership.events: who may book what, right now, and
the bookings that follow a membership when it ends. Each handler runs in the transaction that
records the event in the inbox, so a system cancellation and its `booking.cancelled` (outbox)
commit with the event's inbox row or not at all."""

from __future__ import annotations

import asyncpg

from cowork.booking import commands, store
from cowork.shared.consumer import Handler
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev
from cowork.shared.scheduler import Clock


async def on_registered(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.MemberRegistered)
    await store.remember_member(conn, event.member_id, event.registered_at)


async def on_activated(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.MembershipActivated)
    await store.upsert_eligibility(conn, event)


async def on_renewed(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.MembershipRenewed)
    await store.extend_eligibility(conn, event.member_id, event.membership_id, event.period_end)


def status_becomes(status: str) -> Handler:
    async def on_status(conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = envelope.data
        assert event is not None
        await store.set_eligibility_status(conn, event.member_id, event.membership_id,  # type: ignore[attr-defined]
                                           status)

    return on_status


def membership_ends(status: str, policy: commands.Policy, clock: Clock) -> Handler:
    """Cancelled or expired: the replica row says so, and the bookings drawn on it from the
    moment it ended follow (moved to another membership, or cancelled by the system)."""
    async def on_end(conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = envelope.data
        assert isinstance(event, ev.MembershipCancelled | ev.MembershipExpired)
        await store.set_eligibility_status(conn, event.member_id, event.membership_id, status)
        await commands.follow_ended_membership(
            conn, event.member_id, event.membership_id, ended_at=event.at,
            reason=f"membership_{status}", now=clock(), policy=policy)

    return on_end


def member_erased(policy: commands.Policy, clock: Clock) -> Handler:
    async def on_erased(conn: asyncpg.Connection, envelope: Envelope) -> None:
        event = envelope.data
        assert isinstance(event, ev.MemberErased)
        # Forgotten first: the cancellations below free slots, and the erased member's own
        # waiting requests must not be the ones promoted into them.
        await store.forget_member(conn, event.member_id)
        await commands.follow_erased_member(conn, event.member_id, erased_at=event.erased_at,
                                            now=clock(), policy=policy)

    return on_erased


def handler_map(policy: commands.Policy, clock: Clock) -> dict[str, Handler]:
    return {
        ev.MemberRegistered.event_type: on_registered,
        ev.MembershipActivated.event_type: on_activated,
        ev.MembershipRenewed.event_type: on_renewed,
        ev.MembershipSuspended.event_type: status_becomes("suspended"),
        ev.MembershipReinstated.event_type: status_becomes("active"),
        ev.MembershipExpired.event_type: membership_ends("expired", policy, clock),
        ev.MembershipCancelled.event_type: membership_ends("cancelled", policy, clock),
        ev.MemberErased.event_type: member_erased(policy, clock),
    }
