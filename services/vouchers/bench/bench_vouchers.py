"""Benchmark: redemptions from `booking.confirmed` on Kafka to `voucher.redeemed` on Kafka,
against the raw limit measured in the same run — the same ledger INSERTs through asyncpg.

The service runs as a real process (`python -m cowork.vouchers serve`) on a fresh database and
topic prefix, with a first-come programme, an accredited space and members holding vouchers,
all set up through its HTTP API as an officer would. The benchmark then plays booking: it
publishes N `booking.confirmed` events (a different booking each, charged EUR 6, so every one
is redeemed) and reads `cowork.vouchers.events` as a partner would, until it has seen N
`voucher.redeemed`. Throughput = N / (first event sent → last `voucher.redeemed` received);
latency per booking, from its send to its `voucher.redeemed`.

The raw limit writes what a redemption leaves in the ledger — one `ledger_transactions` row
and its two `ledger_postings`, with the store's own statements — straight through asyncpg with
nothing else (no Kafka, no inbox, no rules, no balances, no outbox), in two ways: one
transaction per redemption from 8 concurrent connections (as the booking benchmark's raw
insert), and one transaction per 500 redemptions, as the service's consumer batches them.
Each is measured first and last and the higher taken. CPU per operation is sampled from /proc
for this process, the service process, PostgreSQL and Kafka. Prints a table and a `BENCH_JSON`
line. Bounded: N events, loopback only.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from cowork.shared import db
from cowork.shared.auth import issue_token
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev
from cowork.shared.events.envelope import headers_to_dict
from cowork.shared.kafka import reliable_producer
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET
from cowork.shared.testing import Infra, free_port, start_infra
from cowork.vouchers import commands, demo, domain, store
from cowork.vouchers.app import MIGRATIONS

N = int(os.environ.get("BENCH_REDEMPTIONS", "3000"))
# The raw inserts are fast: more of them, so each run lasts seconds, not a fraction of one.
N_RAW = int(os.environ.get("BENCH_RAW_REDEMPTIONS", "6000"))
WARM_UP = 200          # redeemed before timing: connections opened, statements prepared
MEMBERS = 100          # members holding a voucher; bookings go round them
CLIENTS = 8            # concurrent connections of the per-redemption raw path
BATCH = 500            # the consumer's default batch (VOUCHERS_CONSUMER_BATCH_SIZE)
CHARGE_CENTS = 600     # what each booking charges; 50% of it is redeemed
OFFICER = {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub="bench",
                                                    roles=["officer"])}


# ---------------------------------------------------------------- CPU accounting


def _cpu_seconds(pid: str) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_by_process(service_pid: int | None) -> dict[int, tuple[str, float]]:
    """CPU seconds used so far by each process taking part, with its group: this benchmark,
    the service process (found by its pid, not its name: other vouchers processes may run on
    the machine), PostgreSQL's processes and Kafka (which other work on the machine may use
    too, so their figures are an upper bound)."""
    found = {os.getpid(): ("this benchmark", _cpu_seconds("self"))}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
            used = _cpu_seconds(pid)
        except OSError:
            continue  # exited meanwhile
        group = ("vouchers service" if int(pid) == service_pid else
                 "PostgreSQL" if "postgres" in command else
                 "Kafka" if "kafka" in command and "java" in command else None)
        if group:
            found[int(pid)] = (group, used)
    return found


def _cpu_us_per_operation(before: dict[int, tuple[str, float]],
                          after: dict[int, tuple[str, float]], operations: int
                          ) -> dict[str, int]:
    """Microseconds of CPU per operation by group, summed per process over the processes
    alive at the end (a PostgreSQL backend that ended before is not subtracted; one that
    started during the run counts from zero)."""
    groups: dict[str, float] = {}
    for pid, (group, used) in after.items():
        previous = before.get(pid)
        groups[group] = groups.get(group, 0.0) + used - (previous[1] if previous else 0.0)
    return {group: round(seconds * 1e6 / operations)
            for group, seconds in sorted(groups.items()) if seconds > 0}


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(sorted(samples_ms), n=100)
    return {"p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2), "p99_ms": round(q[98], 2)}


# ---------------------------------------------------------------- the raw limit


async def _raw_ledger(dsn: str) -> tuple[asyncpg.Pool, Callable[[asyncpg.Connection],
                                                                 Awaitable[None]]]:
    """A migrated database with one open programme, and the raw write of one redemption."""
    await db.migrate_service(dsn, "vouchers", MIGRATIONS)
    pool = await db.create_pool(dsn, min_size=CLIENTS, max_size=CLIENTS)
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        programme = await commands.open_programme(conn, demo.milan_2013(now.date()), now)
    period, space_id = commands.month_of(now), uuid.uuid4()
    subsidy = CHARGE_CENTS // 2
    holders = [(uuid.uuid4(), uuid.uuid4()) for _ in range(MEMBERS)]  # (voucher, member)
    turn = itertools.count()

    async def write_redemption(conn: asyncpg.Connection) -> None:
        voucher, member = holders[next(turn) % MEMBERS]
        await store.insert_ledger_transaction(
            conn, transaction_id=uuid.uuid4(), programme_id=programme["id"],
            movement=domain.Movement.REDEEM, amount_cents=subsidy, recorded_at=datetime.now(UTC),
            postings=domain.postings(domain.Movement.REDEEM, subsidy),
            facts={"voucher_id": voucher, "member_id": member, "source_type": "booking",
                   "source_id": uuid.uuid4(), "source_event_id": uuid.uuid4(),
                   "space_id": space_id, "price_cents": CHARGE_CENTS,
                   "statement_period": period})

    return pool, write_redemption


async def bench_raw_per_redemption(dsn: str) -> dict[str, Any]:
    """One transaction per redemption, CLIENTS at a time."""
    pool, write_redemption = await _raw_ledger(dsn)
    remaining = N_RAW

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            async with pool.acquire() as conn, conn.transaction():
                await write_redemption(conn)

    before = _cpu_by_process(None)
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    cpu = _cpu_us_per_operation(before, _cpu_by_process(None), N_RAW)
    await pool.close()
    return {"per_s": round(N_RAW / elapsed), "cpu_us": cpu}


async def bench_raw_batched(dsn: str) -> dict[str, Any]:
    """One transaction per BATCH redemptions on one connection, as the consumer applies a
    batch of events in one transaction."""
    pool, write_redemption = await _raw_ledger(dsn)
    before = _cpu_by_process(None)
    started = time.perf_counter()
    async with pool.acquire() as conn:
        for first in range(0, N_RAW, BATCH):
            async with conn.transaction():
                for _ in range(min(BATCH, N_RAW - first)):
                    await write_redemption(conn)
    elapsed = time.perf_counter() - started
    cpu = _cpu_us_per_operation(before, _cpu_by_process(None), N_RAW)
    await pool.close()
    return {"per_s": round(N_RAW / elapsed), "cpu_us": cpu}


# ---------------------------------------------------------------- the service


class VouchersProcess:
    def __init__(self, database_url: str, bootstrap: str, prefix: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, "VOUCHERS_DATABASE_URL": database_url,
                    "VOUCHERS_KAFKA_BOOTSTRAP": bootstrap, "COWORK_TOPIC_PREFIX": prefix,
                    "VOUCHERS_HTTP_PORT": str(self.port), "VOUCHERS_LOG_LEVEL": "WARNING",
                    "VOUCHERS_DEMO_DATA": "false"}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "cowork.vouchers", "serve"],
                                        env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


async def _wait_ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError("the vouchers service exited at start")
        await asyncio.sleep(0.1)
    raise RuntimeError("the vouchers service never became ready")


async def _seed(client: httpx.AsyncClient) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A first-come programme valid from today, an accredited space, and members each holding
    a voucher large enough for every redemption of the run — through the API."""
    today = datetime.now(UTC).date()
    programme = await client.post("/v1/programmes", json={
        "name": "Benchmark", "budget_cents": 1_000_000_000, "coverage_pct": 50,
        "cap_per_beneficiary_cents": 5_000_000, "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=400)).isoformat(),
        "selection_mode": "first_come", "subsidises": {"bookings": True}})
    assert programme.status_code == 201, programme.text
    space_id = uuid.uuid4()
    accredited = await client.post("/v1/accredited-spaces", json={
        "space_id": str(space_id), "from": today.isoformat(), "reason": "benchmark"})
    assert accredited.status_code == 201, accredited.text
    members = [uuid.uuid4() for _ in range(MEMBERS)]
    for member in members:
        granted = await client.post(f"/v1/programmes/{programme.json()['id']}/applications",
                                    json={"member_id": str(member), "declarations": {}})
        assert granted.json().get("status") == "granted", granted.text
    return space_id, members


