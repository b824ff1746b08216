"""A plain aiokafka consumer of Cowork's CloudEvents (Kafka binding, binary mode: the event's
attributes are `ce_*` headers, the data is the JSON value, the key is the aggregate id).

Idempotent on the event id: the id is recorded in the same SQLite transaction as the event's
effect, so an event delivered twice — a redelivery after a crash, a replayed dead letter —
changes nothing the second time. Offsets are committed only after that transaction, so a crash
in between redelivers the event rather than losing it. Types it does not know are skipped, as
Cowork's event contract asks (docs/events.md)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

TOPICS = ["cowork.membership.events", "cowork.booking.events"]
SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_events (event_id TEXT PRIMARY KEY, event_type TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS welcome_coffees (member_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS stamps (member_id TEXT PRIMARY KEY, hours REAL NOT NULL);
"""


class Rewards:
    """The partner's own state, in SQLite."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)

    def apply(self, headers: dict[str, str], data: dict[str, Any]) -> bool:
        """Apply one event once; False when it was a duplicate or of a type we ignore."""
        handler = HANDLERS.get(headers.get("ce_type", ""))
        if handler is None:
            return False
        with self.db:  # one transaction: the id and the effect together
            inserted = self.db.execute(
                "INSERT INTO processed_events VALUES (?, ?) ON CONFLICT DO NOTHING",
                (headers["ce_id"], headers["ce_type"])).rowcount
            if not inserted:
                return False
            handler(self.db, data)
        return True

    def welcome_coffees(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT member_id FROM welcome_coffees")]

    def hours(self, member_id: str) -> float:
        row = self.db.execute("SELECT hours FROM stamps WHERE member_id = ?", (member_id,)).fetchone()
        return float(row[0]) if row else 0.0


def _welcome(db: sqlite3.Connection, data: dict[str, Any]) -> None:
    db.execute("INSERT INTO welcome_coffees VALUES (?) ON CONFLICT DO NOTHING", (data["member_id"],))


def _stamp(db: sqlite3.Connection, data: dict[str, Any]) -> None:
    hours = (datetime.fromisoformat(data["end"]) - datetime.fromisoformat(data["start"])
             ).total_seconds() / 3600
    db.execute("INSERT INTO stamps VALUES (?, ?) ON CONFLICT (member_id) "
               "DO UPDATE SET hours = hours + excluded.hours", (data["member_id"], hours))


HANDLERS: dict[str, Callable[[sqlite3.Connection, dict[str, Any]], None]] = {
    "cowork.membership.member.registered.v1": _welcome,
    "cowork.booking.booking.confirmed.v1": _stamp,
}


def cloudevent_headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    return {key: value.decode() for key, value in record.headers if value is not None}


async def consume(bootstrap: str, rewards: Rewards, *, group: str = "desk-rewards",
                  stop: asyncio.Event | None = None) -> None:
    """Consume until `stop` is set, committing after each applied batch."""
    stop = stop or asyncio.Event()
    consumer = AIOKafkaConsumer(*TOPICS, bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if record.value is not None:
                        rewards.apply(cloudevent_headers(record), json.loads(record.value))
            if batches:
                await consumer.commit()
    finally:
        await consumer.stop()
