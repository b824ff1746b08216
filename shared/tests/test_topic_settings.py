"""Topic settings an operator sets once for every service (the Helm chart's `topics` values):
partitions, replication factor and topic-level configs reach the topics a service creates, and
a compacted topic stays compacted whatever the configs say."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cowork.devtools import Infra
from cowork.devtools.kafka import read_log
from cowork.shared.events.topics import MEMBERSHIP_CONTACTS, MEMBERSHIP_EVENTS, TopicSpec
from cowork.shared.kafka import (
    ResilientProducer,
    ensure_topics,
    reliable_producer,
    roll_compacted,
)
from cowork.shared.service import ConsumerSpec, ServiceRuntime
from cowork.shared.settings import ServiceSettings


def test_the_topic_settings_come_from_the_shared_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COWORK_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("COWORK_TOPIC_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("COWORK_TOPIC_CONFIG", '{"retention.ms": "1209600000"}')
    settings = ServiceSettings()
    assert (settings.topic_partitions, settings.topic_replication_factor) == (12, 3)
    assert settings.topic_config == {"retention.ms": "1209600000"}

    runtime = ServiceRuntime(settings=settings, migrations=Path("."), publishes=[MEMBERSHIP_EVENTS],
                             consumers=[ConsumerSpec("c", [MEMBERSHIP_CONTACTS], {})])
    assert {spec.partitions for spec in runtime.topic_specs()} == {12}  # the DLQ as well


def test_a_topic_cannot_have_no_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COWORK_TOPIC_PARTITIONS", "0")
    with pytest.raises(ValueError, match="COWORK_TOPIC_PARTITIONS"):
        ServiceSettings()


@pytest.mark.infra
async def test_created_topics_carry_the_configured_settings(infra: Infra, topic_prefix: str) -> None:
    await ensure_topics(infra.kafka_bootstrap,
                        [TopicSpec("events", partitions=5), TopicSpec("contacts", compacted=True)],
                        prefix=topic_prefix, replication_factor=1,
                        config={"retention.ms": "3600000", "cleanup.policy": "delete"})
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(
            [f"{topic_prefix}events", f"{topic_prefix}contacts"])}
        assert len(described[f"{topic_prefix}events"]["partitions"]) == 5
        configs = {}
        for name in ("events", "contacts"):
            [response] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, f"{topic_prefix}{name}")])
            [resource] = response.resources
            configs[name] = {entry[0]: entry[1] for entry in resource[4]}
    finally:
        await admin.close()
    assert configs["events"]["retention.ms"] == "3600000"
    assert configs["events"]["cleanup.policy"] == "delete"
    assert configs["contacts"]["cleanup.policy"] == "compact"


@pytest.mark.infra
async def test_compacted_topics_get_the_compaction_bound_new_and_existing(
        infra: Infra, topic_prefix: str) -> None:
    """The bound reaches a compacted topic when it is created and one that exists already
    (keeping that topic's other settings); a topic that is not compacted is left alone."""
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec("old", compacted=True)],
                        prefix=topic_prefix, replication_factor=1,
                        config={"retention.ms": "3600000"})
    await ensure_topics(infra.kafka_bootstrap,
                        [TopicSpec("old", compacted=True), TopicSpec("new", compacted=True),
                         TopicSpec("events")],
                        prefix=topic_prefix, replication_factor=1, compaction_bound_ms=7_200_000)
    names = [f"{topic_prefix}{n}" for n in ("old", "new", "events")]
    deadline = time.monotonic() + 10
    while True:  # an altered config reaches the broker's metadata a moment later
        configs = await _topic_configs(infra, names)
        if configs[names[0]]["segment.ms"] != "604800000" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    for name in ("old", "new"):
        topic = configs[f"{topic_prefix}{name}"]
        assert (topic["max.compaction.lag.ms"], topic["segment.ms"]) == ("3600000", "3600000"), name
        assert topic["cleanup.policy"] == "compact"
    assert configs[f"{topic_prefix}old"]["retention.ms"] == "3600000", "its other settings kept"
    assert configs[f"{topic_prefix}events"]["segment.ms"] == "604800000", "the broker's default"


async def _topic_configs(infra: Infra, topics: list[str]) -> dict[str, dict[str, str]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        configs = {}
        for topic in topics:
            [response] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)])
            [resource] = response.resources
            configs[topic] = {entry[0]: entry[1] for entry in resource[4]}
        return configs
    finally:
        await admin.close()


@pytest.mark.infra
async def test_a_tombstoned_value_leaves_the_log_of_a_quiet_topic_within_the_bound(
        infra: Infra, topic_prefix: str) -> None:
    """Kafka never compacts the active segment: on a topic nobody writes to any more, the
    runtime's roll markers close it, and the cleaner then drops the value the tombstone
    superseded. Read in the log itself, not in the topic's metadata."""
    topic = f"{topic_prefix}contacts"
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec("contacts", partitions=1,
                                                          compacted=True)],
                        prefix=topic_prefix, replication_factor=1, compaction_bound_ms=4000)
    producer = ResilientProducer(lambda: reliable_producer(infra.kafka_bootstrap,
                                                           client_id="test-compaction"))
    card = b'{"email": "erased.person@example.org", "phone": "+39 333 1234567"}'
    try:
        await producer.send_and_wait(topic, key=b"member-1", value=card)
        await producer.send_and_wait(topic, key=b"member-1", value=None)
        deadline = time.monotonic() + 90
        while True:
            await roll_compacted(producer, [topic])
            values = [r.value for r in await read_log(infra.kafka_bootstrap, topic)]
            if card not in values:
                break
            assert time.monotonic() < deadline, "the erased card is still in the log"
            await asyncio.sleep(1)
    finally:
        await producer.stop()
    keys = [r.key for r in await read_log(infra.kafka_bootstrap, topic)]
    assert b"member-1" in keys, "the tombstone stays (for delete.retention.ms), the card went"


async def test_the_compaction_bound_alters_nothing_when_the_topic_settings_could_not_be_read(
        ) -> None:
    """AlterConfigs replaces a topic's whole set of overrides. A broker that has not yet learnt
    of a topic just created answers DescribeConfigs with an error and no settings; altering from
    that answer dropped `cleanup.policy=compact` and `min.insync.replicas=2` from a 3-broker
    cluster's contacts topic (seen in tests/test_kafka_cluster.py)."""
    from cowork.shared.kafka import _bound_compaction

    class LaggingBroker:
        altered: list[object] = []

        async def describe_configs(self, resources: list[ConfigResource]) -> list[object]:
            class Response:
                API_VERSION = 1
                resources = [(3, "This server does not host this topic-partition.", 2,
                              "t.contacts", [])]
            return [Response()]

        async def alter_configs(self, resources: list[ConfigResource]) -> list[object]:
            self.altered.append(resources)
            return []

    admin = LaggingBroker()
    with pytest.raises(RuntimeError, match="DescribeConfigs"):
        await _bound_compaction(admin, "t.contacts",  # type: ignore[arg-type]
                                {"max.compaction.lag.ms": "1", "segment.ms": "1"})
    assert admin.altered == [], "the topic's other settings were overwritten"
