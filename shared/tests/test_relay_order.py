"""Per-key order from the outbox to Kafka by construction: several writers of one key at once.

Every outbox row gets its aggregate's next sequence number (the CloudEvents `sequence`
extension) in a trigger that holds the aggregate's counter row until commit, so writers of one
key are serialized whatever they remembered to lock, and the relay's `seq` order is one key's
commit order.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from cowork.devtools import Infra
from cowork.devtools.kafka import collect
from cowork.shared import db
from cowork.shared.kafka import reliable_producer
from cowork.shared.outbox import add_event
from cowork.shared.relay import OutboxRelay

from sharedkit import wait_until
from support import SOURCE, TOPIC, Sequenced

pytestmark = [pytest.mark.infra]

WRITERS = 6
PER_WRITER = 15


async def test_concurrent_writers_of_one_key_get_its_sequence_in_commit_order(
        infra: Infra, service_db: str, topics: str) -> None:
    rng = random.Random(6)
    pool = await db.create_pool(service_db, max_size=WRITERS + 2)
    commits: list[int] = []  # the sequence each transaction got, in the order commits returned

    async def writer(w: int) -> None:
        for i in range(PER_WRITER):
            async with pool.acquire() as conn:
                async with conn.transaction():
                    await add_event(conn, Sequenced(stream=f"other{w}", seq=i), source=SOURCE)
                    await add_event(conn, Sequenced(stream="k", seq=w * 100 + i), source=SOURCE)
                    await asyncio.sleep(rng.uniform(0, 0.01))  # commit at a random moment
                    got = await conn.fetchval(
                        "SELECT aggregate_sequence FROM outbox WHERE aggregateid = 'k' "
                        "AND (payload->>'seq')::int = $1", w * 100 + i)
                commits.append(got)

    try:
        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        total = WRITERS * PER_WRITER
        rows = await pool.fetch("SELECT aggregate_sequence, headers->>'ce_sequence' AS header "
                                "FROM outbox WHERE aggregateid = 'k' ORDER BY seq")
        assert [r["aggregate_sequence"] for r in rows] == list(range(1, total + 1)), \
            "seq order (the relay's) is the key's sequence order, without gaps"
        assert [r["header"] for r in rows] == [str(n) for n in range(1, total + 1)]
        assert commits == sorted(commits), "one key's sequence follows its commit order"

        producer = reliable_producer(infra.kafka_bootstrap, client_id="test-order")
        await producer.start()
        # Small batches, three in flight: the pipelined relay keeps the key's order too.
        relay = OutboxRelay(pool, producer, topic_prefix=topics, poll_seconds=0.1,
                            batch_size=7, in_flight=3)
        task = asyncio.create_task(relay.run())
        try:
            async def published() -> bool:
                return await pool.fetchval("SELECT count(*) FROM outbox "
                                           "WHERE published_at IS NULL") == 0

            await wait_until(published, 60, "the outbox to be published")
            seen = await collect(infra.kafka_bootstrap, topics + TOPIC,
                                 until=lambda s: len([r for r in s if r.key == "k"]) >= total)
            on_kafka = [r.envelope.sequence for r in seen if r.key == "k"]
            assert on_kafka == list(range(1, total + 1))
        finally:
            relay.stop()
            await task
            await producer.stop()
    finally:
        await pool.close()
