"""Three brokers, replicated: broker faults lose no event and double no effect.

Membership (producer, through its outbox) and booking (consumer, through its inbox) run
in-process against a 3-node KRaft cluster, either of local processes (`make test-cluster` starts
it with `cowork-devstack up --brokers 3` and stops it afterwards) or of containers
(`COWORK_TEST_INFRA=containers COWORK_KAFKA_BROKERS=3`; `make test-containers` runs them so);
cowork.devtools.kafka_nodes stops and starts the nodes either way. Each case kills nodes with
SIGKILL while members register through the API, then checks, on the topics and in both
databases: every event reached Kafka exactly once, booking applied each exactly once, and
measures the time to recover. The figures are appended to a recovery file (`<state>/recovery.txt`
for processes, `.devstack/recovery-containers.txt` for containers; docs/operations.md quotes
them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from stdnum import luhn

from cowork.booking.app import BookingSettings
from cowork.booking.app import create_app as booking_app
from cowork.devtools import Infra
from cowork.devtools.kafka_nodes import KafkaNodes, kafka_nodes
from cowork.devtools.processes import count
from cowork.devtools.services import running
from cowork.membership.app import MembershipSettings
from cowork.membership.app import create_app as membership_app
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics

pytestmark = [pytest.mark.cluster, pytest.mark.infra, pytest.mark.slow]

# CI runs the real minute; shorten it locally with COWORK_CLUSTER_OUTAGE_SECONDS=10.
OUTAGE_SECONDS = float(os.environ.get("COWORK_CLUSTER_OUTAGE_SECONDS", "60"))
MEMBERS = 200
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PUBLISHED = "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
APPLIED = "SELECT count(*) FROM inbox"
TOPIC_CONFIG = 1  # DescribeConfigs' config_source of a setting of the topic itself


def organisation(i: int) -> dict[str, Any]:
    number = f"{i + 1:07d}001"
    return {"kind": "organisation", "full_name": f"Cooperativa {i}",
            "email": f"coop{i}@example.org", "tax_code": number + luhn.calc_check_digit(number),
            "consents": {"privacy": True}}


@dataclass(frozen=True)
class Cluster:
    nodes: KafkaNodes
    recovery_file: Path


@pytest.fixture(scope="session")
def cluster_nodes(infra: Infra) -> Cluster:
    return Cluster(*kafka_nodes(infra))


@pytest.fixture
def whole_cluster(cluster_nodes: Cluster) -> Iterator[Cluster]:
    """Every node running before the test and again after it, whatever the test killed."""
    cluster_nodes.nodes.wait_until_whole()
    yield cluster_nodes
    cluster_nodes.nodes.start_all()
    cluster_nodes.nodes.wait_until_whole()


def record_recovery(cluster: Cluster, case: str, figures: dict[str, float]) -> None:
    text = ", ".join(f"{name} {value:.1f} s" for name, value in figures.items())
    cluster.recovery_file.parent.mkdir(parents=True, exist_ok=True)
    with open(cluster.recovery_file, "a") as out:
        out.write(f"{case}: {text}\n")
    print(f"recovery, {case}: {text}")


@dataclass
class Pair:
    """Membership and booking running against the cluster, with their databases."""

    bootstrap: str
    prefix: str
    membership: httpx.AsyncClient
    membership_db: str
    booking_db: str
    posted: int = 0

    async def register(self, how_many: int) -> None:
        """Members registered one after another; each answer must be 201 (the outbox)."""
        for i in range(self.posted, self.posted + how_many):
            response = await self.membership.post("/v1/members", json=organisation(i))
            assert response.status_code == 201, response.text
        self.posted += how_many

    async def published(self) -> int:
        return await count(self.membership_db, PUBLISHED)

    async def applied(self) -> int:
        return await count(self.booking_db, APPLIED)

    async def outbox_total(self) -> int:
        return await count(self.membership_db, "SELECT count(*) FROM outbox")

    async def wait_until_all_flowed(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            total = await self.outbox_total()
            if (await self.published() == total and await self.applied() == self.posted
                    and total >= 2 * self.posted):
                return
            assert time.monotonic() < deadline, "the events never all flowed"
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def booking(infra: Infra, pair: Pair, **settings: Any) -> AsyncIterator[None]:
    app = booking_app(BookingSettings(database_url=pair.booking_db, **_common(infra, pair.prefix),
                                      **settings), clock=lambda: NOW)
    async with running(app):
        yield


def _common(infra: Infra, prefix: str) -> dict[str, Any]:
    return {"kafka_bootstrap": infra.kafka_bootstrap, "topic_prefix": prefix,
            "outbox_poll_seconds": 0.2, "kafka_watch_seconds": 1.0, "log_json": False,
            "run_scheduler": False}


@contextlib.asynccontextmanager
async def membership(infra: Infra, new_database: Any, prefix: str
                     ) -> AsyncIterator[tuple[Pair, Any]]:
    database = await new_database()
    # Hundreds of sign-ups from one test client: the registration limit is not measured here.
    app = membership_app(MembershipSettings(database_url=database, **_common(infra, prefix),
                                            outbox_batch_size=20,
                                            registration_limit_per_client=100_000),
                         clock=lambda: NOW)
    async with running(app) as client:
        yield (Pair(infra.kafka_bootstrap, prefix, client, database, await new_database()),
               app.state.runtime)


async def leader_of(bootstrap: str, topic: str, partition: int = 0) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return int(next(p["leader"] for p in described["partitions"]
                        if p["partition"] == partition))
    finally:
        await admin.close()


async def when_count_reaches(query: Any, at_least: int) -> int:
    for _ in range(3000):
        done = int(await query())
        if done >= at_least:
            return done
        await asyncio.sleep(0.01)
    raise AssertionError(f"the stream never reached {at_least}")


async def sigkill(cluster: Cluster, node_id: int) -> float:
    """The moment of the kill: recovery counts from the signal, not from when the dead
    process was reaped (that wait once hid a whole controller election: "after 0.0 s")."""
    killed = time.monotonic()
    await asyncio.to_thread(cluster.nodes.stop_node, node_id, hard=True)
    return killed


async def assert_exactly_once(pair: Pair) -> None:
    """Every outbox event on Kafka once; booking's inbox holds each member's event once."""
    outbox = {str(r) for r in await _column(pair.membership_db, "SELECT id FROM outbox")}
    names = [pair.prefix + topics.MEMBERSHIP_EVENTS, pair.prefix + topics.MEMBERSHIP_CONTACTS]
    ids = await read_event_ids(pair.bootstrap, names, len(outbox))
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} events reached Kafka twice"
    assert set(ids) == outbox, f"{len(outbox - set(ids))} events never reached Kafka"
    applied = await _column(pair.booking_db, "SELECT event_id FROM inbox")
    registered = await _column(pair.membership_db, "SELECT id FROM outbox WHERE type = $1",
                               ev.MemberRegistered.event_type)
    assert sorted(map(str, applied)) == sorted(map(str, registered)), "an effect lost or doubled"
    assert await count(pair.booking_db, "SELECT count(*) FROM known_members") == pair.posted


async def _column(dsn: str, sql: str, *args: Any) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r[0] for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def read_event_ids(bootstrap: str, names: list[str], at_least: int) -> list[str]:
    """Every record's event id on the topics, read on a little once `at_least` arrived (a late
    duplicate must show up too)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(n, p) for n in names
                      for p in consumer.partitions_for_topic(n) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ids: list[str] = []
        deadline, quiet_until = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            ids += [dict(r.headers)["ce_id"].decode() for rs in batch.values() for r in rs]
            if len(ids) >= at_least:
                quiet_until = quiet_until or time.monotonic() + 2
                if time.monotonic() > quiet_until:
                    break
        return ids
    finally:
        await consumer.stop()


