from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cowork.devtools import Infra
from cowork.shared import db
from cowork.shared.events.topics import TopicSpec
from cowork.shared.kafka import ensure_topics

sys.path.insert(0, str(Path(__file__).parent))
from sharedkit import DLQ, PROCS, Proc
from support import MIGRATIONS, TOPIC


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
def procs() -> Iterator[Callable[[str, list[str]], Proc]]:
    started: list[Proc] = []

    def make(script: str, args: list[str]) -> Proc:
        proc = Proc([str(PROCS / script), *args])
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.stop()