def _bookings(count: int, space_id: uuid.UUID, members: list[uuid.UUID]) -> list[Envelope]:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    start = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=UTC)
    return [Envelope.wrap(ev.BookingConfirmed(
        booking_id=uuid.uuid4(), member_id=members[n % len(members)], space_id=space_id,
        resource_id=uuid.uuid4(), resource_kind="hot_desk", start=start,
        end=start + timedelta(hours=2), price_cents=CHARGE_CENTS, charged_cents=CHARGE_CENTS),
        source="/cowork/booking") for n in range(count)]


async def bench_service(infra: Infra, dsn: str) -> dict[str, Any]:
    prefix = f"benchv{uuid.uuid4().hex[:6]}."
    service = VouchersProcess(dsn, infra.kafka_bootstrap, prefix)
    service.start()
    assert service.process is not None
    producer = reliable_producer(infra.kafka_bootstrap, client_id="bench-booking")
    reader = AIOKafkaConsumer(prefix + topics.VOUCHERS_EVENTS,
                              bootstrap_servers=infra.kafka_bootstrap,
                              group_id=prefix + "reader", auto_offset_reset="earliest",
                              enable_auto_commit=False)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.port}",
                                     headers=OFFICER, timeout=30) as client:
            await _wait_ready(client, service.process)
            space_id, members = await _seed(client)
        await producer.start()
        await reader.start()
        booking_topic = prefix + topics.BOOKING_EVENTS
        redeemed_at: dict[str, float] = {}

        async def send(envelopes: list[Envelope]) -> dict[str, float]:
            sent_at: dict[str, float] = {}
            futures = []
            for envelope in envelopes:
                assert isinstance(envelope.data, ev.BookingConfirmed)
                sent_at[str(envelope.data.booking_id)] = time.perf_counter()
                futures.append(await producer.send(
                    booking_topic, value=envelope.value(), key=envelope.subject.encode(),
                    headers=envelope.kafka_headers()))
            await asyncio.gather(*futures)
            return sent_at

        async def read_until(expected: set[str], timeout: float) -> None:
            deadline = time.perf_counter() + timeout
            while not expected <= redeemed_at.keys():
                if time.perf_counter() > deadline:
                    missing = len(expected - redeemed_at.keys())
                    raise RuntimeError(f"{missing} bookings never redeemed in {timeout}s")
                batch = await reader.getmany(timeout_ms=200, max_records=1000)
                now = time.perf_counter()
                for records in batch.values():
                    for r in records:
                        if headers_to_dict(r.headers).get("ce_type") == \
                                ev.VoucherRedeemed.event_type:
                            redeemed_at[json.loads(r.value)["source_id"]] = now

        warm = await send(_bookings(WARM_UP, space_id, members))
        await read_until(set(warm), timeout=120)
        timed = _bookings(N, space_id, members)
        before = _cpu_by_process(service.process.pid)
        started = time.perf_counter()
        sending = asyncio.create_task(send(timed))
        expected = {str(e.data.booking_id) for e in timed}  # type: ignore[union-attr]
        await read_until(expected, timeout=600)
        sent_at = await sending
        finished = max(redeemed_at[b] for b in expected)
        cpu = _cpu_us_per_operation(before, _cpu_by_process(service.process.pid), N)
    finally:
        await reader.stop()
        await producer.stop()
        service.stop()
    latencies = [(redeemed_at[b] - sent_at[b]) * 1000 for b in expected]
    use_case = await bench_use_case(dsn, space_id, members)
    return {"per_s": round(N / (finished - started)), "cpu_us": cpu,
            "publish_s": round(max(sent_at.values()) - started, 2), **_percentiles(latencies),
            "use_case": use_case}


