"""A test event type and the small 'service' the shared tests run in subprocesses."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import asyncpg

from cowork.shared.events import DomainEvent, Envelope
from cowork.shared.events.registry import register

MIGRATIONS = Path(__file__).parent / "migrations"
TOPIC = "cowork.test.sequenced"
SOURCE = "/cowork/test"


@register
class Sequenced(DomainEvent):
    """The n-th event of one key: lets a test check loss, duplication and per-key order."""

    event_type: ClassVar[str] = "cowork.test.sequenced.v1"
    topic: ClassVar[str] = TOPIC
    key_field: ClassVar[str] = "stream"
    stream: str
    seq: int
    fail: bool = False


async def record_applied(conn: asyncpg.Connection, envelope: Envelope) -> None:
    event = envelope.data
    if event is None:  # a tombstone: the stream is erased
        await conn.execute("DELETE FROM applied WHERE key = $1", envelope.subject)
        return
    assert isinstance(event, Sequenced)
    if event.fail:
        raise ValueError(f"event {event.seq} of {event.stream} is poison by design")
    if await conn.fetchval("SELECT 1 FROM blocked_streams WHERE stream = $1", event.stream):
        raise LookupError(f"stream {event.stream} is blocked")
    await conn.execute("INSERT INTO applied (event_id, key, seq) VALUES ($1, $2, $3)",
                       envelope.id, event.stream, event.seq)
