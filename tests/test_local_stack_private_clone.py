"""The local stack from a clone in a folder no other user can enter (`/root/cowork`,
`mktemp -d`): as root, PostgreSQL runs as its own system user, which cannot reach the clone's
`.venv`; `cowork-devstack up` must still bring PostgreSQL up with the service databases, without
loosening the permissions of the user's folder, and `down` must stop it.

The clone is a copy of this working tree (tracked and untracked files, as `git ls-files` sees
them), so the test checks the code under review. Kafka is the running one (its port answers, so
the clone's stack uses it and starts no broker); PostgreSQL gets a port of its own."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from cowork.devstack import stack
from cowork.devtools import Infra, free_port

pytestmark = [pytest.mark.infra]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def private_clone() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="cowork-private-"))  # mode 0700
    clone = folder / "cowork"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    yield clone
    shutil.rmtree(folder, ignore_errors=True)


def _devstack(clone: Path, env: dict[str, str], command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["uv", "run", "--quiet", "cowork-devstack", command], cwd=clone,
                          env=env, capture_output=True, text=True, timeout=300, check=False)


async def _databases(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        return {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()


def test_a_private_clone_starts_postgresql(private_clone: Path, infra: Infra) -> None:
    folder = private_clone.parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    state = private_clone / ".devstack"
    pg_port = free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("COWORK_", "VIRTUAL_ENV"))}
    env.update(COWORK_STATE_DIR=str(state), COWORK_PG_PORT=str(pg_port),
               COWORK_KAFKA_PORT=infra.kafka_bootstrap.rpartition(":")[2])
    sync = subprocess.run(["uv", "sync", "--all-packages", "--quiet"], cwd=private_clone,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert sync.returncode == 0, sync.stderr
    try:
        up = _devstack(private_clone, env, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        url = f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
        names = asyncio.run(_databases(url))
        assert {f"cowork_{s}" for s in stack.SERVICE_DATABASES} <= names
        # Nothing was made reachable by loosening the user's folder.
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    finally:
        down = _devstack(private_clone, env, "down")
        cluster = (state / "postgres").resolve()
        if cluster.is_relative_to(stack.PG_SERVER_HOME):
            shutil.rmtree(cluster)  # the relocated cluster would outlive the clone
    assert down.returncode == 0, down.stdout + down.stderr
    assert not (cluster / "data" / "postmaster.pid").exists()
