"""Reading and writing real topics in tests: what a partner's consumer would see."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cowork.shared.events.envelope import Envelope, decode, headers_to_dict
from cowork.shared.kafka import ROLL_MARKER_KEY, reliable_producer


@dataclass(frozen=True)
class SeenRecord:
    """One record as it sits on the topic: key, raw headers and the decoded envelope
    (`envelope.data is None` for a tombstone)."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]
    value: bytes | None
    envelope: Envelope


async def publish(bootstrap: str, topic: str, envelopes: Iterable[Envelope]) -> None:
    """Publish envelopes as a producing service would (key = subject)."""
    producer = reliable_producer(bootstrap, client_id="cowork-test-publisher")
    await producer.start()
    try:
        for env in envelopes:
            await producer.send_and_wait(topic, value=env.value(), key=env.subject.encode(),
                                         headers=env.kafka_headers())
    finally:
        await producer.stop()


async def collect(bootstrap: str, topic: str, *,
                  until: Callable[[list[SeenRecord]], bool], timeout: float = 30.0
                  ) -> list[SeenRecord]:
    """Read `topic` from the beginning until `until(records)` holds; fail after `timeout`."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap,
                                group_id=f"cowork-test-{uuid.uuid4().hex[:8]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen: list[SeenRecord] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not until(seen):
            if loop.time() > deadline:
                types = [r.envelope.type for r in seen]
                raise AssertionError(f"{topic}: condition not met after {timeout}s; saw {types}")
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    if r.key == ROLL_MARKER_KEY:
                        continue
                    headers = headers_to_dict(r.headers)
                    seen.append(SeenRecord(r.topic, r.partition, r.offset,
                                           r.key.decode() if r.key is not None else None,
                                           headers, r.value, decode(headers, r.value)))
    finally:
        await consumer.stop()
    return seen


def of_type(records: Iterable[SeenRecord], event_type: str) -> list[SeenRecord]:
    return [r for r in records if r.envelope.type == event_type]


async def read_log(bootstrap: str, topic: str, *, timeout: float = 30.0) -> list[Any]:
    """Every record the topic's log holds now, raw (key, value and headers as bytes), in all
    partitions: what compaction and retention left, whatever the records are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    assert partitions, f"{topic}: no such topic"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[Any] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{topic}: log not read to its end after {timeout}s")
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()
