from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from cowork.devtools import Infra
from cowork.shared import db
from cowork.shared.consumer import EventConsumer
from cowork.shared.events.topics import TopicSpec
from cowork.shared.failures import RetryPolicy
from cowork.shared.kafka import ResilientProducer, ensure_topics, reliable_producer

sys.path.insert(0, str(Path(__file__).parent))
from sharedkit import DLQ, PROCS, Proc
from support import MIGRATIONS, TOPIC, Sequenced, record_applied


@pytest.fixture
async def service_db(database_url: str) -> str:
    await db.migrate_service(database_url, "test", MIGRATIONS)
    return database_url


@pytest.fixture
async def topics(infra: Infra, topic_prefix: str) -> str:
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec(TOPIC), TopicSpec(DLQ, partitions=1)],
                        prefix=topic_prefix)
    return topic_prefix


@pytest.fixture
async def pool(service_db: str) -> AsyncIterator[asyncpg.Pool]:
    p = await db.create_pool(service_db, max_size=4)
    yield p
    await p.close()


@pytest.fixture
async def consumer(infra: Infra, pool: asyncpg.Pool, topics: str) -> AsyncIterator[EventConsumer]:
    """A consumer of the test topic whose handler records each sequenced event it applies,
    retrying twice before a dead letter (the key-order and dead-letter tests)."""
    producer = ResilientProducer(lambda: reliable_producer(infra.kafka_bootstrap,
                                                           client_id="test-consumer"))
    yield EventConsumer(name="order", service="test", pool=pool, producer=producer,
                        topics=[TOPIC], handlers={Sequenced.event_type: record_applied},
                        dlq_topic=DLQ, topic_prefix=topics,
                        retry=RetryPolicy(max_attempts=2, base_seconds=0.01))
    await producer.stop()


@pytest.fixture
def procs() -> Iterator[Callable[[str, list[str]], Proc]]:
    started: list[Proc] = []

    def make(script: str, args: list[str]) -> Proc:
        proc = Proc([str(PROCS / script), *args])
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()


