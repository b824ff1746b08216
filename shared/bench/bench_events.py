"""Benchmark: outbox → relay → Kafka → inbox consumer, against raw aiokafka in the same run.

Both paths move the same payloads (a small JSON event with CloudEvents headers) through the same
local broker. The raw path is the limit: an aiokafka producer (acks=all, idempotent) and a
consumer in one process, nothing else. The Cowork path adds everything reliability costs: the
events are written to PostgreSQL in transactions, published by the relay, and applied by an
EventConsumer whose inbox and effect commit in one transaction before the offset is committed.

Throughput is events / (first write → last applied). Latency is per event, from the moment its
write is committed (outbox created_at) or sent (raw) to the moment the consumer applied it.
Bounded: N events each way, loopback only. Prints a table and a `BENCH_JSON` line.

Both paths start alike: producer started, consumer in its group and one record through before
the clock starts (a group join is a tenth of a second or more: it must not fall on one side
only). Raw and drain then run in `BENCH_ROUNDS` alternated rounds, each on fresh topics and a
fresh database, and each path's best run counts (a shared VM moves by a third between runs);
every run, and the ratio within each round, is printed and kept in the JSON. Batch sizes are
the services' defaults (ServiceSettings). CPU is per event: the bench process's own, and the
whole machine's (`machine`: Kafka and PostgreSQL included) from /proc/stat.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cowork.devtools import Infra, start_infra
from cowork.devtools.cpu import machine_busy_seconds
from cowork.shared import db
from cowork.shared.consumer import EventConsumer, applies_batches
from cowork.shared.events import Envelope
from cowork.shared.events.topics import TopicSpec
from cowork.shared.kafka import ensure_topics, reliable_producer
from cowork.shared.outbox import add_events
from cowork.shared.relay import OutboxRelay
from cowork.shared.settings import ServiceSettings
from cowork.shared.transport import FetchLoop

from support import MIGRATIONS, SOURCE, TOPIC, Sequenced

N = int(os.environ.get("BENCH_EVENTS", "20000"))
STREAMS = 50
PER_TX = 100
_DEFAULTS = ServiceSettings()
RELAY_BATCH = int(os.environ.get("BENCH_RELAY_BATCH", _DEFAULTS.outbox_batch_size))
RELAY_IN_FLIGHT = int(os.environ.get("BENCH_RELAY_IN_FLIGHT", _DEFAULTS.outbox_in_flight_batches))
CONSUMER_BATCH = int(os.environ.get("BENCH_CONSUMER_BATCH", _DEFAULTS.consumer_batch_size))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    q = statistics.quantiles(ordered, n=100)
    return {"p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2), "p99_ms": round(q[98], 2)}


def _freeze_heap() -> None:
    """What a service does once started (cowork.shared.service.freeze_startup_heap): the
    long-lived heap, here with the bench's own envelopes, out of the collector's sight, for
    both paths alike."""
    gc.collect()
    gc.freeze()


def _envelopes() -> list[Envelope]:
    return [Envelope.wrap(Sequenced(stream=f"s{i % STREAMS}", seq=i // STREAMS), source=SOURCE)
            for i in range(N)]


async def _send_warm_up(producer: AIOKafkaProducer, topic: str) -> bytes:
    """One record straight to the topic, so the consumer has joined its group and fetched once
    before the clock starts; returns its ce_id."""
    env = Envelope.wrap(Sequenced(stream="warm-up", seq=0), source=SOURCE)
    headers = env.kafka_headers()
    await producer.send_and_wait(topic, value=env.value(), key=env.subject.encode(),
                                 headers=headers)
    return dict(headers)["ce_id"]


class _Clock:
    """Wall time, this process's CPU and the machine's busy CPU from one start."""

    def __init__(self) -> None:
        self.wall, self.cpu, self.machine = (time.perf_counter(), time.process_time(),
                                             machine_busy_seconds())

    def per_event_us(self) -> dict[str, float]:
        return {"cpu_us_per_event": round((time.process_time() - self.cpu) * 1e6 / N, 1),
                "machine_cpu_us_per_event": round(
                    (machine_busy_seconds() - self.machine) * 1e6 / N, 1)}


async def bench_raw(bootstrap: str, prefix: str) -> dict[str, float]:
    topic = prefix + TOPIC
    envelopes = _envelopes()
    _freeze_heap()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=prefix + "raw",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    producer = reliable_producer(bootstrap, client_id="bench-raw")
    await producer.start()
    sent_at: dict[bytes, float] = {}
    latencies: list[float] = []

    warm_up = await _send_warm_up(producer, topic)
    while not any(dict(r.headers)["ce_id"] == warm_up
                  for records in (await consumer.getmany(timeout_ms=500)).values()
                  for r in records):
        pass
    await consumer.commit()

    async def consume() -> float:
        got = 0
        while got < N:
            batch = await consumer.getmany(timeout_ms=500, max_records=CONSUMER_BATCH)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    ce_id = dict(r.headers)["ce_id"]
                    latencies.append((now - sent_at[ce_id]) * 1000)
                    got += 1
            await consumer.commit()
        return time.perf_counter()

    clock = _Clock()
    consuming = asyncio.create_task(consume())
    futures = []
    for env in envelopes:
        headers = env.kafka_headers()
        sent_at[dict(headers)["ce_id"]] = time.perf_counter()
        futures.append(await producer.send(topic, value=env.value(), key=env.subject.encode(),
                                           headers=headers))
    await asyncio.gather(*futures)
    finished = await consuming
    cpu = clock.per_event_us()
    await producer.stop()
    await consumer.stop()
    return {"events_per_s": round(N / (finished - clock.wall)), **cpu, **_percentiles(latencies)}


async def bench_cowork(bootstrap: str, dsn: str, prefix: str, *, live: bool) -> dict[str, float]:
    """live: the writer, relay and consumer run at once (one Python process for all three, as
    in the raw path). Otherwise (drain): N events are already committed in the outbox when the
    relay and consumer start — the outbox → Kafka → consumer pipeline alone."""
    await db.migrate_service(dsn, "bench", MIGRATIONS)
    pool = await db.create_pool(dsn, min_size=4, max_size=8)
    producer = reliable_producer(bootstrap, client_id="bench-cowork")
    await producer.start()
    relay = OutboxRelay(pool, producer, topic_prefix=prefix, batch_size=RELAY_BATCH, service="bench",
                        in_flight=RELAY_IN_FLIGHT)
    applied_at: dict[bytes, float] = {}  # by ce_id as it travels, as the raw path keys it

    @applies_batches
    async def apply(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
        rows = []
        for envelope in envelopes:
            assert isinstance(envelope.data, Sequenced)
            rows.append((envelope.id, envelope.data.stream, envelope.data.seq))
        await conn.executemany("INSERT INTO applied (event_id, key, seq) VALUES ($1, $2, $3)",
                               rows)

    consumer = EventConsumer(name="bench", service="bench", pool=pool, producer=producer,
                             topics=[TOPIC], handlers={Sequenced.event_type: apply},
                             dlq_topic="cowork.test.dlq", topic_prefix=prefix,
                             batch_size=CONSUMER_BATCH)
    original = consumer.apply_records

    warmed_up = asyncio.Event()

    async def timed_apply(records):  # type: ignore[no-untyped-def]
        await original(records)
        warmed_up.set()
        now = time.perf_counter()
        for r in records:
            applied_at[dict(r.headers)["ce_id"]] = now

    consumer.apply_records = timed_apply  # type: ignore[method-assign]
    loop = FetchLoop.connect(consumer, bootstrap, client_id="bench-cowork")

    async def start_pipeline() -> asyncio.Task[None]:
        return asyncio.create_task(relay.run())

    await loop.start()
    await _send_warm_up(producer, prefix + TOPIC)
    await asyncio.wait_for(warmed_up.wait(), 60)  # the only record so far
    applied_at.clear()
    envelopes = _envelopes()
    _freeze_heap()
    committed_at: dict[uuid.UUID, float] = {}
    relay_task = await start_pipeline() if live else None
    clock = _Clock()
    async with pool.acquire() as conn:
        for i in range(0, N, PER_TX):
            async with conn.transaction():
                written = await add_events(conn, [env.data for env in envelopes[i:i + PER_TX]],  # type: ignore[misc]
                                           source=SOURCE)
                ids = [env.id for env in written]
            now = time.perf_counter()
            committed_at.update(dict.fromkeys(ids, now))
    written_at = time.perf_counter()
    if relay_task is None:
        clock = _Clock()
        committed_at = dict.fromkeys(committed_at, clock.wall)
        relay_task = await start_pipeline()
    started = clock.wall
    relayed, applied_when_relayed = None, 0
    while len(applied_at) < N:
        if relayed is None and not await pool.fetchval(
                "SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT 1"):
            relayed, applied_when_relayed = time.perf_counter(), len(applied_at)
        await asyncio.sleep(0.05)
    # The CPU of the process (relay and consumer; the writer too when live) and the machine's:
    # the waits of this polling loop cost next to nothing.
    cpu = clock.per_event_us()
    # Which stage bounds the path: once the relay is done, the consumer runs alone.
    print(f"  cowork path ({'live' if live else 'drain'}): written in {written_at - started:.2f}s,"
          f" relayed by {(relayed or time.perf_counter()) - started:.2f}s ({applied_when_relayed}"
          f" applied then), applied by {max(applied_at.values()) - started:.2f}s",
          file=sys.stderr)
    finished = max(applied_at.values())
    relay.stop()
    await relay_task
    await loop.stop()
    await producer.stop()
    await pool.close()
    latencies = [(applied_at[str(i).encode()] - committed_at[i]) * 1000 for i in committed_at]
    return {"events_per_s": round(N / (finished - started)), **cpu, **_percentiles(latencies)}


async def _fresh_database(admin: asyncpg.Connection, dbname: str) -> None:
    await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{dbname}"')


async def main(infra: Infra) -> None:
    run_id = uuid.uuid4().hex[:8]
    admin = await asyncpg.connect(infra.pg_admin_url)
    dbname = f"cowork_bench_{run_id}"
    raws: list[dict[str, float]] = []
    drains: list[dict[str, float]] = []
    try:
        for n in range(ROUNDS):
            prefix = f"bench{run_id}r{n}."
            for p in (prefix, prefix + "raw."):  # each path reads only its own records
                await ensure_topics(infra.kafka_bootstrap,
                                    [TopicSpec(TOPIC), TopicSpec("cowork.test.dlq")], prefix=p)
            raws.append(await bench_raw(infra.kafka_bootstrap, prefix + "raw."))
            await _fresh_database(admin, dbname)
            drains.append(await bench_cowork(infra.kafka_bootstrap, infra.database_url(dbname),
                                             prefix, live=False))
            print(f"  round {n + 1}: raw {raws[-1]['events_per_s']}, drain "
                  f"{drains[-1]['events_per_s']} events/s, ratio "
                  f"{drains[-1]['events_per_s'] / raws[-1]['events_per_s']:.3f}", file=sys.stderr)
        prefix = f"bench{run_id}live."
        await ensure_topics(infra.kafka_bootstrap,
                            [TopicSpec(TOPIC), TopicSpec("cowork.test.dlq")], prefix=prefix)
        await _fresh_database(admin, dbname)
        live = await bench_cowork(infra.kafka_bootstrap, infra.database_url(dbname), prefix,
                                  live=True)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        await admin.close()
    raw = max(raws, key=lambda r: r["events_per_s"])
    drain = max(drains, key=lambda r: r["events_per_s"])
    ratio = round(drain["events_per_s"] / raw["events_per_s"], 3)
    live_ratio = round(live["events_per_s"] / raw["events_per_s"], 3)
    round_ratios = [round(d["events_per_s"] / r["events_per_s"], 3)
                    for r, d in zip(raws, drains, strict=True)]
    print(f"\nEvents: {N} ({STREAMS} keys, {PER_TX} per transaction) on {platform.node()}, "
          f"{os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; relay batch "
          f"{RELAY_BATCH} ({RELAY_IN_FLIGHT} in flight), consumer batch {CONSUMER_BATCH}")
    print(f"{ROUNDS} alternated rounds, each path's best counts: raw "
          f"{[r['events_per_s'] for r in raws]}, drain {[d['events_per_s'] for d in drains]} "
          f"events/s; ratio within each round {round_ratios}")
    print(f"{'path':<40}{'events/s':>10}{'CPU µs/ev':>10}{'machine':>9}{'p50 ms':>9}"
          f"{'p95 ms':>9}{'p99 ms':>9}")
    for name, r in (("raw aiokafka producer → consumer", raw),
                    ("outbox → relay → Kafka → inbox (drain)", drain),
                    ("write + outbox → … → inbox (live)", live)):
        print(f"{name:<40}{r['events_per_s']:>10}{r['cpu_us_per_event']:>10}"
              f"{r['machine_cpu_us_per_event']:>9}{r['p50_ms']:>9}{r['p95_ms']:>9}"
              f"{r['p99_ms']:>9}")
    print(f"ratio drain / raw throughput: {ratio}  (goal ≥ 0.5); live / raw: {live_ratio}")
    print("BENCH_JSON " + json.dumps({"bench": "events", "events": N, "rounds": ROUNDS,
                                      "relay_batch": RELAY_BATCH, "consumer_batch": CONSUMER_BATCH,
                                      "raw": raw, "raw_runs": raws, "drain": drain,
                                      "drain_runs": drains, "round_ratios": round_ratios,
                                      "live": live, "ratio": ratio, "live_ratio": live_ratio}))


if __name__ == "__main__":
    asyncio.run(main(start_infra()))
