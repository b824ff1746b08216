"""Topic settings an operator sets once for every service (the Helm chart's `topics` values):
partitions, replication factor and topic-level configs reach the topics a service creates, and
a compacted topic stays compacted whatever the configs say."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cowork.devtools import Infra
from cowork.shared.events.topics import MEMBERSHIP_CONTACTS, MEMBERSHIP_EVENTS, TopicSpec
from cowork.shared.kafka import ensure_topics
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
