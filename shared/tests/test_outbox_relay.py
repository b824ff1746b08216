"""Relay leadership: one relay of several publishes, and it hands over cleanly when it stops."""

from __future__ import annotations

import asyncio

import pytest

from cowork.shared import db
from cowork.shared.kafka import reliable_producer
from cowork.shared.outbox import RELAY_LOCK_KEY, OutboxRelay
from cowork.shared.testing import Infra

from sharedkit import fetchval, wait_until, write_events

pytestmark = [pytest.mark.infra]

LEADERSHIP_HELD = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = $2
"""


async def test_one_relay_leads_and_a_stopped_leader_hands_over(infra: Infra, service_db: str,
                                                               topics: str) -> None:
    pools = [await db.create_pool(service_db, max_size=3) for _ in range(2)]
    producer = reliable_producer(infra.kafka_bootstrap, client_id="test-relay")
    await producer.start()
    relays = [OutboxRelay(pool, producer, topic_prefix=topics, poll_seconds=0.1) for pool in pools]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        async def someone_leads() -> bool:
            return any(r.leading for r in relays)

        await wait_until(someone_leads, 10, "a relay to lead")
        await asyncio.sleep(0.5)  # the standby keeps trying meanwhile
        assert sum(r.leading for r in relays) == 1
        first = next(i for i, r in enumerate(relays) if r.leading)
        relays[first].stop()
        await tasks[first]
        # Its pool stays open and its connection went back to it: the lock must not have.
        other = relays[1 - first]

        async def other_leads() -> bool:
            return other.leading

        await wait_until(other_leads, 10, "the standby to take over")
        assert await fetchval(service_db, LEADERSHIP_HELD, RELAY_LOCK_KEY >> 32,
                              RELAY_LOCK_KEY & 0xFFFFFFFF) == 1
        await write_events(service_db, streams=2, per_stream=50)

        async def all_published() -> bool:
            return await fetchval(service_db, "SELECT count(*) FROM outbox "
                                              "WHERE published_at IS NULL") == 0

        await wait_until(all_published, 30, "the new leader to publish everything")
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        for pool in pools:
            await pool.close()
