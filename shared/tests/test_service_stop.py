"""A service's shutdown never hangs on its database pool, and its relay ends with the pool."""

from __future__ import annotations

import asyncio

import pytest

from cowork.devtools import Infra
from cowork.shared import db
from cowork.shared.kafka import reliable_producer
from cowork.shared.relay import OutboxRelay
from cowork.shared.service import close_pool

from sharedkit import fetchval, wait_until

pytestmark = [pytest.mark.infra]

OTHER_SESSIONS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                  "AND pid <> pg_backend_pid()")


async def test_a_connection_never_released_does_not_hang_the_pool_close(service_db: str) -> None:
    """asyncpg's Pool.close waits for every acquired connection; a task that outlived its stop
    holding one would keep the process up. close_pool gives up waiting and terminates."""
    pool = await db.create_pool(service_db, min_size=1, max_size=2)
    await pool.acquire()  # never released, as by a task cancelled at the wrong moment
    await asyncio.wait_for(close_pool(pool, timeout=0.5), timeout=10)
    assert pool.is_closing()

    async def sessions_gone() -> bool:
        return await fetchval(service_db, OTHER_SESSIONS) == 0

    await wait_until(sessions_gone, 10, "the pool's sessions to end on the server")


async def test_a_relay_whose_pool_was_closed_under_it_ends(infra: Infra, service_db: str,
                                                           topics: str) -> None:
    """Its connections gone with the pool, a relay has nothing left to publish with: it ends
    instead of retrying for ever (as one did once, after a test's teardown closed its pool)."""
    pool = await db.create_pool(service_db, min_size=1, max_size=2)
    producer = reliable_producer(infra.kafka_bootstrap, client_id="test-relay-stop")
    await producer.start()
    relay = OutboxRelay(pool, producer, topic_prefix=topics, poll_seconds=0.1)
    task = asyncio.create_task(relay.run())
    try:
        async def leading() -> bool:
            return relay.leading

        await wait_until(leading, 10, "the relay to lead")
        await close_pool(pool, timeout=0.5)  # the relay still holds its connection
        await asyncio.wait_for(task, timeout=10)
        assert task.exception() is None
    finally:
        task.cancel()
        await producer.stop()
