"""The inbox consumer's transport: a plain aiokafka consumer in the consumer's group that
fetches batches, hands each to the `EventConsumer` and commits its offsets after.

Offsets are never committed by the client on its own (auto-commit is off): a batch's are
committed once `apply_records` returned — its transaction committed — in the background while
the next batch is fetched, one commit at a time (`_commit_behind`). A batch that fails is
fetched again: each of its partitions is rewound to the batch's first record. Why this is
plain aiokafka rather than FastStream: docs/architecture.md, "Why the consumer loop is plain
aiokafka".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import ConsumerStoppedError

from cowork.shared.consumer import EventConsumer
from cowork.shared.kafka import Record
from cowork.shared.logging import get_logger
from cowork.shared.positions import SeekToStoredPositions

log = get_logger(__name__)



class KafkaClient(Protocol):
    """What the loop uses of its Kafka consumer (an `AIOKafkaConsumer`; a stand-in in
    tests): fetch, commit, rewind, and which partitions the group gave it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int = 0,
                      max_records: int | None = None) -> dict[TopicPartition, list[Record]]: ...

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    def assignment(self) -> set[TopicPartition]: ...


class FetchLoop:
    """One `EventConsumer`'s member of its consumer group, from `start` to `stop`."""

    def __init__(self, consumer: EventConsumer, kafka: KafkaClient, *,
                 fetch_ms: int = 100, stop_seconds: float = 5.0,
                 positions: SeekToStoredPositions | None = None) -> None:
        self._consumer = consumer
        self._kafka = kafka
        self._positions = positions
        self._fetch_ms = fetch_ms
        self._stop_seconds = stop_seconds
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._committing: asyncio.Task[None] | None = None

    @classmethod
    def connect(cls, consumer: EventConsumer, bootstrap: str, *, client_id: str) -> FetchLoop:
        """A loop on a new client for the consumer's topics and group (started by `start`)."""
        kafka = AIOKafkaConsumer(bootstrap_servers=bootstrap,
                                 group_id=consumer.group_id, client_id=client_id,
                                 enable_auto_commit=False, auto_offset_reset="earliest")
        # Each assigned partition starts where the database stands (cowork.shared.positions).
        positions = SeekToStoredPositions(kafka, consumer.pool, service=consumer.service,
                                          consumer=consumer.name)
        kafka.subscribe(consumer.subscribed_topics, listener=positions)
        return cls(consumer, kafka, positions=positions)

    async def start(self) -> None:
        """Connect (raises while Kafka is away: the caller tries again with a new loop) and
        run the loop in the background; the group is joined at the first fetch."""
        try:
            await self._kafka.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await self._kafka.stop()
            raise
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self._consumer.name}")

    def assignment(self) -> set[TopicPartition]:
        """The partitions the group gave this member (none until it joined, at a fetch)."""
        return self._kafka.assignment()

    async def stop(self) -> None:
        """Fetch no more; let the batch in hand finish (up to `stop_seconds`, then it is
        cancelled and redelivered to the inbox later), wait for its commit, leave the group.

        The three waits (5 + 2 + 2.5 s by default) stay under the 10 s the runtime gives this
        step (`service._bounded`): past it the runtime cancels the stop, and a client never
        stopped does not leave its group, whose partitions then wait out the session timeout."""
        self._stopping = True
        # The batch's unwinding once cut short shares the commit's 2 s: a batch stuck on a
        # database that does not answer is as slow to roll back (asyncpg's cancel request and
        # ROLLBACK wait for it), and waiting for that without bound let the runtime cancel
        # this stop before the client left its group.
        deadline = asyncio.get_running_loop().time() + self._stop_seconds + 2
        if self._task is not None:
            try:
                done, _ = await asyncio.wait({self._task}, timeout=self._stop_seconds)
            except asyncio.CancelledError:
                # The caller gave up first (the runtime bounds each step of its stop at 10 s):
                # the batch is cut short now, not left applying after the service stopped.
                self._task.cancel()
                raise
            if not done:
                log.warning("consumer batch cut short by the stop", consumer=self._consumer.name)
                self._task.cancel()  # no commit can follow it: it only comes after the apply
                await asyncio.wait({self._task}, timeout=_left(deadline))
        if self._committing is not None:
            await asyncio.wait({self._committing}, timeout=_left(deadline))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._kafka.stop(), 2.5)

    async def _run(self) -> None:
        """Fetch and apply until stopped; a fetch that fails (the broker away) is retried with
        back-off, and nothing here ends the loop but the stop."""
        backoff = 0.5
        while not self._stopping:
            try:
                fetched = await self._kafka.getmany(timeout_ms=self._fetch_ms,
                                                    max_records=self._consumer.batch_size)
                if self._positions is not None and (sought := self._positions.take_sought()):
                    # Before the batch's own commit, which can only be further on.
                    await self._commit_offsets_behind(sought)
                records = [record for batch in fetched.values() for record in batch]
                if records:
                    await self.handle(records)
                backoff = 0.5
            except ConsumerStoppedError:
                return
            except Exception as exc:
                log.warning("consumer fetch failed; retrying", consumer=self._consumer.name,
                            error=str(exc), error_type=type(exc).__name__, backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def handle(self, records: Sequence[Record]) -> None:
        """Apply one fetched batch, then commit its offsets behind; a batch that fails is
        rewound, to be fetched and applied again after a pause."""
        try:
            await self._consumer.apply_records(records)
        except Exception as exc:
            # Nothing may be skipped: rewind to the batch's first records and try again later.
            log.error("batch failed; rewinding", consumer=self._consumer.name, error=str(exc),
                      error_type=type(exc).__name__)
            self._rewind(records)
            await asyncio.sleep(self._consumer.retry.base_seconds)
            return
        await self._commit_behind(records)

    def _rewind(self, records: Sequence[Record]) -> None:
        """Each partition of the batch back to its first record in the batch. A partition the
        group has moved to another member meanwhile is not ours to rewind: its new owner
        starts from the committed offset, before this batch."""
        earliest: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            earliest[tp] = min(earliest.get(tp, record.offset), record.offset)
        assigned = self._kafka.assignment()
        for tp, offset in earliest.items():
            if tp in assigned:
                self._kafka.seek(tp, offset)

    async def _commit_behind(self, records: Sequence[Record]) -> None:
        """Commit the batch's offsets while the next batch is fetched and applied. Waiting for
        Kafka's answer (a round trip to the group coordinator, several ms) before polling
        again cost about a fifth of a busy consumer's time. Safe because the batch's
        transaction has committed: a commit that fails or never lands (a crash, a rebalance)
        only redelivers records the inbox already holds. The offsets are explicit — the
        positions after this batch, not the consumer's positions when the commit runs — and
        one commit at a time keeps them in order."""
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
        await self._commit_offsets_behind(offsets)

    async def _commit_offsets_behind(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit in the background, after the commit before it."""
        if self._committing is not None:
            await self._committing
        self._committing = asyncio.create_task(self._commit(offsets))

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._kafka.commit(offsets)
        except Exception as exc:  # redelivered from the last committed offsets, then absorbed
            log.warning("offset commit failed; the inbox will absorb the redelivery",
                        consumer=self._consumer.name, error=str(exc),
                        error_type=type(exc).__name__)


def _left(deadline: float) -> float:
    """Seconds from now to `deadline` on the running loop's clock (none once past it)."""
    return max(0.0, deadline - asyncio.get_running_loop().time())
