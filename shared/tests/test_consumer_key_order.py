"""Per-key order at the consumer: a late or repeated event is not applied, in a batch or one by
one. (A dead letter holding its key: test_dead_letters.py.)

Driven in-process through `EventConsumer.apply_records` with records as Kafka hands them over.
"""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord

from cowork.shared.consumer import EventConsumer
from cowork.shared.events import Envelope

from sharedkit import applied, record
from support import SOURCE, TOPIC, Sequenced

pytestmark = [pytest.mark.infra]


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

