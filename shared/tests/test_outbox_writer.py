"""The outbox writer: every way of recording an event writes the same row, numbered per key,
in the caller's transaction; an erasure clears payloads and keeps the rows.

No Kafka here: what the relay does with the rows is in test_relay*.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from cowork.shared import db
from cowork.shared.outbox import (
    add_event,
    add_events,
    add_tombstone,
    erase_payloads,
    insert_event_after,
    outbox_values,
)

from support import SOURCE, TOPIC, Sequenced

pytestmark = [pytest.mark.infra]

ROWS = ("SELECT id, aggregatetype, aggregateid, type, payload, headers, aggregate_sequence "
        "FROM outbox ORDER BY seq")


@pytest.fixture
async def conn(service_db: str) -> AsyncIterator[asyncpg.Connection]:
    c = await db.connect(service_db)
    yield c
    await c.close()


async def test_every_way_of_writing_an_event_is_numbered(conn: asyncpg.Connection) -> None:
    envelope, values = outbox_values(Sequenced(stream="b", seq=2), source=SOURCE)
    async with conn.transaction():
        await add_event(conn, Sequenced(stream="a", seq=1), source=SOURCE)
        await add_events(conn, [Sequenced(stream="a", seq=2), Sequenced(stream="b", seq=1)],
                         source=SOURCE)
        await add_tombstone(conn, topic=TOPIC, key="a", event_type=Sequenced.event_type,
                            source=SOURCE)
        await conn.execute(f"WITH change AS (SELECT 1) {insert_event_after('change', 1)}",
                           *values)
    rows = await conn.fetch("SELECT aggregateid, aggregate_sequence FROM outbox ORDER BY seq")
    assert [(r["aggregateid"], r["aggregate_sequence"]) for r in rows] == [
        ("a", 1), ("a", 2), ("b", 1), ("a", 3), ("b", 2)]
    assert rows[-1]["aggregateid"] == envelope.subject


async def test_a_row_is_the_event_and_its_envelope(conn: asyncpg.Connection) -> None:
    event = Sequenced(stream="k", seq=7)
    [via_one] = [await add_event(conn, event, source=SOURCE)]
    [via_many] = await add_events(conn, [event], source=SOURCE)
    envelope, values = outbox_values(event, source=SOURCE)
    await conn.execute(f"WITH change AS (SELECT 1) {insert_event_after('change', 1)}", *values)
    rows = await conn.fetch(ROWS)
    assert [r["id"] for r in rows] == [via_one.id, via_many.id, envelope.id]
    for row, env in zip(rows, (via_one, via_many, envelope), strict=True):
        assert (row["aggregatetype"], row["aggregateid"], row["type"]) == (
            TOPIC, "k", Sequenced.event_type)
        assert row["payload"] == {"stream": "k", "seq": 7, "fail": False}
        # The trigger adds the key's sequence; everything else is the envelope's own.
        assert row["headers"] == {**env.headers(), "ce_sequence": str(row["aggregate_sequence"])}


async def test_an_event_after_a_change_is_written_only_if_the_change_returned_a_row(
        conn: asyncpg.Connection) -> None:
    _, values = outbox_values(Sequenced(stream="c", seq=1), source=SOURCE)
    nothing = "change AS (SELECT 1 WHERE false)"
    await conn.execute(f"WITH {nothing} {insert_event_after('change', 1)}", *values)
    assert await conn.fetchval("SELECT count(*) FROM outbox") == 0


async def test_a_tombstone_has_no_payload(conn: asyncpg.Connection) -> None:
    envelope = await add_tombstone(conn, topic=TOPIC, key="t", event_type=Sequenced.event_type,
                                   source=SOURCE)
    [row] = await conn.fetch(ROWS)
    assert (row["id"], row["aggregateid"], row["payload"]) == (envelope.id, "t", None)


async def test_an_erasure_clears_the_keys_payloads_and_keeps_its_rows(
        conn: asyncpg.Connection) -> None:
    await add_events(conn, [Sequenced(stream="gone", seq=1), Sequenced(stream="gone", seq=2),
                            Sequenced(stream="kept", seq=1)], source=SOURCE)
    async with conn.transaction():
        assert await erase_payloads(conn, topic=TOPIC, key="gone") == 2
    assert await erase_payloads(conn, topic=TOPIC, key="gone") == 0, "nothing left to clear"
    rows = await conn.fetch(ROWS)
    assert [(r["aggregateid"], r["payload"] is None) for r in rows] == [
        ("gone", True), ("gone", True), ("kept", False)]
    assert all(r["headers"]["ce_id"] == str(r["id"]) for r in rows), "ids and headers stay"
