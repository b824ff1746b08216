"""The consumer's transport, `FetchLoop`: when it commits offsets — after the batch's
transaction, without waiting for Kafka's answer before taking the next batch, one commit at a
time and in order, with explicit positions; a commit that fails only means a redelivery, which
the inbox absorbs — how it rewinds a batch that failed, and how it stops.

Driven through `FetchLoop.handle` with a stand-in for the Kafka consumer that records the
commits and seeks and holds each commit until the test lets it go; the database is real."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError

from cowork.devtools import Infra
from cowork.shared import db
from cowork.shared.consumer import EventConsumer
from cowork.shared.events import Envelope
from cowork.shared.kafka import ResilientProducer, reliable_producer
from cowork.shared.transport import FetchLoop

from sharedkit import DLQ, wait_until
from support import SOURCE, TOPIC, Sequenced, record_applied

pytestmark = [pytest.mark.infra]


def batch(stream: str, seqs: range, *, partition: int, first_offset: int
          ) -> list[ConsumerRecord[bytes, bytes]]:
    out = []
    for i, seq in enumerate(seqs):
        env = Envelope.wrap(Sequenced(stream=stream, seq=seq), source=SOURCE)
        out.append(ConsumerRecord(TOPIC, partition, first_offset + i, 0, 0, env.subject.encode(),
                                  env.value(), None, 0, 0, env.kafka_headers()))
    return out


class HeldCommits:
    """A Kafka consumer whose commits wait until released; records what each one asked for,
    and where it was asked to seek."""

    def __init__(self, *, fail: bool = False,
                 assigned: set[TopicPartition] | None = None) -> None:
        self.asked: list[dict[TopicPartition, int]] = []
        self.done: list[dict[TopicPartition, int]] = []
        self.release = asyncio.Event()
        self.fail = fail
        self.assigned = assigned or {TopicPartition(TOPIC, p) for p in range(3)}
        self.seeks: list[tuple[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.asked.append(dict(offsets))
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the group rebalanced")  # what aiokafka's CommitFailedError says
        self.done.append(dict(offsets))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))

    def assignment(self) -> set[TopicPartition]:
        return self.assigned


class FakeKafka(HeldCommits):
    """Hands over the given batches, one a fetch, after failing `failures` fetches."""

    def __init__(self, batches: list[list[ConsumerRecord[bytes, bytes]]], *,
                 failures: int = 0) -> None:
        super().__init__()
        self.batches = batches
        self.failures = failures
        self.stopped = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0,
                      max_records: int | None = None
                      ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        if self.failures:
            self.failures -= 1
            raise KafkaConnectionError("the broker is away")
        if self.batches:
            records = self.batches.pop(0)
            return {TopicPartition(TOPIC, records[0].partition): records}
        await asyncio.sleep(timeout_ms / 1000)
        return {}


@pytest.fixture
async def consumer(infra: Infra, service_db: str, topics: str) -> AsyncIterator[EventConsumer]:
    pool = await db.create_pool(service_db, max_size=4)
    producer = ResilientProducer(lambda: reliable_producer(infra.kafka_bootstrap,
                                                           client_id="test-commits"))
    yield EventConsumer(name="commits", service="test", pool=pool, producer=producer,
                        topics=[TOPIC], handlers={Sequenced.event_type: record_applied},
                        dlq_topic=DLQ, topic_prefix=topics)
    await producer.stop()
    await pool.close()


async def applied(consumer: EventConsumer) -> int:
    async with consumer._pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM applied"))


async def test_the_next_batch_is_taken_while_kafka_confirms_the_last_commit(
        consumer: EventConsumer) -> None:
    kafka = HeldCommits()
    first = batch("a", range(1, 4), partition=0, first_offset=10) + \
        batch("b", range(1, 3), partition=1, first_offset=40)
    loop = FetchLoop(consumer, kafka)
    # handle returns with its events applied though Kafka has not answered the commit
    await asyncio.wait_for(loop.handle(first), 10)
    assert await applied(consumer) == 5
    await asyncio.sleep(0)
    assert kafka.asked == [{TopicPartition(TOPIC, 0): 13, TopicPartition(TOPIC, 1): 42}]
    assert kafka.done == []

    # The next batch is applied at once, but its commit waits for the previous one: one
    # commit in flight, in order, so an older position never lands after a newer one.
    second = asyncio.create_task(loop.handle(batch("a", range(4, 6), partition=0,
                                                   first_offset=13)))
    await asyncio.sleep(0.2)
    assert await applied(consumer) == 7
    assert not second.done() and len(kafka.asked) == 1
    kafka.release.set()
    await asyncio.wait_for(second, 10)
    await asyncio.sleep(0)
    assert kafka.asked[1] == {TopicPartition(TOPIC, 0): 15}
    assert kafka.done[0] == {TopicPartition(TOPIC, 0): 13, TopicPartition(TOPIC, 1): 42}


async def test_a_commit_that_fails_is_absorbed_by_the_inbox_on_redelivery(
        consumer: EventConsumer) -> None:
    kafka = HeldCommits(fail=True)
    kafka.release.set()
    loop = FetchLoop(consumer, kafka)
    records = batch("c", range(1, 4), partition=0, first_offset=0)
    await loop.handle(records)
    await loop.handle(records)  # redelivered from the old position
    await asyncio.sleep(0)
    assert len(kafka.asked) == 2 and kafka.done == []
    assert await applied(consumer) == 3  # applied once


async def test_a_failed_batch_is_rewound_to_its_first_records_and_not_committed(
        consumer: EventConsumer, monkeypatch: pytest.MonkeyPatch) -> None:
    async def fails(records: object) -> None:
        raise RuntimeError("the batch cannot be applied now")

    monkeypatch.setattr(consumer, "apply_records", fails)
    kafka = HeldCommits(assigned={TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)})
    kafka.release.set()
    records = batch("a", range(1, 3), partition=0, first_offset=10) + \
        batch("b", range(1, 3), partition=1, first_offset=40) + \
        batch("c", range(1, 2), partition=2, first_offset=7)
    await FetchLoop(consumer, kafka).handle(records)
    # Partition 2 went to another member meanwhile: it starts from the committed offset.
    assert sorted(kafka.seeks) == [(TopicPartition(TOPIC, 0), 10), (TopicPartition(TOPIC, 1), 40)]
    assert kafka.asked == []


async def test_a_fetch_that_fails_is_retried_and_the_loop_goes_on(
        consumer: EventConsumer) -> None:
    kafka = FakeKafka([batch("f", range(1, 3), partition=0, first_offset=0)], failures=2)
    kafka.release.set()
    loop = FetchLoop(consumer, kafka)
    await loop.start()
    try:
        async def committed() -> bool:
            return kafka.done == [{TopicPartition(TOPIC, 0): 2}]

        await wait_until(committed, 15, "the batch after two failed fetches")
    finally:
        await loop.stop()
    assert await applied(consumer) == 2


async def test_a_stop_lets_the_batch_in_hand_finish_and_its_commit_land(
        consumer: EventConsumer, monkeypatch: pytest.MonkeyPatch) -> None:
    entered, go_on = asyncio.Event(), asyncio.Event()
    apply = consumer.apply_records

    async def slow(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        entered.set()
        await go_on.wait()
        await apply(records)

    monkeypatch.setattr(consumer, "apply_records", slow)
    kafka = FakeKafka([batch("s", range(1, 4), partition=0, first_offset=0)])
    loop = FetchLoop(consumer, kafka)
    await loop.start()
    await asyncio.wait_for(entered.wait(), 10)
    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0.3)
    assert not stopping.done(), "the batch in hand is finished first"
    go_on.set()
    await asyncio.sleep(0.3)
    assert not stopping.done() and kafka.asked == [{TopicPartition(TOPIC, 0): 3}], \
        "then its commit is waited for"
    kafka.release.set()
    await asyncio.wait_for(stopping, 10)
    assert kafka.done == [{TopicPartition(TOPIC, 0): 3}] and kafka.stopped
    assert await applied(consumer) == 3


async def test_a_batch_that_outlasts_the_stop_is_cut_short_and_not_committed(
        consumer: EventConsumer, monkeypatch: pytest.MonkeyPatch) -> None:
    async def never_ends(records: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(consumer, "apply_records", never_ends)
    kafka = FakeKafka([batch("n", range(1, 2), partition=0, first_offset=0)])
    loop = FetchLoop(consumer, kafka, stop_seconds=0.3)
    await loop.start()
    await asyncio.sleep(0.2)
    await asyncio.wait_for(loop.stop(), 10)
    assert kafka.asked == [] and kafka.stopped, "redelivered to the inbox after a restart"


async def test_a_stop_its_caller_gives_up_on_leaves_no_batch_running(
        consumer: EventConsumer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime bounds each step of its stop at 10 s (`cowork.shared.service._bounded`) and
    cancels the step past it: a stop cut short there must not leave the loop running on,
    applying, after the service stopped."""
    entered = asyncio.Event()

    async def never_ends(records: object) -> None:
        entered.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(consumer, "apply_records", never_ends)
    kafka = FakeKafka([batch("n", range(1, 2), partition=0, first_offset=0)])
    loop = FetchLoop(consumer, kafka)  # the runtime's stop_seconds
    await loop.start()
    await asyncio.wait_for(entered.wait(), 10)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(loop.stop(), 0.5)  # the runtime's bound, shortened
    await asyncio.sleep(0.1)
    assert loop._task is not None and loop._task.done(), "the loop runs on after its stop"
    assert kafka.asked == []


