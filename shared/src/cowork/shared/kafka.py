"""Kafka plumbing shared by the relay, the consumers and the tools: producers and topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from cowork.shared import metrics
from cowork.shared.events.topics import TopicSpec
from cowork.shared.logging import get_logger

log = get_logger(__name__)

# A record as a consumer is handed it (key and value as bytes).
Record: TypeAlias = ConsumerRecord[bytes, bytes]

# The key of the empty record `roll_compacted` appends; consumers skip it.
ROLL_MARKER_KEY = b"cowork.segment-roll"


def compaction_configs(bound_ms: int) -> dict[str, str]:
    """Topic configs that bound how long a superseded or tombstoned value stays in a
    compacted topic. Kafka never compacts the active segment and rolls it only when a record
    is appended after `segment.ms`: with `roll_compacted` appending every quarter of the
    bound, a value is in a closed segment within three quarters of it and compacted by the
    cleaner's next round after `max.compaction.lag.ms` (half the bound)."""
    half = str(max(bound_ms // 2, 1))
    return {"segment.ms": half, "max.compaction.lag.ms": half}


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
                        config: Mapping[str, str] | None = None,
                        compaction_bound_ms: int | None = None) -> None:
    """Create the topics a service publishes to or reads from; existing ones are left alone.
    The local broker has auto-creation off, as production clusters usually do.

    `replication_factor` 0 means 3 on a cluster of three brokers or more, else 1; `config` holds
    topic-level settings (retention.ms, min.insync.replicas, ...) for every topic created; a
    compacted topic keeps `cleanup.policy=compact` whatever `config` says. A topic replicated 3
    or more times gets `min.insync.replicas=2` unless `config` says otherwise: with acks=all an
    acknowledged event is then on two brokers, and one broker lost stops nothing. With
    `compaction_bound_ms`, compacted topics get `compaction_configs(bound)`, existing ones too
    (their other topic-level settings are kept)."""
    wanted = {prefix + s.name: s for s in specs}
    compacting = compaction_configs(compaction_bound_ms) if compaction_bound_ms else {}
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
        replicas = replication_factor or (1 if _single_broker(admin) else 3)
        settings = {**({"min.insync.replicas": "2"} if replicas >= 3 else {}), **(config or {})}
        new = [
            NewTopic(
                name=name,
                num_partitions=spec.partitions,
                replication_factor=replicas,
                topic_configs={**settings,
                               **({"cleanup.policy": "compact", **compacting}
                                  if spec.compacted else {})},
            )
            for name, spec in wanted.items()
            if name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        await _wait_for_metadata(admin, set(wanted), deadline)
        # Topics that existed before: those created here have the bound already, and asking
        # a broker that has not yet learnt of them could read their settings as empty.
        if compacting:
            for name in sorted(n for n, spec in wanted.items()
                               if spec.compacted and n in existing):
                try:
                    await _bound_compaction(admin, name, compacting)
                except Exception as exc:  # e.g. no AlterConfigs right: the operator sets it
                    log.warning("compaction bound not set on an existing topic", topic=name,
                                error_type=type(exc).__name__)
    finally:
        await admin.close()


async def _bound_compaction(admin: AIOKafkaAdminClient, topic: str,
                            wanted: Mapping[str, str]) -> None:
    """Set the compaction bound on an existing topic. AlterConfigs replaces a topic's whole
    set of overrides, so the ones it has (config source 1: dynamic topic config) go along."""
    resource = ConfigResource(ConfigResourceType.TOPIC, topic)
    [response] = await admin.describe_configs([resource])
    [described] = response.resources
    if described[0] != 0:  # e.g. a broker that has not yet learnt of a topic just created
        raise RuntimeError(f"DescribeConfigs refused on {topic}: error {described[0]} "
                           f"{described[1]}; its settings unread, nothing altered")
    overrides = {entry[0]: entry[1] for entry in described[4]
                 if entry[1] is not None and _is_topic_override(response.API_VERSION, entry[3])}
    if all(overrides.get(k) == v for k, v in wanted.items()):
        return
    responses = await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                           configs={**overrides, **wanted})])
    refused = [r for response in responses for r in response.resources if r[0] != 0]
    if refused:  # errors come back in the response, not raised
        raise RuntimeError(f"AlterConfigs refused on {topic}: error {refused[0][0]} "
                           f"{refused[0][1]}")


def _is_topic_override(api_version: int, source: int | bool) -> bool:
    # DescribeConfigs v0 says `is_default`; v1 and later the config source.
    return source is False if api_version == 0 else source == 1


