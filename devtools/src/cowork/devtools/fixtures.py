"""pytest fixtures over real Kafka and PostgreSQL (registered by the root conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cowork.devtools import Infra, delete_topics, free_port, running_infra, unique_name


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with running_infra() as found:
        yield found


@pytest.fixture
async def topic_prefix(infra: Infra) -> AsyncIterator[str]:
    """Isolates a test's topics and consumer groups from every other run on the same broker.
    The test's topics are deleted afterwards: a broker that keeps every test's partitions runs
    out of heap after a few runs of the suite."""
    prefix = unique_name("t") + "."
    yield prefix
    await delete_topics(infra.kafka_bootstrap, prefix)


@pytest.fixture
async def new_database(infra: Infra) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """A factory of empty databases, dropped after the test."""
    created: list[str] = []

    async def make() -> str:
        name = unique_name("cowork_test_")
        conn = await asyncpg.connect(infra.pg_admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        created.append(name)
        return infra.database_url(name)

    yield make
    conn = await asyncpg.connect(infra.pg_admin_url)
    try:
        for name in created:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def database_url(new_database: Callable[[], Awaitable[str]]) -> str:
    return await new_database()


@pytest.fixture
def private_kafka(infra: Infra, tmp_path: Path) -> Iterator[Any]:
    """A broker of this test's own (a `cowork.devstack.stack.StackConfig`), so stopping and
    starting it disturbs nobody else's tests; it shares the jars of the main local stack."""
    from cowork.devstack import stack

    shared = stack.StackConfig.from_env()
    cfg = stack.StackConfig(
        state_dir=tmp_path / "stack", kafka_port=free_port(), kafka_controller_port=free_port(),
        pg_port=shared.pg_port, pg_bin=None, kafka_heap="384m",
        kafka_libs=shared.kafka_libs or shared.state_dir / "kafka" / "libs",
    )
    stack.start_kafka(cfg)
    stack.wait_for_kafka(cfg)
    yield cfg
    stack.stop_kafka(cfg, hard=True)
