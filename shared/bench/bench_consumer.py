"""Benchmark: the inbox consumer alone against a raw aiokafka consumer, CPU per event.

N records are put on a topic once; then, in alternated rounds, one process reads them all:
- **raw**: an aiokafka consumer in a group of its own, committing after each poll;
- **inbox**: an `EventConsumer` on its `FetchLoop` (inbox and a batch handler in one
  transaction a batch, offsets after it), into a fresh database.
Nothing else runs meanwhile, so each process's CPU per event is the loop's own cost; the ratio
within each round is what to compare across changes (a shared machine moves by a third between
runs). Used to decide the consumer loop's design (docs/architecture.md, "Why the consumer loop
is plain aiokafka"). Prints each round and a `BENCH_JSON` line.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

N = int(os.environ.get("BENCH_EVENTS", "40000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "4"))
STREAMS = 50


def _freeze() -> None:
    gc.collect()
    gc.freeze()


def raw_consumer(bootstrap: str, topic: str, group: str, results: Any) -> None:
    async def run() -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        _freeze()
        got, cpu, wall = 0, time.process_time(), time.perf_counter()
        while got < N:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            got += sum(len(records) for records in batch.values())
            await consumer.commit()
        results.put((time.process_time() - cpu, time.perf_counter() - wall, 0))
        await consumer.stop()

    asyncio.run(run())


def inbox_consumer(bootstrap: str, prefix: str, group: str, dsn: str, results: Any) -> None:
    async def run() -> None:
        from cowork.shared import db
        from cowork.shared.consumer import EventConsumer, applies_batches
        from cowork.shared.events import Envelope
        from cowork.shared.kafka import reliable_producer
        from cowork.shared.transport import FetchLoop

        from support import MIGRATIONS, TOPIC, Sequenced

        await db.migrate_service(dsn, "bench", MIGRATIONS)
        pool = await db.create_pool(dsn, min_size=2, max_size=4)
        producer = reliable_producer(bootstrap, client_id="bench-consumer-dlq")
        await producer.start()
        applied, done = 0, asyncio.Event()

        @applies_batches
        async def apply(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
            nonlocal applied
            await conn.executemany("INSERT INTO applied (event_id, key, seq) VALUES ($1, $2, $3)",
                                   [(e.id, e.subject, 0) for e in envelopes])
            applied += len(envelopes)
            if applied >= N:
                done.set()

        consumer = EventConsumer(name=group, service="bench", pool=pool, producer=producer,
                                 topics=[TOPIC], handlers={Sequenced.event_type: apply},
                                 dlq_topic="cowork.test.dlq", topic_prefix=prefix)
        batches = 0
        original = consumer.apply_records

        async def counted(records: Any, *decoded: Any) -> None:
            nonlocal batches
            batches += 1
            await original(records, *decoded)

        consumer.apply_records = counted  # type: ignore[method-assign,assignment]
        _freeze()
        cpu, wall = time.process_time(), time.perf_counter()
        loop = FetchLoop.connect(consumer, bootstrap, client_id="bench-consumer")
        await loop.start()
        await done.wait()
        results.put((time.process_time() - cpu, time.perf_counter() - wall, batches))
        await loop.stop()
        await producer.stop()
        await pool.close()

    asyncio.run(run())


def _in_process(target: Any, *args: Any) -> tuple[float, int, int]:
    """Run one reader in a process of its own; its CPU per event, in µs, and events a second
    (wall time, the group join included: compare within a round only), and how many
    batches it applied (0 for raw)."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    process = ctx.Process(target=target, args=(*args, results))
    process.start()
    try:
        cpu, wall, batches = results.get(timeout=600)
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
    return round(cpu * 1e6 / N, 1), round(N / wall), batches


async def _fill(bootstrap: str, prefix: str) -> None:
    from cowork.shared.events import Envelope
    from cowork.shared.events.topics import TopicSpec
    from cowork.shared.kafka import ensure_topics, reliable_producer

    from support import SOURCE, TOPIC, Sequenced

    await ensure_topics(bootstrap, [TopicSpec(TOPIC), TopicSpec("cowork.test.dlq")],
                        prefix=prefix)
    producer = reliable_producer(bootstrap, client_id="bench-consumer-fill")
    await producer.start()
    try:
        sent = []
        for i in range(N):
            env = Envelope.wrap(Sequenced(stream=f"s{i % STREAMS}", seq=i // STREAMS),
                                source=SOURCE)
            sent.append(await producer.send(prefix + TOPIC, value=env.value(),
                                            key=env.subject.encode(), headers=env.kafka_headers()))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def _database(admin_url: str, name: str, *, drop: bool = False) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def main() -> None:
    from cowork.devtools import start_infra

    from support import TOPIC

    infra = start_infra()
    prefix = f"benchconsumer{uuid.uuid4().hex[:8]}."
    asyncio.run(_fill(infra.kafka_bootstrap, prefix))
    rounds = []
    for n in range(ROUNDS):
        raw, raw_rate, _ = _in_process(raw_consumer, infra.kafka_bootstrap, prefix + TOPIC, f"{prefix}raw{n}")
        name = f"cowork_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_database(infra.pg_admin_url, name))
        try:
            inbox, inbox_rate, batches = _in_process(inbox_consumer, infra.kafka_bootstrap,
                                                     prefix, f"inbox{n}", infra.database_url(name))
        finally:
            asyncio.run(_database(infra.pg_admin_url, name, drop=True))
        rounds.append({"raw_cpu_us_per_event": raw, "inbox_cpu_us_per_event": inbox,
                       "ratio": round(inbox / raw, 2), "raw_events_per_s": raw_rate,
                       "inbox_events_per_s": inbox_rate, "inbox_batches": batches})
        print(f"  round {n + 1}: raw {raw} µs/event, inbox {inbox} µs/event, ratio "
              f"{rounds[-1]['ratio']}; raw {raw_rate} events/s, inbox {inbox_rate} in {batches} batches "
              f"(load average {os.getloadavg()[0]:.1f})", file=sys.stderr)
    ratio = statistics.median(r["ratio"] for r in rounds)
    print(f"\nConsumer alone: {N} records ({STREAMS} keys) on {os.uname().nodename}, "
          f"{os.cpu_count()} cores; CPU per event of the inbox consumer / raw aiokafka, median "
          f"of {ROUNDS} rounds: {ratio}")
    print("BENCH_JSON " + json.dumps({"bench": "consumer", "events": N, "rounds": rounds,
                                      "ratio": ratio}))


if __name__ == "__main__":
    main()