async def stopped_within_the_runtimes_bound(
        consumer: EventConsumer, monkeypatch: pytest.MonkeyPatch,
        apply: Callable[[object], Awaitable[None]]) -> tuple[FakeKafka, FetchLoop]:
    """A loop with the services' defaults, its one-record batch in `apply`, stopped as the
    runtime stops it: failing the test past the 10 s it gives the step."""
    monkeypatch.setattr(consumer, "apply_records", apply)
    kafka = FakeKafka([batch("n", range(1, 2), partition=0, first_offset=0)])
    loop = FetchLoop(consumer, kafka)
    await loop.start()
    await asyncio.sleep(0.2)
    await asyncio.wait_for(loop.stop(), 10)
    return kafka, loop


async def test_a_stop_with_a_stuck_batch_still_leaves_the_group_within_the_runtimes_bound(
        consumer: EventConsumer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime gives the stop of its fetch loops 10 s (`cowork.shared.service._bounded`):
    the loop's own wait for the batch in hand must end before that, so that the client still
    leaves the group (the partitions move to another replica at once, not after the session
    times out)."""
    async def never_ends(records: object) -> None:
        await asyncio.Event().wait()

    kafka, _ = await stopped_within_the_runtimes_bound(consumer, monkeypatch, never_ends)
    assert kafka.stopped and kafka.asked == []


async def test_a_batch_slow_to_unwind_from_its_cut_still_lets_the_client_leave_the_group(
        consumer: EventConsumer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch stuck because the database does not answer (a failover, a network cut) is also
    slow to unwind once cut short: asyncpg sends the database a cancel request and the
    transaction's ROLLBACK and the connection's release wait for it. The stop must not wait for
    that unwinding without bound: past the runtime's 10 s (`service._bounded`) the stop is
    cancelled before the client leaves its group (its partitions then wait out the session
    timeout) and before the client is closed."""
    async def stuck_and_slow_to_unwind(records: object) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(6)  # the rollback waiting on a database that does not answer

    kafka, loop = await stopped_within_the_runtimes_bound(consumer, monkeypatch,
                                                          stuck_and_slow_to_unwind)
    assert kafka.stopped and kafka.asked == []
    assert loop._task is not None
    await asyncio.wait({loop._task}, timeout=10)  # no task left behind the test


async def test_a_batch_cut_short_while_its_transaction_commits_is_applied_once_after(
        consumer: EventConsumer) -> None:
    """The cut can come while the batch's COMMIT is on its way (a deferred trigger holds it
    here): whether the database then commits or rolls back, the offsets must not be
    committed, and the next member applies the batch exactly once through the inbox."""
    async with consumer._pool.acquire() as conn:
        await conn.execute("""
            CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$;
            CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON applied
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();""")
    records = batch("c", range(1, 3), partition=0, first_offset=0)
    kafka = FakeKafka([records])
    loop = FetchLoop(consumer, kafka, stop_seconds=0.5)
    await loop.start()

    async def committing() -> bool:
        async with consumer._pool.acquire() as conn:
            return bool(await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                "AND query ILIKE 'COMMIT%' AND datname = current_database()"))

    await wait_until(committing, 10, "the batch's COMMIT under way")
    await asyncio.wait_for(loop.stop(), 10)
    assert kafka.asked == [], "no offsets for a batch whose transaction did not end"
    async with consumer._pool.acquire() as conn:
        await conn.execute("DROP TRIGGER slow_commit ON applied")
    kafka = FakeKafka([records])  # the next member, from the committed offsets
    loop = FetchLoop(consumer, kafka)
    await loop.start()
    async def asked() -> bool:
        return bool(kafka.asked)

    await wait_until(asked, 10, "the batch applied and its offsets asked for")
    kafka.release.set()
    await asyncio.wait_for(loop.stop(), 10)
    assert await applied(consumer) == 2


