"""What a consumer does with a failing event, by what the failure means.

Driven in-process through `EventConsumer.apply_records` with records as Kafka hands them over;
dead letters go to the real DLQ topic. Transient (the database or broker away, a lost race):
retried until it works, never dead-lettered. A bug or a bad event: a bounded number of
attempts, then the DLQ with its cause. `PermanentError`: the DLQ at once. Batch handlers get
consecutive runs of their type and a redelivery changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from cowork.devtools import Infra
from cowork.devtools.kafka import SeenRecord, collect
from cowork.shared.consumer import EventConsumer, applies_batches
from cowork.shared.events import Envelope
from cowork.shared.failures import PermanentError, RetryPolicy
from cowork.shared.kafka import ResilientProducer, reliable_producer

from sharedkit import DLQ
from support import SOURCE, TOPIC, Sequenced, record_applied

pytestmark = [pytest.mark.infra]

Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]


def records(*events: Sequenced, offset: int = 0) -> list[ConsumerRecord[bytes, bytes]]:
    out = []
    for i, event in enumerate(events):
        env = Envelope.wrap(event, source=SOURCE)
        out.append(ConsumerRecord(TOPIC, 0, offset + i, 0, 0, env.subject.encode(), env.value(),
                                  None, 0, 0, env.kafka_headers()))
    return out


@pytest.fixture
async def make_consumer(infra: Infra, pool: asyncpg.Pool, topics: str
                        ) -> AsyncIterator[Callable[[Handler], EventConsumer]]:
    producer = ResilientProducer(lambda: reliable_producer(infra.kafka_bootstrap,
                                                           client_id="test-errors"))

    def make(handler: Handler) -> EventConsumer:
        return EventConsumer(name="errors", service="test", pool=pool, producer=producer,
                             topics=[TOPIC], handlers={Sequenced.event_type: handler},
                             dlq_topic=DLQ, topic_prefix=topics,
                             retry=RetryPolicy(max_attempts=3, base_seconds=0.01))

    yield make
    await producer.stop()


async def dead_letters(infra: Infra, topics: str, n: int) -> list[SeenRecord]:
    return await collect(infra.kafka_bootstrap, topics + DLQ, until=lambda seen: len(seen) >= n)


async def wrong_argument_count(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await conn.execute("SELECT $1::int + $2::int", 1)  # a bug: asyncpg's InterfaceError


async def missing_file(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await asyncio.to_thread(Path("/nonexistent/template.txt").read_text)  # a bug, an OSError


@pytest.mark.parametrize(("handler", "error_type"), [
    (wrong_argument_count, "InterfaceError"), (missing_file, "FileNotFoundError")])
async def test_a_code_bug_is_dead_lettered_with_its_cause_after_bounded_attempts(
        infra, pool, topics, make_consumer, handler: Handler, error_type: str) -> None:
    consumer = make_consumer(handler)
    # Before: both were taken for an unreachable database and retried forever.
    await asyncio.wait_for(consumer.apply_records(records(Sequenced(stream="a", seq=1))), 20)
    [letter] = await dead_letters(infra, topics, 1)
    assert letter.headers["x-error-type"] == error_type
    assert letter.headers["x-attempts"] == "3"
    assert letter.headers["x-original-topic"] == TOPIC
    assert "x-stacktrace" in letter.headers
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0, "nothing half-applied"


async def test_a_lost_race_is_retried_past_the_attempt_limit_and_applied(
        infra, pool, topics, make_consumer) -> None:
    failures = 0

    async def deadlocks_a_while(conn: asyncpg.Connection, envelope: Envelope) -> None:
        nonlocal failures
        if failures < 6:  # twice the attempt limit
            failures += 1
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        await record_applied(conn, envelope)

    consumer = make_consumer(deadlocks_a_while)
    await asyncio.wait_for(consumer.apply_records(records(Sequenced(stream="a", seq=1))), 30)
    assert await pool.fetchval("SELECT count(*) FROM applied") == 1
    assert failures == 6


async def test_permanent_error_is_dead_lettered_at_once_and_the_rest_applied(
        infra, pool, topics, make_consumer) -> None:
    calls = 0

    async def refuses_seq_2(conn: asyncpg.Connection, envelope: Envelope) -> None:
        nonlocal calls
        calls += 1
        assert isinstance(envelope.data, Sequenced)
        if envelope.data.seq == 2:
            raise PermanentError("seq 2 refers to a plan that never existed")
        await record_applied(conn, envelope)

    consumer = make_consumer(refuses_seq_2)
    await consumer.apply_records(records(Sequenced(stream="b", seq=1), Sequenced(stream="b", seq=2),
                                         Sequenced(stream="c", seq=3)))
    [letter] = await dead_letters(infra, topics, 1)
    assert letter.headers["x-error-type"] == "PermanentError"
    assert letter.headers["x-attempts"] == "1"
    assert "x-stacktrace" not in letter.headers
    assert [r["seq"] for r in await pool.fetch("SELECT seq FROM applied ORDER BY id")] == [1, 3]


async def test_a_batch_handler_gets_consecutive_runs_and_a_redelivery_changes_nothing(
        infra, pool, topics, make_consumer) -> None:
    runs: list[list[int]] = []

    @applies_batches
    async def insert_all(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
        runs.append([e.data.seq for e in envelopes])  # type: ignore[union-attr]
        await conn.executemany(
            "INSERT INTO applied (event_id, key, seq) VALUES ($1, $2, $3)",
            [(e.id, e.subject, e.data.seq) for e in envelopes])  # type: ignore[union-attr]

    consumer = make_consumer(insert_all)  # type: ignore[arg-type]
    batch = records(*(Sequenced(stream=f"s{n % 3}", seq=n) for n in range(10)))
    await consumer.apply_records(batch)
    assert runs == [list(range(10))], "one call for the run of ten"
    await consumer.apply_records(batch)  # redelivered after a crash before the offset commit
    assert runs == [list(range(10))], "the inbox filtered every one of them"
    rows = await pool.fetch("SELECT seq FROM applied ORDER BY id")
    assert [r["seq"] for r in rows] == list(range(10))


async def test_a_failing_batch_handler_falls_back_to_one_event_at_a_time(
        infra, pool, topics, make_consumer) -> None:
    @applies_batches
    async def poison_in_the_run(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            if envelope.data.seq == 1:  # type: ignore[union-attr]
                raise ValueError("seq 1 cannot be applied")
            await record_applied(conn, envelope)

    consumer = make_consumer(poison_in_the_run)  # type: ignore[arg-type]
    await consumer.apply_records(records(*(Sequenced(stream=f"p{n}", seq=n) for n in range(3))))
    [letter] = await dead_letters(infra, topics, 1)
    assert letter.headers["x-error-type"] == "ValueError"
    assert [r["seq"] for r in await pool.fetch("SELECT seq FROM applied ORDER BY id")] == [0, 2]
