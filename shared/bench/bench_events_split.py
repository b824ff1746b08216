"""Benchmark: the events path in the shape production runs it — publisher and consumer in
separate processes — against raw aiokafka split the same way, in the same run.

`bench_events.py` keeps relay and inbox consumer in one Python process (and raw aiokafka's
producer and consumer in one), so each path's two halves share one core. In a deployment the
relay of one service and the consumer of another are different processes, usually on
different machines. Here:
- **raw**: one process sends N records with an aiokafka producer (acks=all, idempotent), another
  consumes them in a consumer group, committing after each poll;
- **drain**: N events already committed in an outbox; one process runs the `OutboxRelay`,
  another an `EventConsumer` (its aiokafka fetch loop, inbox and handler in one transaction
  a batch, offsets after it).
In both, the consumer joins its group first, then the publisher is told to start; throughput
is N / (publisher start → last event consumed or applied), clocks read on the same machine.
Each process freezes its startup heap, as the services do. Prints a table and a `BENCH_JSON`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing as mp
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

N = int(os.environ.get("BENCH_EVENTS", "40000"))
STREAMS = 50
PER_TX = 500
JOIN_TIMEOUT = 60.0


def _freeze() -> None:
    gc.collect()
    gc.freeze()


def _envelopes(n: int) -> list[Any]:
    from cowork.shared.events import Envelope

    from support import SOURCE, Sequenced

    return [Envelope.wrap(Sequenced(stream=f"s{i % STREAMS}", seq=i // STREAMS), source=SOURCE)
            for i in range(n)]


async def _joined(consumer: Any) -> None:
    """Poll until the group has given this consumer its partitions (a join takes a while)."""
    deadline = time.monotonic() + JOIN_TIMEOUT
    while not consumer.assignment():
        if time.monotonic() > deadline:
            raise TimeoutError("the consumer was given no partitions")
        await asyncio.sleep(0.05)


# -- the processes (spawned: each imports what it needs)

def raw_consumer(bootstrap: str, topic: str, ready: Any, results: Any) -> None:
    async def run() -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=topic + ".g",
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        poll = asyncio.create_task(_poll_until_joined(consumer))
        await _joined(consumer)
        _freeze()
        ready.set()
        got = await poll
        started = time.process_time()
        while got < N:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            got += sum(len(records) for records in batch.values())
            await consumer.commit()
        results.put(("consumer", time.time(), time.process_time() - started, 0))
        await consumer.stop()

    asyncio.run(run())


async def _poll_until_joined(consumer: Any) -> int:
    """aiokafka joins the group from inside getmany: poll (nothing is sent yet) until it has."""
    got = 0
    while not consumer.assignment():
        batch = await consumer.getmany(timeout_ms=100)
        got += sum(len(records) for records in batch.values())
    return got


def raw_producer(bootstrap: str, topic: str, go: Any, results: Any) -> None:
    async def run() -> None:
        from cowork.shared.kafka import reliable_producer

        envelopes = _envelopes(N)
        records = [(env.value(), env.subject.encode(), env.kafka_headers()) for env in envelopes]
        producer = reliable_producer(bootstrap, client_id="bench-split-raw")
        await producer.start()
        _freeze()
        go.wait()
        started, cpu = time.time(), time.process_time()
        futures = [await producer.send(topic, value=v, key=k, headers=h) for v, k, h in records]
        await asyncio.gather(*futures)
        results.put(("publisher", (started, time.time()), time.process_time() - cpu))
        await producer.stop()

    asyncio.run(run())


def inbox_consumer(bootstrap: str, dsn: str, prefix: str, ready: Any, results: Any) -> None:
    async def run() -> None:
        from cowork.shared import db
        from cowork.shared.consumer import EventConsumer, applies_batches
        from cowork.shared.kafka import reliable_producer
        from cowork.shared.transport import FetchLoop

        from support import TOPIC, Sequenced

        pool = await db.create_pool(dsn, min_size=2, max_size=4)
        producer = reliable_producer(bootstrap, client_id="bench-split-dlq")
        await producer.start()
        applied = 0
        done = asyncio.Event()

        @applies_batches
        async def apply(conn: asyncpg.Connection, envelopes: list[Any]) -> None:
            nonlocal applied
            await conn.executemany("INSERT INTO applied (event_id, key, seq) VALUES ($1, $2, $3)",
                                   [(e.id, e.data.stream, e.data.seq) for e in envelopes])
            applied += len(envelopes)

        consumer = EventConsumer(name="bench", service="bench", pool=pool, producer=producer,
                                 topics=[TOPIC], handlers={Sequenced.event_type: apply},
                                 dlq_topic="cowork.test.dlq", topic_prefix=prefix,
                                 batch_size=int(os.environ.get("BENCH_CONSUMER_BATCH", "500")))
        original = consumer.apply_records

        batches = 0

        async def counted(records: Any, *decoded: Any) -> None:
            nonlocal batches
            batches += 1
            await original(records, *decoded)
            if applied >= N:
                done.set()

        consumer.apply_records = counted  # type: ignore[method-assign,assignment]
        loop = FetchLoop.connect(consumer, bootstrap, client_id="bench-split")
        await loop.start()
        await _joined(loop)
        _freeze()
        ready.set()
        started = time.process_time()
        await done.wait()
        results.put(("consumer", time.time(), time.process_time() - started, batches))
        await loop.stop()
        await producer.stop()
        await pool.close()

    asyncio.run(run())


def relay(bootstrap: str, dsn: str, prefix: str, go: Any, results: Any) -> None:
    async def run() -> None:
        from cowork.shared import db
        from cowork.shared.kafka import reliable_producer
        from cowork.shared.relay import OutboxRelay

        pool = await db.create_pool(dsn, min_size=1, max_size=2)
        producer = reliable_producer(bootstrap, client_id="bench-split-relay")
        await producer.start()
        outbox = OutboxRelay(pool, producer, topic_prefix=prefix, service="bench",
                             in_flight=int(os.environ.get("BENCH_RELAY_IN_FLIGHT", "1")))
        _freeze()
        go.wait()
        started, cpu = time.time(), time.process_time()
        async with pool.acquire() as conn:
            while await outbox.drain(conn):
                pass
        results.put(("publisher", (started, time.time()), time.process_time() - cpu))
        await producer.stop()
        await pool.close()

    asyncio.run(run())


# -- the run

def _race(consumer: tuple[Any, ...], publisher: tuple[Any, ...]) -> dict[str, float]:
    """Start the consumer, wait until it has joined its group, let the publisher go; answer
    events/s and each side's CPU per event."""
    ctx = mp.get_context("spawn")
    ready, go, results = ctx.Event(), ctx.Event(), ctx.Queue()
    consuming = ctx.Process(target=consumer[0], args=(*consumer[1:], ready, results))
    publishing = ctx.Process(target=publisher[0], args=(*publisher[1:], go, results))
    consuming.start()
    publishing.start()
    try:
        if not ready.wait(JOIN_TIMEOUT + 30):
            raise TimeoutError("the consumer never joined")
        go.set()
        got = dict((side, rest) for side, *rest in (results.get(timeout=300),
                                                      results.get(timeout=300)))
    finally:
        for p in (consuming, publishing):
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    (started, published), publisher_cpu = got["publisher"]
    finished, consumer_cpu, batches = got["consumer"]
    # Which side bounds the path: the publisher's share of the whole run's wall time (near 1:
    # the consumer keeps up with it; well under 1: the consumer finishes long after).
    return {"events_per_s": round(N / (finished - started)),
            "consumer_batches": batches,  # 0 for raw's
            "publisher_share": round((published - started) / (finished - started), 2),
            "consumer_busy": round(consumer_cpu / (finished - started), 2),
            "publisher_busy": round(publisher_cpu / (published - started), 2),
            "publisher_cpu_us_per_event": round(publisher_cpu * 1e6 / N, 1),
            "consumer_cpu_us_per_event": round(consumer_cpu * 1e6 / N, 1)}


