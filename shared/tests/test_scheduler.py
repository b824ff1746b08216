"""The durable scheduler on a real PostgreSQL: due work runs once, late work catches up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from cowork.shared import db
from cowork.shared.outbox import add_event
from cowork.shared.scheduler import Job, Scheduler, cancel, schedule

from support import SOURCE, Sequenced

pytestmark = [pytest.mark.infra]

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


async def emit_expiry(conn: asyncpg.Connection, job: Job, now: datetime) -> None:
    await add_event(conn, Sequenced(stream=job.key, seq=job.payload["n"]), source=SOURCE)


@pytest.fixture
async def pool(service_db: str):
    p = await db.create_pool(service_db, max_size=6)
    yield p
    await p.close()


async def _outbox_streams(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("SELECT aggregateid FROM outbox ORDER BY seq")
    return [r["aggregateid"] for r in rows]


async def test_a_job_runs_once_when_due_and_its_event_is_written_with_it(pool) -> None:
    async with pool.acquire() as conn:
        await schedule(conn, "expire", "m1", T0 + timedelta(days=7), {"n": 1})
    scheduler = Scheduler(pool, {"expire": emit_expiry})
    assert await scheduler.run_due(T0) == 0
    assert await scheduler.run_due(T0 + timedelta(days=7)) == 1
    assert await scheduler.run_due(T0 + timedelta(days=8)) == 0
    assert await _outbox_streams(pool) == ["m1"]


async def test_jobs_that_fell_due_while_down_run_at_the_next_start(pool) -> None:
    async with pool.acquire() as conn:
        for i in range(5):
            await schedule(conn, "expire", f"m{i}", T0 + timedelta(hours=i), {"n": i})
    # The service was down for a week; a fresh scheduler catches up, in due order.
    assert await Scheduler(pool, {"expire": emit_expiry}).run_due(T0 + timedelta(days=7)) == 5
    assert await _outbox_streams(pool) == [f"m{i}" for i in range(5)]


async def test_two_replicas_never_run_the_same_job_twice(pool) -> None:
    async with pool.acquire() as conn:
        for i in range(40):
            await schedule(conn, "expire", f"m{i}", T0, {"n": i})
    replicas = [Scheduler(pool, {"expire": emit_expiry}, batch_size=5) for _ in range(3)]
    ran = await asyncio.gather(*(r.run_due(T0) for r in replicas))
    assert sum(ran) == 40
    streams = await _outbox_streams(pool)
    assert sorted(streams) == sorted(f"m{i}" for i in range(40))


async def test_cancelled_and_moved_jobs(pool) -> None:
    async with pool.acquire() as conn:
        await schedule(conn, "expire", "gone", T0, {"n": 1})
        await schedule(conn, "expire", "moved", T0, {"n": 2})
        assert await cancel(conn, "expire", "gone")
        await schedule(conn, "expire", "moved", T0 + timedelta(days=30), {"n": 3})
    scheduler = Scheduler(pool, {"expire": emit_expiry})
    assert await scheduler.run_due(T0 + timedelta(days=1)) == 0
    assert await scheduler.run_due(T0 + timedelta(days=30)) == 1
    row = await pool.fetchrow("SELECT payload FROM outbox")
    assert row["payload"]["seq"] == 3


async def test_a_failing_job_rolls_back_and_is_retried_later(pool) -> None:
    attempts = 0

    async def flaky(conn: asyncpg.Connection, job: Job, now: datetime) -> None:
        nonlocal attempts
        attempts += 1
        await add_event(conn, Sequenced(stream=job.key, seq=attempts), source=SOURCE)
        if attempts == 1:
            raise RuntimeError("mail server away")

    async with pool.acquire() as conn:
        await schedule(conn, "remind", "b1", T0)
    scheduler = Scheduler(pool, {"remind": flaky})
    assert await scheduler.run_due(T0) == 0
    assert await _outbox_streams(pool) == [], "the failed attempt's event was rolled back"
    assert await scheduler.run_due(T0) == 0, "backs off before retrying"
    assert await scheduler.run_due(T0 + timedelta(minutes=5)) == 1
    assert await _outbox_streams(pool) == ["b1"]
    job = await pool.fetchrow("SELECT attempts, last_error FROM scheduled_jobs")
    assert job["attempts"] == 2 and job["last_error"] == "mail server away"


async def test_a_job_failing_for_months_backs_off_an_hour_without_overflowing(pool) -> None:
    async def broken(conn: asyncpg.Connection, job: Job, now: datetime) -> None:
        raise RuntimeError("still broken")

    async with pool.acquire() as conn:
        await schedule(conn, "remind", "b1", T0)
        # An hourly retry for ~45 days: 2^1100 is beyond double precision.
        await conn.execute("UPDATE scheduled_jobs SET attempts = 1100")
    assert await Scheduler(pool, {"remind": broken}).run_due(T0) == 0
    job = await pool.fetchrow("SELECT attempts, due_at FROM scheduled_jobs")
    assert job["attempts"] == 1101 and job["due_at"] == T0 + timedelta(hours=1)


async def test_a_job_rearmed_for_later_after_the_claim_does_not_run(pool) -> None:
    claimed, moved = asyncio.Event(), asyncio.Event()

    async def gate(conn: asyncpg.Connection, job: Job, now: datetime) -> None:
        claimed.set()
        await moved.wait()

    async with pool.acquire() as conn:
        await schedule(conn, "gate", "g", T0 - timedelta(seconds=1))
        await schedule(conn, "expire", "m1", T0, {"n": 1})
    scheduler = Scheduler(pool, {"gate": gate, "expire": emit_expiry})
    run = asyncio.create_task(scheduler.run_due(T0))
    await claimed.wait()  # both jobs are claimed; the gate runs first
    async with pool.acquire() as conn:
        await schedule(conn, "expire", "m1", T0 + timedelta(days=30), {"n": 2})
    moved.set()
    assert await run == 1, "only the gate ran"
    assert await _outbox_streams(pool) == []
    assert await scheduler.run_due(T0 + timedelta(days=30)) == 1
