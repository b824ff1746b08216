"""One read of the outbox as Kafka record batches, handed to the producer whole.

The producer's per-record `send` was most of the relay's CPU; building the batches here and
handing each over with `send_batch` keeps its guarantees (the producer's own partitioner,
serializers and size check; the idempotent producer numbers these batches as it numbers its
own) at a fraction of the cost.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder


def retrieve(future: asyncio.Future[Any]) -> None:
    if future.done() and not future.cancelled():
        future.exception()  # retrieved: no "exception never retrieved" warning


class RecordBatches:
    """One read's rows as Kafka record batches, one open batch per partition, filled in `seq`
    order and handed to the producer whole (`send_batch`): the producer's per-record `send`
    was most of the relay's CPU. Each row goes to the partition the producer's own partitioner
    gives its key, and the idempotent producer numbers these batches as it numbers its own, so
    a key's events keep their order. aiokafka has no public call for the partition and the
    size check: `_partition` and `_serialize` are its own (checked against 0.14)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._open: dict[tuple[str, int], BatchBuilder] = {}
        self._full: list[tuple[BatchBuilder, str, int]] = []
        self.acks: list[asyncio.Future[Any]] = []

    async def know(self, topics: set[str]) -> None:
        """Wait for the topics' metadata (partitions), once per read rather than per row."""
        for topic in topics:
            await self._producer.partitions_for(topic)

    def add(self, topic: str, key: bytes, value: bytes | None,
            headers: list[tuple[str, bytes]]) -> None:
        """Append one record; raises what `send` raises for a record it can never publish
        (the producer's own serialization and size check, as `send` runs them)."""
        key_bytes, value_bytes = self._producer._serialize(key, value, headers)
        partition: int = self._producer._partition(topic, None, None, None, key_bytes,
                                                   value_bytes)
        batch = self._open.get((topic, partition))
        if batch is None:
            batch = self._open[(topic, partition)] = self._producer.create_batch()
        # The batch applies the producer's serializers itself, as `send` would.
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
            # Full (it closed itself): it goes before the partition's next one, which takes
            # any first record.
            self._full.append((batch, topic, partition))
            batch = self._open[(topic, partition)] = self._producer.create_batch()
            batch.append(key=key, value=value, timestamp=None, headers=headers)

    async def send(self) -> asyncio.Future[Any]:
        """Hand every batch over — the full ones first, in the order they filled, so each
        partition's go in `seq` order — the open ones closed so that they do not linger for
        more records; the returned future is done when Kafka acknowledged them all."""
        for batch, topic, partition in self._full:
            await self._hand_over(batch, topic, partition)
        for (topic, partition), batch in self._open.items():
            batch.close()
            await self._hand_over(batch, topic, partition)
        self._full.clear()
        self._open.clear()
        return asyncio.gather(*self.acks)

    async def _hand_over(self, batch: BatchBuilder, topic: str, partition: int) -> None:
        self.acks.append(await self._producer.send_batch(batch, topic, partition=partition))

    def abandon(self) -> None:
        for ack in self.acks:
            ack.add_done_callback(retrieve)