async def roll_compacted(producer: ResilientProducer, topics: Iterable[str]) -> None:
    """Append an empty marker record to every partition of the compacted `topics`: the
    append rolls a segment older than `segment.ms`, so a quiet topic's last values (a
    tombstoned contact card) leave the active segment and can be compacted."""
    started = await producer.get()
    for topic in topics:
        for partition in sorted(await started.partitions_for(topic)):
            await producer.send_and_wait(topic, key=ROLL_MARKER_KEY, value=None,
                                         partition=partition)


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


class ResilientProducer:
    """A producer started on first use and replaced after a failure.

    aiokafka can leave a producer failed until it is restarted (its sender task died, the
    idempotent sequence went out of step, it was closed under a caller), so the relay and the
    dead-letter path do not keep one for the process's life: after a failed send the next use
    starts a fresh one. Starting one while Kafka is away fails fast and is simply tried again:
    nothing here blocks a service from starting without Kafka.
    """

    def __init__(self, factory: Callable[[], AIOKafkaProducer] | None,
                 producer: AIOKafkaProducer | None = None) -> None:
        self._factory = factory
        self._producer = producer
        self.generation = 0 if producer is None else 1  # how many producers were started

    @classmethod
    def around(cls, producer: AIOKafkaProducer) -> ResilientProducer:
        """One started producer the caller owns and restarts itself (tests, tools)."""
        return cls(None, producer)

    async def get(self) -> AIOKafkaProducer:
        if self._producer is None:
            assert self._factory is not None
            producer = self._factory()
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
            self.generation += 1
        return self._producer

    async def discard(self) -> None:
        """Stop the current producer; the next `get` starts a new one (if this one owns it)."""
        if self._factory is None or self._producer is None:
            return
        producer, self._producer = self._producer, None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 10)

    async def send_and_wait(self, topic: str, **kwargs: Any) -> Any:
        producer = await self.get()
        try:
            return await producer.send_and_wait(topic, **kwargs)
        except Exception:
            await self.discard()
            raise

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()


class KafkaWatch:
    """Kafka as a service sees it, sampled on a timer by the runtime: whether the cluster
    answers (`cowork_kafka_up`) and each consumer group's lag from the broker (end offset minus
    the group's committed offset), so the gauges move while the consumers are stuck too."""

    def __init__(self, bootstrap: str, *, service: str,
                 groups: Mapping[str, tuple[str, Sequence[str]]] | None = None,
                 timeout_ms: int = 5000) -> None:
        self._bootstrap = bootstrap
        self._service = service
        self._groups = dict(groups or {})  # consumer name -> (group id, physical topics)
        self._timeout_ms = timeout_ms
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self.up = False
        self.last_error: str | None = None

    async def sample(self) -> bool:
        try:
            if self._admin is None:
                await self._connect()
            assert self._admin is not None and self._offsets is not None
            await self._admin.list_topics()
            for name, (group, topics) in self._groups.items():
                await self._sample_lag(name, group, topics)
            self.up, self.last_error = True, None
        except Exception as exc:
            self.up, self.last_error = False, type(exc).__name__
            await self.close()
        metrics.KAFKA_UP.labels(self._service).set(1 if self.up else 0)
        return self.up

    async def _connect(self) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap,
                                          request_timeout_ms=self._timeout_ms)
        self._offsets = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None,
                                         enable_auto_commit=False,
                                         request_timeout_ms=self._timeout_ms)
        await self._admin.start()
        await self._offsets.start()

    async def _sample_lag(self, name: str, group: str, topics: Sequence[str]) -> None:
        assert self._admin is not None and self._offsets is not None
        partitions = [TopicPartition(t["topic"], p["partition"])
                      for t in await self._admin.describe_topics(list(topics))
                      if t.get("error_code", 0) == 0 for p in t.get("partitions", ())]
        if not partitions:
            return
        committed = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
        ends = await asyncio.wait_for(self._offsets.end_offsets(partitions),
                                      self._timeout_ms / 1000)
        for tp in partitions:
            done = committed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else 0
            metrics.CONSUMER_LAG.labels(self._service, name, tp.topic, str(tp.partition)).set(
                max(ends[tp] - position, 0))

    async def close(self) -> None:
        admin, offsets, self._admin, self._offsets = self._admin, self._offsets, None, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.close(), 10)
        if offsets is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(offsets.stop(), 10)
