"""PostgreSQL: the connection pool and the versioned plain-SQL migration runner.

Migrations are files named `NNNN_what_it_does.sql` in a folder. They are applied in order, each
in its own transaction, under an advisory lock (so several replicas starting at once do not race),
and their checksums are recorded: editing a migration that was already applied is an error,
because the database would no longer be what the files say.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg

MIGRATION_LOCK_KEY = 0x636F776F726B  # "cowork"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

SHARED_MIGRATIONS = Path(str(resources.files("cowork.shared") / "migrations"))


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    namespace: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(namespace: str, folder: Path) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_what_it_does.sql")
        found.append(Migration(namespace, int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{folder}: two migrations share a version number")
    return found


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's default reset query (UNLISTEN *, RESET ALL, advisory
    unlock, CLOSE ALL): one round trip per request saved. Safe because the services keep no
    session state on pooled connections: nothing runs SET, and the outbox relay unlocks its
    leadership lock and UNLISTENs before it gives its connection back (or closes it).
    asyncpg still rolls back an open transaction and drops Python-side listeners first."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size,
                                     init=_init_connection, reset=_keep_session,
                                     command_timeout=60)
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


async def migrate(conn: asyncpg.Connection, sets: Sequence[tuple[str, Path]]) -> list[str]:
    """Apply every pending migration of each (namespace, folder); return what was applied."""
    migrations = [m for namespace, folder in sets for m in load_migrations(namespace, folder)]
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                namespace  text        NOT NULL,
                version    integer     NOT NULL,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (namespace, version)
            )
            """
        )
        rows = await conn.fetch("SELECT namespace, version, name, checksum FROM schema_migrations")
        done: dict[tuple[str, int], Any] = {(r["namespace"], r["version"]): r for r in rows}
        for m in migrations:
            previous = done.get((m.namespace, m.version))
            if previous is not None:
                if previous["checksum"] != m.checksum:
                    raise MigrationError(
                        f"migration {m.namespace}/{m.version:04d}_{m.name} was changed after it "
                        "was applied; add a new migration instead of editing an applied one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (namespace, version, name, checksum) "
                    "VALUES ($1, $2, $3, $4)",
                    m.namespace, m.version, m.name, m.checksum,
                )
            applied_now.append(f"{m.namespace}/{m.version:04d}_{m.name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now


async def migrate_service(dsn: str, service: str, folder: Path) -> list[str]:
    """The shared tables (outbox, inbox, scheduled jobs) first, then the service's own; then
    the outbox's epoch drawn again if this is not the database it was drawn in (a restore:
    shared migration 0005). A redrawn epoch is listed as `shared/epoch redrawn`."""
    conn = await connect(dsn)
    try:
        applied = await migrate(conn, [("shared", SHARED_MIGRATIONS), (service, folder)])
        if await conn.fetchval("SELECT outbox_check_epoch()"):
            applied.append(EPOCH_REDRAWN)
        return applied
    finally:
        await conn.close()


EPOCH_REDRAWN = "shared/epoch redrawn"


async def after_restore(dsn: str) -> int:
    """The restore procedure's step for a restored database (`python -m cowork.<service>
    after-restore`): the outbox's epoch drawn again, so the events numbered from the restored
    sequences are newer than any the consumers hold. Returns the new epoch."""
    conn = await connect(dsn)
    try:
        epoch: int = await conn.fetchval("SELECT outbox_redraw_epoch()")
        return epoch
    finally:
        await conn.close()


async def consumer_positions(dsn: str) -> list[str]:
    """Where each consumer of the database resumes, one line per partition: what a restored
    consumer re-applies from (`cowork.shared.positions`)."""
    conn = await connect(dsn)
    try:
        rows = await conn.fetch('SELECT consumer, topic, "partition", next_offset '
                                'FROM consumer_positions ORDER BY 1, 2, 3')
    finally:
        await conn.close()
    return [f"consumer {r['consumer']} resumes {r['topic']}[{r['partition']}] at offset "
            f"{r['next_offset']}" for r in rows]
