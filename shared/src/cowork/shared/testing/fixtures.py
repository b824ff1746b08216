"""pytest fixtures over real Kafka and PostgreSQL (registered by the root conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest

from cowork.shared.testing import Infra, running_infra, unique_name


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with running_infra() as found:
        yield found


@pytest.fixture
def topic_prefix() -> str:
    """Isolates a test's topics and consumer groups from every other run on the same broker."""
    return unique_name("t") + "."


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
