"""The outbox writer: events recorded in the transaction that changes a service's state.

A service calls `add_event` (or `add_events`, `add_tombstone`, or a statement built with
`insert_event_after`) inside the transaction that makes the change; nothing is sent then. The
relay (`cowork.shared.relay`) publishes committed rows later, in commit order. This module is
the one place that names the outbox's columns for writing: every statement that records an
event starts with `INSERT_INTO_OUTBOX` and takes its values from `outbox_values`.

An event written while a consumer applies another (`caused_by`, set by the consumer around a
handler) gets an id derived from that event's id, its type, its key and how many such events
the handler wrote before it: applied again — a database restored from a backup catching up on
the topic — the handler writes the same ids, and a downstream inbox drops the repeat (no second
mail for one redemption). Elsewhere, and where a caller names the id, ids are as given or new.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid5

import asyncpg

from cowork.shared import tracing
from cowork.shared.events.contracts import DomainEvent
from cowork.shared.events.envelope import Envelope

# The one place that names the outbox's columns, in the order of `outbox_values`: every
# statement that writes an event (here, and a service's own batch statements) starts with it.
INSERT_INTO_OUTBOX = "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, headers)"

# An id already there is an event derived again from what it derives from, in the database
# that wrote it (a job armed again for the same time): kept once, as consumers would keep it.
_INSERT = f"""
{INSERT_INTO_OUTBOX}
VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)
ON CONFLICT (id) DO NOTHING
"""


# Fixed for ever: changing it would give events derived again after a restore new ids.
_DERIVED = UUID("0f2b7d0e-7a47-5c53-9a51-3c8f0d1e6b21")


def derived_event_id(cause: UUID, event: DomainEvent, nth: int = 0) -> UUID:
    """The id of the `nth` (from 0) event of `event`'s type and key written when the event
    `cause` was applied: the same every time it is applied."""
    suffix = f"/{nth}" if nth else ""
    return uuid5(_DERIVED, f"{cause}/{event.event_type}/{event.key()}{suffix}")


@dataclass
class _Cause:
    event_id: UUID
    written: dict[tuple[str, str], int] = field(default_factory=dict)

    def next_id(self, event: DomainEvent) -> UUID:
        at = (event.event_type, event.key())
        nth = self.written.get(at, 0)
        self.written[at] = nth + 1
        return derived_event_id(self.event_id, event, nth)


_cause: ContextVar[_Cause | None] = ContextVar("cowork_outbox_cause", default=None)


@contextlib.contextmanager
def caused_by(event_id: UUID) -> Iterator[None]:
    """Events written inside get ids derived from `event_id` (the consumed event)."""
    token = _cause.set(_Cause(event_id))
    try:
        yield
    finally:
        _cause.reset(token)


def outbox_values(event: DomainEvent, *, source: str, traceparent: str | None = None,
                  event_id: UUID | None = None) -> tuple[Envelope, list[Any]]:
    """The envelope of `event` and the six values of its outbox row; its id `event_id` if
    given, else derived from the event being applied (`caused_by`), else new."""
    if event_id is None and (cause := _cause.get()) is not None:
        event_id = cause.next_id(event)
    envelope = Envelope.wrap(event, source=source, traceparent=traceparent or tracing.current(),
                             id=event_id)
    return envelope, _values(envelope, event.topic, event.key(), event.event_type,
                             event.model_dump(mode="json"))


def _values(envelope: Envelope, topic: str, key: str, event_type: str,
            payload: dict[str, Any] | None) -> list[Any]:
    """A row's values in the order of INSERT_INTO_OUTBOX's columns."""
    return [envelope.id, topic, key, event_type, payload, envelope.headers()]


def insert_event_after(change: str, first_param: int) -> str:
    """SQL for a data-modifying CTE that writes one outbox row — parameters `$first_param` to
    `$first_param + 5`, the `outbox_values` — for each row the CTE `change` returned. One
    statement then makes a change and records its event, or does neither: the hot write paths
    use it to save the round trips of a transaction."""
    p = [f"${first_param + i}" for i in range(6)]
    return (f"{INSERT_INTO_OUTBOX} "  # noqa: S608 - names from code
            f"SELECT {p[0]}::uuid, {p[1]}::text, {p[2]}::text, {p[3]}::text, {p[4]}::jsonb, "
            f"{p[5]}::jsonb FROM {change}")


async def add_event(conn: asyncpg.Connection, event: DomainEvent, *, source: str,
                    traceparent: str | None = None) -> Envelope:
    """Record `event` for publication; call inside the transaction that made the change."""
    envelope, values = outbox_values(event, source=source, traceparent=traceparent)
    await conn.execute(_INSERT, *values)
    return envelope


async def add_events(conn: asyncpg.Connection, events: Sequence[DomainEvent], *, source: str,
                     traceparent: str | None = None) -> list[Envelope]:
    """Record many events in one round trip (a series of bookings, a batch of expiries)."""
    rows = [outbox_values(event, source=source, traceparent=traceparent) for event in events]
    await conn.executemany(_INSERT, [values for _, values in rows])
    return [envelope for envelope, _ in rows]


async def add_tombstone(conn: asyncpg.Connection, *, topic: str, key: str, event_type: str,
                        source: str) -> Envelope:
    """A record with no value: on a compacted topic it erases everything kept for `key`."""
    envelope = Envelope(type=event_type, source=source, subject=key, data=None)
    await conn.execute(_INSERT, *_values(envelope, topic, key, event_type, None))
    return envelope


async def erase_payloads(conn: asyncpg.Connection, *, topic: str, key: str) -> int:
    """Personal data out of the outbox at once (GDPR erasure), in the caller's transaction:
    the rows of `key` on `topic` keep their ids and headers but lose their payload, published
    or not (a pending one then goes out as a tombstone). Returns how many rows were cleared."""
    status = await conn.execute(
        "UPDATE outbox SET payload = NULL "
        "WHERE aggregatetype = $1 AND aggregateid = $2 AND payload IS NOT NULL", topic, key)
    return int(status.split()[-1])
