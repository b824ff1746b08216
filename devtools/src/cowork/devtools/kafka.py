"""Reading and writing real topics in tests: what a partner's consumer would see."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer

from cowork.shared.events.envelope import Envelope, decode, headers_to_dict
from cowork.shared.kafka import reliable_producer


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
                    headers = headers_to_dict(r.headers)
                    seen.append(SeenRecord(r.topic, r.partition, r.offset,
                                           r.key.decode() if r.key is not None else None,
                                           headers, r.value, decode(headers, r.value)))
    finally:
        await consumer.stop()
    return seen


def of_type(records: Iterable[SeenRecord], event_type: str) -> list[SeenRecord]:
    return [r for r in records if r.envelope.type == event_type]
