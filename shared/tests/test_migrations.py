"""The migration runner on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from cowork.shared import db
from cowork.shared.db import MigrationError

pytestmark = [pytest.mark.infra]


def _write(folder: Path, name: str, sql: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(sql)


# The shared tables' migrations, in order, as every service applies them first.
SHARED = [f"shared/{m.version:04d}_{m.name}"
          for m in db.load_migrations("shared", db.SHARED_MIGRATIONS)]


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


async def test_applies_shared_then_service_migrations_once(database_url: str, tmp_path: Path):
    _write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int PRIMARY KEY);")
    _write(tmp_path, "0002_more.sql", "ALTER TABLE things ADD COLUMN name text;")
    applied = await db.migrate_service(database_url, "svc", tmp_path)
    assert applied == [*SHARED, "svc/0001_things", "svc/0002_more"]
    assert {"outbox", "inbox", "scheduled_jobs", "things", "schema_migrations"} <= await _tables(database_url)
    assert await db.migrate_service(database_url, "svc", tmp_path) == []


async def test_an_edited_applied_migration_is_an_error(database_url: str, tmp_path: Path):
    _write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int);")
    await db.migrate_service(database_url, "svc", tmp_path)
    _write(tmp_path, "0001_things.sql", "CREATE TABLE things (id bigint);")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await db.migrate_service(database_url, "svc", tmp_path)


async def test_a_failing_migration_leaves_nothing_half_applied(database_url: str, tmp_path: Path):
    _write(tmp_path, "0001_ok.sql", "CREATE TABLE ok (id int);")
    _write(tmp_path, "0002_broken.sql", "CREATE TABLE half (id int); SELECT no_such_function();")
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await db.migrate_service(database_url, "svc", tmp_path)
    tables = await _tables(database_url)
    assert "ok" in tables and "half" not in tables
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE half (id int);")
    assert await db.migrate_service(database_url, "svc", tmp_path) == ["svc/0002_broken"]


async def test_replicas_starting_together_apply_each_migration_once(database_url: str,
                                                                   tmp_path: Path):
    # Not idempotent on purpose: a second application would fail.
    _write(tmp_path, "0001_things.sql", "CREATE TABLE things (id int);")
    results = await asyncio.gather(*(db.migrate_service(database_url, "svc", tmp_path)
                                     for _ in range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, len(SHARED) + 1]


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "1_things.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_what_it_does"):
        db.load_migrations("svc", tmp_path)