async def _fill_outbox(dsn: str) -> None:
    from cowork.shared import db
    from cowork.shared.outbox import add_events

    from support import MIGRATIONS, SOURCE

    await db.migrate_service(dsn, "bench", MIGRATIONS)
    pool = await db.create_pool(dsn, min_size=1, max_size=1)  # with the services' JSON codecs
    try:
        events = [env.data for env in _envelopes(N)]
        async with pool.acquire() as conn:
            for i in range(0, N, PER_TX):
                async with conn.transaction():
                    await add_events(conn, events[i:i + PER_TX], source=SOURCE)
    finally:
        await pool.close()


async def _setup(infra: Any, prefixes: list[str]) -> str:
    from cowork.shared.events.topics import TopicSpec
    from cowork.shared.kafka import ensure_topics

    from support import TOPIC

    for p in prefixes:
        await ensure_topics(infra.kafka_bootstrap,
                            [TopicSpec(TOPIC), TopicSpec("cowork.test.dlq")], prefix=p)
    admin = await asyncpg.connect(infra.pg_admin_url)
    try:
        name = f"cowork_bench_{uuid.uuid4().hex[:8]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await _fill_outbox(infra.database_url(name))
    return name


async def _drop(infra: Any, name: str) -> None:
    admin = await asyncpg.connect(infra.pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def main() -> None:
    from cowork.devtools import start_infra

    from support import TOPIC

    infra = start_infra()
    prefix = f"benchsplit{uuid.uuid4().hex[:8]}."
    first, last = prefix + "raw1.", prefix + "raw2."
    name = asyncio.run(_setup(infra, [prefix, first, last]))
    try:
        raw_first = _race((raw_consumer, infra.kafka_bootstrap, first + TOPIC),
                          (raw_producer, infra.kafka_bootstrap, first + TOPIC))
        dsn = infra.database_url(name)
        drain = _race((inbox_consumer, infra.kafka_bootstrap, dsn, prefix),
                      (relay, infra.kafka_bootstrap, dsn, prefix))
        raw_last = _race((raw_consumer, infra.kafka_bootstrap, last + TOPIC),
                         (raw_producer, infra.kafka_bootstrap, last + TOPIC))
    finally:
        asyncio.run(_drop(infra, name))
    raw = max(raw_first, raw_last, key=lambda r: r["events_per_s"])
    ratio = round(drain["events_per_s"] / raw["events_per_s"], 3)
    print(f"\nEvents, publisher and consumer in separate processes: {N} ({STREAMS} keys) on "
          f"{os.uname().nodename}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.2f}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"raw measured first and last: {raw_first['events_per_s']} and "
          f"{raw_last['events_per_s']} events/s; the higher is the limit")
    print(f"{'path':<44}{'events/s':>10}{'publisher CPU µs/ev':>21}{'consumer CPU µs/ev':>20}"
          f"{'publisher done at':>19}")
    for label, r in (("raw aiokafka producer | consumer", raw),
                     ("outbox relay | inbox consumer (drain)", drain)):
        print(f"{label:<44}{r['events_per_s']:>10}{r['publisher_cpu_us_per_event']:>21}"
              f"{r['consumer_cpu_us_per_event']:>20}{r['publisher_share']:>19.0%}")
    print(f"drain: relay busy {drain['publisher_busy']:.0%} of its run, inbox consumer busy "
          f"{drain['consumer_busy']:.0%} of its (CPU / wall time; the rest is waiting)")
    print(f"ratio drain / raw throughput, split: {ratio}  (goal ≥ 0.5)")
    print("BENCH_JSON " + json.dumps({"bench": "events_split", "events": N, "raw": raw,
                                      "raw_runs": [raw_first, raw_last], "drain": drain,
                                      "ratio": ratio}))


if __name__ == "__main__":
    main()
