"""Outbox → Kafka → consumer under fire: the relay SIGKILLed mid-stream, the broker restarted."""

from __future__ import annotations

import asyncio

import pytest

from cowork.devstack import stack
from cowork.shared.events.topics import TopicSpec
from cowork.shared.kafka import ensure_topics
from cowork.shared.relay import RELAY_LOCK_KEY

from sharedkit import DLQ, fetchval, wait_until, write_events
from support import TOPIC

pytestmark = [pytest.mark.infra, pytest.mark.slow]

ORDER_VIOLATIONS = """
SELECT count(*) FROM (
    SELECT seq, lag(seq) OVER (PARTITION BY key ORDER BY id) AS previous FROM applied
) AS applied_in_order WHERE previous IS NOT NULL AND seq <= previous
"""


async def _published(dsn: str) -> int:
    return int(await fetchval(dsn, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"))  # type: ignore[arg-type]


async def _assert_all_applied_once_in_order(dsn: str, total: int) -> None:
    async def done() -> bool:
        return await fetchval(dsn, "SELECT count(*) FROM applied") >= total  # type: ignore[operator]

    await wait_until(done, 180, f"{total} events to be applied")
    await asyncio.sleep(1.5)  # anything re-sent late must still be absorbed
    assert await fetchval(dsn, "SELECT count(*) FROM applied") == total
    assert await fetchval(dsn, "SELECT count(DISTINCT event_id) FROM applied") == total
    assert await fetchval(dsn, ORDER_VIOLATIONS) == 0, "an aggregate's events arrived out of order"


async def test_10k_events_survive_the_leading_relay_being_sigkilled_twice(
        infra, service_db, topics, procs):
    """Two relays on one database, as two replicas run them: only the leader publishes; it is
    SIGKILLed twice mid-stream, the standby takes over and a fresh standby is started."""
    total = 10_000
    consumer = procs("consumer_proc.py", [service_db, infra.kafka_bootstrap, topics]).start()
    relay_args = [service_db, infra.kafka_bootstrap, topics, "100"]
    relays = [procs("relay_proc.py", relay_args).start() for _ in range(2)]
    writer = asyncio.create_task(write_events(service_db, streams=20, per_stream=total // 20,
                                              per_tx=50, pause=0.01))
    kills = 0
    for threshold in (1500, 5000):
        await wait_until(lambda t=threshold: _reached(service_db, t), 120, f"{threshold} published")
        assert await _published(service_db) < total, "the kill must land mid-stream"
        leader = await _leading_relay(service_db)
        assert [r.popen.pid for r in relays].count(leader) == 1, "exactly one relay leads"  # type: ignore[union-attr]
        for relay in [r for r in relays if r.popen.pid == leader]:  # type: ignore[union-attr]
            relay.kill()
            kills += 1
            relays.remove(relay)
        relays.append(procs("relay_proc.py", relay_args).start())
    await writer
    assert kills == 2
    await _assert_all_applied_once_in_order(service_db, total)
    assert consumer.alive()


async def _leading_relay(dsn: str) -> int:
    """The OS pid of the relay holding the leadership lock (see relay_proc.py)."""
    name = await fetchval(dsn, """
        SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
                          RELAY_LOCK_KEY >> 32, RELAY_LOCK_KEY & 0xFFFFFFFF)
    assert isinstance(name, str) and name.startswith("relay-"), name
    return int(name.removeprefix("relay-"))


async def _reached(dsn: str, n: int) -> bool:
    return await _published(dsn) >= n



async def test_broker_restart_during_consumption_loses_nothing(
        private_kafka: stack.StackConfig, service_db, topic_prefix, procs):
    bootstrap = private_kafka.kafka_bootstrap
    await ensure_topics(bootstrap, [TopicSpec(TOPIC), TopicSpec(DLQ, partitions=1)],
                        prefix=topic_prefix)
    total = 3000
    consumer = procs("consumer_proc.py", [service_db, bootstrap, topic_prefix]).start()
    relay = procs("relay_proc.py", [service_db, bootstrap, topic_prefix, "100"]).start()
    writer = asyncio.create_task(write_events(service_db, streams=10, per_stream=total // 10,
                                              per_tx=50, pause=0.02))

    async def some_applied() -> bool:
        return await fetchval(service_db, "SELECT count(*) FROM applied") >= 300  # type: ignore[operator]

    await wait_until(some_applied, 60, "consumption to be under way")
    await asyncio.to_thread(stack.stop_kafka, private_kafka, hard=True)  # dies mid-stream
    await asyncio.sleep(3)  # writes go on meanwhile: the outbox keeps them
    assert await fetchval(service_db, "SELECT count(*) FROM applied") < total
    await asyncio.to_thread(stack.start_kafka, private_kafka)
    await asyncio.to_thread(stack.wait_for_kafka, private_kafka)
    await writer
    await _assert_all_applied_once_in_order(service_db, total)
    assert consumer.alive() and relay.alive(), "both recovered by themselves"