# ---------------------------------------------------------------- the cases


async def test_topics_are_replicated_and_the_producer_is_idempotent_with_acks_all(
        whole_cluster: Cluster, infra: Infra, new_database: Any, topic_prefix: str) -> None:
    async with membership(infra, new_database, topic_prefix) as (pair, runtime):
        await pair.register(1)
        await when_count_reaches(pair.published, 2)
        producer = await runtime.relay._producer.get()  # the running relay's own producer
        assert producer._sender._acks == -1, "the relay's producer does not wait for acks=all"
        assert producer._txn_manager is not None, "the relay's producer is not idempotent"
        assert producer._txn_manager.producer_id >= 0, "the broker gave it no producer id"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        for name in (topics.MEMBERSHIP_EVENTS, topics.MEMBERSHIP_CONTACTS):
            [described] = await admin.describe_topics([topic_prefix + name])
            assert {len(p["replicas"]) for p in described["partitions"]} == {3}
            [response] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic_prefix + name)])
            entries = {e[0]: e for e in response.resources[0][4]}
            value, source = entries["min.insync.replicas"][1], entries["min.insync.replicas"][3]
            assert (value, source) == ("2", TOPIC_CONFIG), (value, source)
    finally:
        await admin.close()


async def test_partition_leader_killed_mid_relay_drain(
        whole_cluster: Cluster, infra: Infra, new_database: Any, topic_prefix: str) -> None:
    async with membership(infra, new_database, topic_prefix) as (pair, _), booking(infra, pair):
        await pair.register(1)
        await pair.wait_until_all_flowed()
        writes = asyncio.create_task(pair.register(MEMBERS))
        await when_count_reaches(pair.published, 2 + MEMBERS // 2)
        leader = await leader_of(pair.bootstrap, topic_prefix + topics.MEMBERSHIP_EVENTS)
        killed = await sigkill(whole_cluster, leader)
        at_kill = await pair.published()
        await writes
        assert at_kill < await pair.outbox_total(), "the kill must land mid-drain"
        await when_count_reaches(pair.published, at_kill + 1)
        resumed = time.monotonic()
        await pair.wait_until_all_flowed()
        record_recovery(whole_cluster, "partition leader killed mid relay drain",
                        {"publishing again after": resumed - killed,
                         "all published and applied after": time.monotonic() - killed})
        await assert_exactly_once(pair)


async def test_partition_leader_killed_mid_consumer_batch(
        whole_cluster: Cluster, infra: Infra, new_database: Any, topic_prefix: str) -> None:
    async with membership(infra, new_database, topic_prefix) as (pair, _):
        await pair.register(MEMBERS)
        await when_count_reaches(pair.published, 2 * MEMBERS)
        async with booking(infra, pair, consumer_batch_size=10):
            await when_count_reaches(pair.applied, MEMBERS // 4)
            leader = await leader_of(pair.bootstrap, topic_prefix + topics.MEMBERSHIP_EVENTS)
            killed = await sigkill(whole_cluster, leader)
            at_kill = await pair.applied()
            assert at_kill < MEMBERS, "the kill must land mid-stream"
            await pair.wait_until_all_flowed()
            record_recovery(whole_cluster, "partition leader killed mid consumer batch",
                            {"all applied after": time.monotonic() - killed})
            await assert_exactly_once(pair)


async def test_active_controller_killed(
        whole_cluster: Cluster, infra: Infra, new_database: Any, topic_prefix: str) -> None:
    async with membership(infra, new_database, topic_prefix) as (pair, _), booking(infra, pair):
        await pair.register(1)
        await pair.wait_until_all_flowed()
        writes = asyncio.create_task(pair.register(MEMBERS))
        await when_count_reaches(pair.published, 2 + MEMBERS // 2)
        before = whole_cluster.nodes.active_controller()
        assert before is not None
        killed = await sigkill(whole_cluster, before[0])
        while ((now := await asyncio.to_thread(whole_cluster.nodes.active_controller)) is None
               or now[1] <= before[1]):
            assert time.monotonic() - killed < 60, "no new controller"
            await asyncio.sleep(0.05)
        elected = time.monotonic()
        assert now[0] != before[0]
        await writes
        await pair.wait_until_all_flowed()
        record_recovery(whole_cluster, "active controller killed",
                        {"new controller after": elected - killed,
                         "all published and applied after": time.monotonic() - killed})
        await assert_exactly_once(pair)


async def test_two_brokers_down_for_a_minute(
        whole_cluster: Cluster, infra: Infra, new_database: Any, topic_prefix: str) -> None:
    async with membership(infra, new_database, topic_prefix) as (pair, _), booking(infra, pair):
        await pair.register(1)
        await pair.wait_until_all_flowed()
        down = [2, 3]
        for node_id in down:
            await sigkill(whole_cluster, node_id)
        stopped = time.monotonic()
        while time.monotonic() - stopped < OUTAGE_SECONDS:  # the API keeps taking writes
            await pair.register(5)
            assert (await pair.membership.get("/readyz")).status_code == 200
            await asyncio.sleep(1)
        assert await pair.published() < await pair.outbox_total(), "nothing was held back"
        for node_id in down:
            await asyncio.to_thread(whole_cluster.nodes.start_node, node_id)
        returned = time.monotonic()
        await asyncio.to_thread(whole_cluster.nodes.wait_until_whole)
        whole = time.monotonic()
        await pair.wait_until_all_flowed(timeout=300)
        record_recovery(whole_cluster, f"two brokers down for {OUTAGE_SECONDS:.0f} s",
                        {"cluster whole after": whole - returned,
                         "all published and applied after": time.monotonic() - returned})
        await assert_exactly_once(pair)