async def bench_use_case(dsn: str, space_id: uuid.UUID, members: list[uuid.UUID]
                         ) -> dict[str, Any]:
    """`commands.redeem` itself — the rules and every statement of a redemption, outbox row
    included — BATCH to a transaction on one connection, as the consumer applies a batch, on
    the database the service just used (service stopped): no Kafka, no inbox, no relay. Splits
    the service's gap to the raw limit between the use case's SQL and the pipeline."""
    pool = await db.create_pool(dsn, min_size=1, max_size=1)
    sources = [commands.Source(
        type="booking", id=e.data.booking_id, event_id=e.id,  # type: ignore[union-attr]
        member_id=e.data.member_id, price_cents=CHARGE_CENTS,  # type: ignore[union-attr]
        charged_cents=CHARGE_CENTS, used_on=e.data.start.date(),  # type: ignore[union-attr]
        space_id=space_id, resource_kind="hot_desk")
        for e in _bookings(N, space_id, members)]
    before = _cpu_by_process(None)
    started = time.perf_counter()
    redeemed = 0
    async with pool.acquire() as conn:
        for first in range(0, N, BATCH):
            async with conn.transaction():
                for source in sources[first:first + BATCH]:
                    redeemed += bool(await commands.redeem(conn, source, datetime.now(UTC)))
    elapsed = time.perf_counter() - started
    cpu = _cpu_us_per_operation(before, _cpu_by_process(None), N)
    await pool.close()
    assert redeemed == N, f"only {redeemed} of {N} redeemed in-process"
    return {"per_s": round(N / elapsed), "cpu_us": cpu}


