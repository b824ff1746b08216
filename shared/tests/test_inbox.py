"""The inbox alone: which ids it already had, where each key stood and how a batch moves it,
and nothing recorded for a batch with a held key. What the consumer makes of it:
test_consumer_key_order.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from cowork.shared import db, inbox
from cowork.shared.events import Envelope
from cowork.shared.kafka import Record

from sharedkit import record
from support import SOURCE, TOPIC, Sequenced

pytestmark = [pytest.mark.infra]

CONSUMER = "inbox-test"


@pytest.fixture
async def conn(service_db: str) -> AsyncIterator[asyncpg.Connection]:
    c = await db.connect(service_db)
    yield c
    await c.close()


def ready(*records: Record) -> list[tuple[Record, Envelope]]:
    from cowork.shared.events.envelope import decode, headers_to_dict

    return [(r, decode(headers_to_dict(r.headers), r.value)) for r in records]


async def test_a_batch_learns_its_duplicates_and_where_each_key_stood(
        conn: asyncpg.Connection) -> None:
    first = ready(record("a", 1, sequence=1), record("b", 1, sequence=4))
    start = await inbox.record_batch(conn, CONSUMER, first, {(TOPIC, 0): 1})
    assert (start.held, start.seen, start.positions) == (False, set(), {})

    again = first[0]
    later = ready(record("a", 2, sequence=2, offset=1), record("a", 3, sequence=3, offset=2),
                  record("c", 1, offset=3))  # no sequence: no position
    start = await inbox.record_batch(conn, CONSUMER, [again, *later], {(TOPIC, 0): 4})
    assert start.seen == {again[1].id}, "only the id the inbox had comes back"
    assert start.positions == {(TOPIC, "a"): (0, 1)}, "as the key stood before this batch"
    assert await conn.fetchval("SELECT next_offset FROM consumer_positions") == 4
    positions = dict(await conn.fetch("SELECT key, last_sequence FROM consumer_sequences"))
    assert positions == {"a": 3, "b": 4}, "moved to each key's newest in the batch"


async def test_nothing_is_recorded_for_a_batch_with_a_held_key(conn: asyncpg.Connection) -> None:
    await conn.execute("INSERT INTO dead_lettered_keys (consumer, topic, key, error_type) "
                       "VALUES ($1, $2, 'h', 'ValueError')", CONSUMER, TOPIC)
    start = await inbox.record_batch(conn, CONSUMER, ready(record("o", 1, sequence=1),
                                                           record("h", 1, sequence=1)),
                                     {(TOPIC, 0): 1})
    assert start.held
    assert await conn.fetchval("SELECT count(*) FROM inbox") == 0
    assert await conn.fetchval("SELECT count(*) FROM consumer_sequences") == 0
    assert await conn.fetchval("SELECT count(*) FROM consumer_positions") == 0


async def test_one_event_is_recorded_once_and_moves_its_key_forward_only(
        conn: asyncpg.Connection) -> None:
    [(rec, envelope)] = ready(record("k", 1))
    assert await inbox.record_one(conn, CONSUMER, rec, envelope)
    assert not await inbox.record_one(conn, CONSUMER, rec, envelope), "a redelivery"
    assert await inbox.advance(conn, CONSUMER, TOPIC, "k", 0, 5) is None, "moved"
    assert await inbox.advance(conn, CONSUMER, TOPIC, "k", 0, 3) == (0, 5), \
        "older: the position stands"
    assert await inbox.advance(conn, CONSUMER, TOPIC, "k", 0, 5) == (0, 5), \
        "the same is not newer"
    assert await inbox.advance(conn, CONSUMER, TOPIC, "k", 7, 1) is None, "a later epoch"


def test_a_record_without_a_key_has_the_empty_key() -> None:
    env = Envelope.wrap(Sequenced(stream="x", seq=1), source=SOURCE)
    keyless = record("x", 1, envelope=env)
    keyless.key = None
    assert inbox.record_key(keyless) == ""
    assert inbox.record_key(record("x", 1)) == "x"