async def test_loops_stopped_together_with_stuck_batches_leave_their_group_at_once(
        infra: Infra, consumer: EventConsumer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime stops its fetch loops together (`asyncio.gather` under its 10 s bound), on
    real Kafka clients: each with a batch stuck and slow to unwind, the stop still ends in the
    bound and the group is left at once (Empty, not waiting out the session timeout)."""
    entered: set[int] = set()

    async def stuck_and_slow_to_unwind(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        entered.update(r.partition for r in records)
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(6)

    monkeypatch.setattr(consumer, "apply_records", stuck_and_slow_to_unwind)
    producer = reliable_producer(infra.kafka_bootstrap, client_id="test-stop-together")
    await producer.start()
    try:
        for p in range(3):
            env = Envelope.wrap(Sequenced(stream=f"g{p}", seq=1), source=SOURCE)
            await producer.send_and_wait(consumer.subscribed_topics[0], key=env.subject.encode(),
                                         value=env.value(), headers=env.kafka_headers(),
                                         partition=p)
    finally:
        await producer.stop()
    loops = [FetchLoop.connect(consumer, infra.kafka_bootstrap, client_id=f"test-stop-{i}")
             for i in range(2)]
    for loop in loops:
        await loop.start()

    async def all_taken() -> bool:
        return entered == {0, 1, 2}

    await wait_until(all_taken, 30, "every partition's batch in hand")
    await asyncio.wait_for(asyncio.gather(*(loop.stop() for loop in loops)), 10)
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([consumer.group_id])
        state = described[0].groups[0][2]
        assert state == "Empty", f"the group is {state}: its members did not leave"
    finally:
        await admin.close()
        for loop in loops:
            assert loop._task is not None
            await asyncio.wait({loop._task}, timeout=10)