# ---------------------------------------------------------------- the run


async def main(infra: Infra) -> None:
    admin = await asyncpg.connect(infra.pg_admin_url)
    names = [f"cowork_bench_{uuid.uuid4().hex[:8]}" for _ in range(5)]
    for name in names:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        # Raw paths first and last, the higher of each taken: on a shared VM the limit moves
        # between minutes, and the ratio should not flatter the service.
        per_tx_first = await bench_raw_per_redemption(infra.database_url(names[0]))
        batched_first = await bench_raw_batched(infra.database_url(names[1]))
        service = await bench_service(infra, infra.database_url(names[2]))
        per_tx_last = await bench_raw_per_redemption(infra.database_url(names[3]))
        batched_last = await bench_raw_batched(infra.database_url(names[4]))
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    per_tx = max(per_tx_first, per_tx_last, key=lambda r: r["per_s"])
    batched = max(batched_first, batched_last, key=lambda r: r["per_s"])
    ratio = round(service["per_s"] / per_tx["per_s"], 3)
    batched_ratio = round(service["per_s"] / batched["per_s"], 3)
    print(f"\nRedemptions: {N} through Kafka and the service ({WARM_UP} more to warm up), "
          f"{N_RAW} per raw run; {MEMBERS} vouchers; on {platform.node()}, {os.cpu_count()} "
          f"cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"raw, one transaction each, first and last: {per_tx_first['per_s']} and "
          f"{per_tx_last['per_s']} per s; batched: {batched_first['per_s']} and "
          f"{batched_last['per_s']} per s; the higher of each is its limit")
    print(f"{'path':<62}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'raw ledger INSERTs, 1 transaction each, 8 connections':<62}{per_tx['per_s']:>8}")
    print(f"{'raw ledger INSERTs, 1 transaction per 500, 1 connection':<62}{batched['per_s']:>8}")
    print(f"{'commands.redeem in-process, 1 transaction per 500 (no Kafka)':<62}"
          f"{service['use_case']['per_s']:>8}")
    print(f"{'booking.confirmed → service → voucher.redeemed (Kafka to Kafka)':<62}"
          f"{service['per_s']:>8}{service['p50_ms']:>9}{service['p99_ms']:>9}")
    print(f"ratio service / raw (1 transaction each): {ratio}  (goal ≥ 0.5); "
          f"service / raw batched: {batched_ratio}")
    for name, r in (("raw, 1 transaction each", per_tx), ("raw, batched", batched),
                    ("commands.redeem in-process", service["use_case"]),
                    ("service, Kafka to Kafka", service)):
        print(f"CPU per redemption, µs, {name}: " + ", ".join(
            f"{g} {v}" for g, v in r["cpu_us"].items()) + f" (all {sum(r['cpu_us'].values())})")
    print("BENCH_JSON " + json.dumps({
        "bench": "vouchers", "redemptions": N, "raw_redemptions": N_RAW,
        "raw_per_transaction": per_tx, "raw_per_transaction_runs": [per_tx_first, per_tx_last],
        "raw_batched": batched, "raw_batched_runs": [batched_first, batched_last],
        "service": service, "ratio": ratio, "batched_ratio": batched_ratio}))


if __name__ == "__main__":
    asyncio.run(main(start_infra()))
