"""The eligibility replica, from cowork.membership.events: who may book what, right now.
Each handler runs in the transaction that records the event in the inbox."""

from __future__ import annotations

import asyncpg

from cowork.booking import store
from cowork.shared.consumer import Handler
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev


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


async def on_registered(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.MemberRegistered)
    await store.remember_member(conn, event.member_id, event.registered_at)


async def on_erased(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    assert isinstance(event, ev.MemberErased)
    await store.forget_member(conn, event.member_id)


HANDLERS: dict[str, Handler] = {
    ev.MemberRegistered.event_type: on_registered,
    ev.MembershipActivated.event_type: on_activated,
    ev.MembershipRenewed.event_type: on_renewed,
    ev.MembershipSuspended.event_type: status_becomes("suspended"),
    ev.MembershipReinstated.event_type: status_becomes("active"),
    ev.MembershipExpired.event_type: status_becomes("expired"),
    ev.MembershipCancelled.event_type: status_becomes("cancelled"),
    ev.MemberErased.event_type: on_erased,
}
