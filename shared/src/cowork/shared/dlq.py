"""Dead-letter topics: read what was parked and re-publish it to where it came from.

A replayed record keeps its original key, value and CloudEvents headers (so its event id is the
same and consumers that did apply it ignore it) and loses the `x-*` failure headers.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from cowork.shared.kafka import reliable_producer


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]

    @property
    def original_topic(self) -> str:
        return self.headers["x-original-topic"].decode()

    @property
    def error(self) -> str:
        return self.headers.get("x-error", b"").decode(errors="replace")


async def replay(bootstrap: str, dlq_topic: str, *, group_id: str = "cowork-dlq-replayer",
                 limit: int | None = None, timeout_ms: int = 3000) -> list[DeadLetter]:
    """Re-publish DLQ records not yet replayed by `group_id`; return them."""
    consumer = AIOKafkaConsumer(dlq_topic, bootstrap_servers=bootstrap, group_id=group_id,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    producer = reliable_producer(bootstrap, client_id="cowork-dlq-replayer")
    await consumer.start()
    await producer.start()
    replayed: list[DeadLetter] = []
    try:
        while limit is None or len(replayed) < limit:
            batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=100)
            if not batch:
                break
            for tp, records in batch.items():
                for record in records:
                    if limit is not None and len(replayed) >= limit:
                        break
                    letter = DeadLetter(record.partition, record.offset, record.key, record.value,
                                        {k: v for k, v in record.headers})
                    if "x-original-topic" not in letter.headers:
                        continue
                    await producer.send_and_wait(
                        letter.original_topic, value=record.value, key=record.key,
                        headers=[(k, v) for k, v in record.headers if not k.startswith("x-")],
                    )
                    await consumer.commit({TopicPartition(tp.topic, tp.partition): record.offset + 1})
                    replayed.append(letter)
    finally:
        await producer.stop()
        await consumer.stop()
    return replayed
