"""Cowork's own test support, development only (the workspace's `dev` group; never in the
production image, and never imported by cowork.shared or a service): real infrastructure for the
tests of every package, and in its modules the fixtures, authorization matrices, the
personal-data-in-logs hook, service processes and CPU sampling for benchmarks. Partners' tests
use cowork.testkit instead.

`COWORK_TEST_INFRA` picks where Kafka and PostgreSQL come from:
- `local` (default): the local stack of deploy/local, started once per test session if it is
  not already running (plain processes, no Docker);
- `external`: addresses given by `COWORK_KAFKA_BOOTSTRAP` and `COWORK_PG_URL` (a superuser
  URL), as an operator's CI would provide;
- `containers`: Kafka and PostgreSQL started for the session by testcontainers from the images
  `make images` builds (cowork.testkit.containers), removed at its end; with
  `COWORK_KAFKA_BROKERS=3`, Kafka is a cluster of three containers (cowork.devtools.kafka_containers)
  whose nodes the fault tests stop and start through `Infra.kafka_nodes`.

Nothing here ever skips: a test that needs the infrastructure fails when it cannot be had.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    pg_admin_url: str
    # Containers mode: the PostgreSQL container, where pg_dump and pg_restore run (docker exec).
    pg_container: str | None = None
    # Containers mode with a Kafka cluster: its nodes' control (a KafkaClusterContainers, a
    # cowork.devtools.kafka_nodes.KafkaNodes), None otherwise.
    kafka_nodes: Any = None

    def database_url(self, database: str) -> str:
        base, _, _ = self.pg_admin_url.rpartition("/")
        return f"{base}/{database}"

    async def dump_database(self, database_url: str) -> bytes:
        """A backup of the database now (pg_dump, custom format), with the server's own
        major version of the tools (cowork.devtools.backups)."""
        from cowork.devtools import backups

        bindir = await self._backup_tools()
        return await asyncio.to_thread(backups.dump, database_url, bindir=bindir,
                                       container=self.pg_container)

    async def restore_database(self, database_url: str, archive: bytes) -> None:
        """Put the database back to the backup `archive` (pg_restore --clean, one
        transaction); what was written since is gone, as after an operator's restore."""
        from cowork.devtools import backups

        bindir = await self._backup_tools()
        await asyncio.to_thread(backups.restore, database_url, archive, bindir=bindir,
                                container=self.pg_container)

    async def _backup_tools(self) -> Path | None:
        from cowork.devtools import backups

        if self.pg_container is not None:
            return None
        return backups.tools_dir(await backups.server_major(self.pg_admin_url))


@contextlib.contextmanager
def running_infra() -> Iterator[Infra]:
    """The infrastructure for one test session: started (and in containers mode removed
    afterwards) according to COWORK_TEST_INFRA."""
    if os.environ.get("COWORK_TEST_INFRA", "local") != "containers":
        yield start_infra()
        return
    from cowork.testkit.containers import infra_containers

    brokers = int(os.environ.get("COWORK_KAFKA_BROKERS", "1"))
    if brokers == 1:
        with infra_containers() as containers:
            yield Infra(containers.kafka_bootstrap, containers.database_url("postgres"),
                        pg_container=containers.postgres_container_id)
        return
    from cowork.devtools.kafka_containers import kafka_cluster_containers

    with (infra_containers(with_kafka=False) as containers,
          kafka_cluster_containers(brokers) as cluster):
        yield Infra(cluster.bootstrap, containers.database_url("postgres"),
                    pg_container=containers.postgres_container_id, kafka_nodes=cluster)


def start_infra() -> Infra:
    """Infrastructure that outlives the caller (local or external); see running_infra."""
    mode = os.environ.get("COWORK_TEST_INFRA", "local")
    if mode == "local":
        from cowork.devstack import StackConfig, up

        cfg = up(StackConfig.from_env())
        return Infra(cfg.kafka_bootstrap, cfg.database_url("postgres"))
    if mode == "external":
        try:
            return Infra(os.environ["COWORK_KAFKA_BOOTSTRAP"], os.environ["COWORK_PG_URL"])
        except KeyError as exc:
            raise RuntimeError(f"COWORK_TEST_INFRA=external needs {exc.args[0]} set") from exc
    if mode == "containers":
        raise RuntimeError("COWORK_TEST_INFRA=containers starts containers that must be removed "
                           "afterwards: use running_infra() (the `infra` fixture does)")
    raise RuntimeError(f"unknown COWORK_TEST_INFRA={mode!r} (local | external | containers)")


def free_port() -> int:
    """A loopback TCP port nothing listens on now, for a process a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


class ManualClock:
    """A clock a test moves by hand; pass it wherever a service takes `clock`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def delete_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic whose name starts with `prefix` (a test's own topics). A broker that
    cannot be reached any more (a test stopped it) leaves nothing to clean: it is not an error."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    except (KafkaError, OSError):
        pass
    finally:
        await admin.close()
