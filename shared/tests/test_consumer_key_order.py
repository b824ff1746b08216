"""Per-key order at the consumer: a dead letter holds its key, a late event is not applied.

Driven in-process through `EventConsumer.apply_records` with records as Kafka hands them over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from cowork.devtools import Infra
from cowork.shared import db, dlq
from cowork.shared.consumer import EventConsumer, RetryPolicy
from cowork.shared.events import Envelope
from cowork.shared.kafka import ResilientProducer, reliable_producer

from sharedkit import DLQ
from support import SOURCE, TOPIC, Sequenced, record_applied

pytestmark = [pytest.mark.infra]


def record(stream: str, n: int, *, sequence: int | None = None, fail: bool = False,
           offset: int = 0, envelope: Envelope | None = None) -> ConsumerRecord[bytes, bytes]:
    env = envelope or Envelope.wrap(Sequenced(stream=stream, seq=n, fail=fail), source=SOURCE,
                                    sequence=sequence)
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, env.subject.encode(), env.value(), None, 0, 0,
                          env.kafka_headers())


@pytest.fixture
async def pool(service_db: str) -> AsyncIterator[asyncpg.Pool]:
    p = await db.create_pool(service_db, max_size=4)
    yield p
    await p.close()


@pytest.fixture
async def consumer(infra: Infra, pool: asyncpg.Pool, topics: str) -> AsyncIterator[EventConsumer]:
    producer = ResilientProducer(lambda: reliable_producer(infra.kafka_bootstrap,
                                                           client_id="test-order"))
    yield EventConsumer(name="order", service="test", pool=pool, producer=producer,
                        topics=[TOPIC], handlers={Sequenced.event_type: record_applied},
                        dlq_topic=DLQ, topic_prefix=topics,
                        retry=RetryPolicy(max_attempts=2, base_seconds=0.01))
    await producer.stop()


async def applied(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    return [(r["key"], r["seq"]) for r in await pool.fetch("SELECT key, seq FROM applied "
                                                            "ORDER BY id")]


async def test_a_dead_letter_parks_its_keys_later_records_until_replayed(
        pool, consumer: EventConsumer) -> None:
    await pool.execute("INSERT INTO blocked_streams VALUES ('r')")  # a missing prerequisite
    first = record("r", 1, offset=0)
    await consumer.apply_records([first, record("r", 2, offset=1), record("o", 1, offset=2),
                                  record("r", 3, offset=3)])
    assert await applied(pool) == [("o", 1)], "other keys go on; r waits behind its letter"
    assert await pool.fetchval("SELECT count(*) FROM parked_records") == 2
    # Later records of the held key keep being parked, even in a batch of their own.
    await consumer.apply_records([record("r", 4, offset=4)])
    assert await pool.fetchval("SELECT count(*) FROM parked_records") == 3

    await pool.execute("DELETE FROM blocked_streams")
    await consumer.apply_records([first])  # the replayed dead letter
    assert await applied(pool) == [("o", 1), ("r", 1), ("r", 2), ("r", 3), ("r", 4)]
    assert await pool.fetchval("SELECT count(*) FROM parked_records") == 0
    assert await pool.fetchval("SELECT count(*) FROM dead_lettered_keys") == 0
    await consumer.apply_records([record("r", 5, offset=5)])
    assert (await applied(pool))[-1] == ("r", 5), "the key is free again"


async def test_a_discarded_dead_letter_releases_the_parked_records_without_it(
        pool, consumer: EventConsumer, service_db: str) -> None:
    await consumer.apply_records([record("d", 1, offset=0), record("d", 2, fail=True, offset=1),
                                  record("d", 3, offset=2), record("d", 4, offset=3)])
    assert await applied(pool) == [("d", 1)]
    [held] = await dlq.held_keys(service_db)
    assert (held.key, held.parked, held.error_type, held.state) == ("d", 2, "ValueError", "dead")
    assert await consumer.release_discarded() == 0, "nothing released before the operator acts"

    assert await dlq.discard(service_db, "d") == 1
    assert await consumer.release_discarded() == 1
    assert await applied(pool) == [("d", 1), ("d", 3), ("d", 4)]
    assert await dlq.held_keys(service_db) == []


async def test_a_parked_record_failing_on_release_holds_the_key_again(
        pool, consumer: EventConsumer, service_db: str) -> None:
    await consumer.apply_records([record("e", 1, fail=True, offset=0), record("e", 2, offset=1),
                                  record("e", 3, fail=True, offset=2), record("e", 4, offset=3)])
    await dlq.discard(service_db, "e")
    await consumer.release_discarded()
    assert await applied(pool) == [("e", 2)]
    [held] = await dlq.held_keys(service_db)
    assert (held.parked, held.state) == (1, "dead"), "e:4 waits behind e:3 now"


async def test_an_event_older_than_what_was_applied_is_not_applied(
        pool, consumer: EventConsumer) -> None:
    older = Envelope.wrap(Sequenced(stream="s", seq=1), source=SOURCE, sequence=1)
    await consumer.apply_records([record("s", 2, sequence=2, offset=1)])
    await consumer.apply_records([record("s", 1, envelope=older)])  # a late replay
    assert await applied(pool) == [("s", 2)]
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", older.id) == 1, \
        "recorded as seen, so it is not considered again"
    await consumer.apply_records([record("s", 3, sequence=3, offset=2),
                                  record("s", 1, sequence=1, offset=3)])
    assert await applied(pool) == [("s", 2), ("s", 3)]
    assert await pool.fetchval("SELECT last_sequence FROM consumer_sequences "
                               "WHERE key = 's'") == 3


def malformed(key: str, offset: int) -> ConsumerRecord[bytes, bytes]:
    """A record with no CloudEvents headers: it sends its batch down the one-by-one path."""
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, key.encode(), b"{}", None, 0, 0, [])


@pytest.mark.parametrize("path", ["batch", "one-by-one"])
async def test_a_late_or_repeated_event_in_a_batch_is_not_applied(
        pool, consumer: EventConsumer, path: str) -> None:
    """In one batch: an event older than the key's position, the same event twice, and one
    already applied by an earlier batch; each key's newer events apply once, in order."""
    repeated = Envelope.wrap(Sequenced(stream="s", seq=5), source=SOURCE, sequence=5)
    await consumer.apply_records([record("s", 2, sequence=2, offset=0),
                                  record("t", 1, sequence=1, offset=1)])
    first = record("t", 1, sequence=1, offset=1)  # a copy of an applied record: another id
    batch = [record("s", 1, sequence=1, offset=2),  # older than s:2
             record("s", 5, envelope=repeated, offset=3),
             record("s", 5, envelope=repeated, offset=4),
             record("s", 3, sequence=3, offset=5),  # older than s:5, just applied
             record("t", 7, sequence=7, offset=6),
             record("u", 1, offset=7)]  # no sequence: always applies
    if path == "one-by-one":
        batch.insert(0, malformed("bad", offset=8))
    await consumer.apply_records(batch)
    await consumer.apply_records([first])  # t:1 again, under a new id: stale
    assert await applied(pool) == [("s", 2), ("t", 1), ("s", 5), ("t", 7), ("u", 1)]
    positions = dict(await pool.fetch("SELECT key, last_sequence FROM consumer_sequences"))
    assert positions == {"s": 5, "t": 7}
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1",
                               repeated.id) == 1


def test_the_sequence_travels_as_a_cloudevents_extension() -> None:
    from cowork.shared.events.envelope import decode, headers_to_dict

    env = Envelope.wrap(Sequenced(stream="x", seq=1), source=SOURCE, sequence=42)
    assert env.headers()["ce_sequence"] == "42"
    assert decode(headers_to_dict(env.kafka_headers()), env.value()).sequence == 42

