"""Retention: after a purge every backbone table is bounded, through indexes, in small batches,
and a dead letter replayed within the inbox's retention is still a duplicate."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from cowork.devtools import Infra
from cowork.shared.consumer import EventConsumer
from cowork.shared.events import Envelope, topics
from cowork.shared.kafka import ResilientProducer, reliable_producer
from cowork.shared.outbox import add_event
from cowork.shared.retention import Retention, purge
from cowork.shared.scheduler import schedule

from sharedkit import DLQ
from support import SOURCE, TOPIC, Sequenced, record_applied

pytestmark = [pytest.mark.infra]

RETENTION = Retention(outbox_hours=24, outbox_parked_hours=24 * 30, inbox_hours=24 * 30,
                      scheduled_jobs_hours=24 * 30, batch_size=7)


async def age(pool: asyncpg.Pool, sql: str, days: float) -> None:
    await pool.execute(sql, timedelta(days=days))


async def test_after_the_purge_each_table_keeps_only_what_its_retention_says(pool) -> None:
    async with pool.acquire() as conn:
        for i in range(40):
            await add_event(conn, Sequenced(stream=f"s{i % 4}", seq=i), source=SOURCE)
            await schedule(conn, "remind", f"j{i}", datetime.now().astimezone())
            await conn.execute(
                'INSERT INTO inbox (consumer, event_id, event_type, topic, "partition", "offset") '
                "VALUES ('c', gen_random_uuid(), 't', 'topic', 0, $1)", i)
    # 30 published two days ago, 5 published just now, 3 parked 40 days ago, 2 pending.
    await pool.execute("UPDATE outbox SET published_at = now() - interval '2 days' "
                       "WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT 30)")
    await pool.execute("UPDATE outbox SET published_at = now() WHERE seq IN "
                       "(SELECT seq FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT 5)")
    await pool.execute("UPDATE outbox SET parked_reason = 'too large', "
                       "created_at = now() - interval '40 days' WHERE seq IN (SELECT seq FROM "
                       "outbox WHERE published_at IS NULL ORDER BY seq LIMIT 3)")
    await pool.execute("UPDATE inbox SET received_at = now() - interval '31 days' "
                       'WHERE "offset" < 25')
    await pool.execute("UPDATE scheduled_jobs SET done_at = now() - interval '31 days' "
                       "WHERE key < 'j2'")  # j0, j1, j10..j19: 12 finished long ago
    await pool.execute("UPDATE scheduled_jobs SET cancelled = true, "
                       "created_at = now() - interval '31 days' WHERE key = 'j3'")
    await pool.execute("UPDATE scheduled_jobs SET done_at = now() WHERE key = 'j4'")

    purged = await purge(pool, RETENTION, service="retention-test")
    assert purged == {"outbox": 30, "outbox_parked": 3, "outbox_personal": 0, "inbox": 25,
                      "scheduled_jobs": 13}
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 7  # 5 recent + 2 pending
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 2
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 15
    assert await pool.fetchval("SELECT count(*) FROM scheduled_jobs") == 27
    assert await purge(pool, RETENTION) == dict.fromkeys(purged, 0)


async def test_a_published_contact_card_keeps_no_personal_data(pool) -> None:
    """A copy of the database taken after the purge holds no address and no link's token of
    a card Kafka already has; a card still pending, and events, keep theirs."""
    card = '{"email": "anna@example.org", "links": {"confirm": "https://x/c?token=T"}}'
    for topic, published in ((topics.COMMUNITY_CONTACTS, True), (topics.MEMBERSHIP_CONTACTS, True),
                             (topics.COMMUNITY_CONTACTS, False), (topics.COMMUNITY_EVENTS, True)):
        await pool.execute(
            "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, headers, "
            "published_at) VALUES (gen_random_uuid(), $1, 'k', 't', $2::jsonb, '{}'::jsonb, "
            "CASE WHEN $3 THEN now() END)", topic, card, published)
    purged = await purge(pool, RETENTION)
    assert purged["outbox_personal"] == 2
    kept = await pool.fetch("SELECT aggregatetype, published_at IS NOT NULL AS published "
                            "FROM outbox WHERE payload::text LIKE '%anna@%' ORDER BY seq")
    assert [(r["aggregatetype"], r["published"]) for r in kept] == [
        (topics.COMMUNITY_CONTACTS, False), (topics.COMMUNITY_EVENTS, True)]
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 4  # the rows stay


@pytest.mark.parametrize(("table", "where", "index"), [
    ("outbox", "published_at < now()", "outbox_published"),
    ("inbox", "received_at < now()", "inbox_received"),
    ("scheduled_jobs", "(done_at IS NOT NULL OR cancelled) AND coalesce(done_at, created_at) "
                       "< now()", "scheduled_jobs_finished"),
])
async def test_each_purge_finds_its_rows_through_an_index(pool, table: str, where: str,
                                                          index: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(
            f"EXPLAIN SELECT 1 FROM {table} WHERE {where} "  # noqa: S608 - test constants
            f"ORDER BY {where.split(' < ')[0].split(' AND ')[-1]} LIMIT 10"))
    assert index in plan, plan


async def test_a_dead_letter_replayed_after_a_purge_is_still_a_duplicate(
        infra: Infra, pool, topics: str) -> None:
    producer = ResilientProducer(lambda: reliable_producer(infra.kafka_bootstrap,
                                                           client_id="test-retention"))
    consumer = EventConsumer(name="kept", service="test", pool=pool, producer=producer,
                             topics=[TOPIC], handlers={Sequenced.event_type: record_applied},
                             dlq_topic=DLQ, topic_prefix=topics)
    try:
        env = Envelope.wrap(Sequenced(stream="r", seq=1), source=SOURCE)
        record = ConsumerRecord(TOPIC, 0, 0, 0, 0, b"r", env.value(), None, 0, 0,
                                env.kafka_headers())
        await consumer.apply_records([record])
        # Eight days later (beyond a 7-day DLQ topic, within the 30-day inbox) it comes back.
        await pool.execute("UPDATE inbox SET received_at = now() - interval '8 days'")
        await purge(pool, RETENTION)
        await consumer.apply_records([record])
        assert await pool.fetchval("SELECT count(*) FROM applied") == 1
    finally:
        await producer.stop()
