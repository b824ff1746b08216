"""Kafka plumbing shared by the relay, the consumers and the tools: producers and topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from cowork.shared.events.topics import TopicSpec


def reliable_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    """acks=all and the idempotent producer: retries neither duplicate nor reorder within a
    partition, which is what keeps one aggregate's events in order."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
    )


async def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], *, prefix: str = "",
                        timeout: float = 30.0, replication_factor: int = 0,
                        config: Mapping[str, str] | None = None) -> None:
    """Create the topics a service publishes to or reads from; existing ones are left alone.
    The local broker has auto-creation off, as production clusters usually do.

    `replication_factor` 0 means 3 on a cluster of three brokers or more, else 1; `config` holds
    topic-level settings (retention.ms, min.insync.replicas, ...) for every topic created; a
    compacted topic keeps `cleanup.policy=compact` whatever `config` says."""
    wanted = {prefix + s.name: s for s in specs}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                name=name,
                num_partitions=spec.partitions,
                replication_factor=replication_factor or (1 if _single_broker(admin) else 3),
                topic_configs={**(config or {}),
                               **({"cleanup.policy": "compact"} if spec.compacted else {})},
            )
            for name, spec in wanted.items()
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        await _wait_for_metadata(admin, set(wanted), deadline)
    finally:
        await admin.close()


def _single_broker(admin: AIOKafkaAdminClient) -> bool:
    return len(admin._client.cluster.brokers()) < 3


async def _wait_for_metadata(admin: AIOKafkaAdminClient, names: set[str], deadline: float) -> None:
    while True:
        described = await admin.describe_topics(list(names))
        ready = {
            t["topic"] for t in described
            if t.get("error_code", 0) == 0 and t.get("partitions")
        }
        if names <= ready or asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.2)
