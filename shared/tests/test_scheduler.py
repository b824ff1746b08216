"""The durable scheduler on a real PostgreSQL: due work runs once, late work catches up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from cowork.shared import db, metrics
from cowork.shared.auth import issue_token
from cowork.shared.outbox import add_event
from cowork.shared.scheduler import Job, Scheduler, cancel, measure_jobs, schedule
from cowork.shared.service import ServiceRuntime
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET, ServiceSettings

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
    # The class, not the message: a message may quote personal data (a row's DETAIL).
    assert job["attempts"] == 2 and job["last_error"] == "RuntimeError"


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


# ---------------------------------------------------------------- no job retries for ever


class _Broken:
    """A handler that fails with `error` every time; counts its calls."""

    def __init__(self, error: Exception) -> None:
        self.error, self.calls = error, 0

    async def __call__(self, conn: asyncpg.Connection, job: Job, now: datetime) -> None:
        self.calls += 1
        raise self.error


async def _fail_until_settled(scheduler: Scheduler, pool: asyncpg.Pool, passes: int) -> None:
    """`passes` runs, each after the back-off of the one before."""
    for n in range(passes):
        await scheduler.run_due(T0 + timedelta(hours=2 * n))


def _parked_count(kind: str) -> float:
    return metrics.SCHEDULED_JOBS_RUN.labels("jobs-test", kind, "parked")._value.get()


async def test_a_job_failing_for_a_reason_that_is_not_transient_is_parked(
        pool, capsys: pytest.CaptureFixture[str]) -> None:
    # A CHECK violation quotes the failing row in its message: personal data.
    broken = _Broken(asyncpg.CheckViolationError(
        'new row for relation "vouchers" violates check constraint "vouchers_check1" '
        "DETAIL: Failing row contains (Mario Rossi, RSSMRA90E17F205Z)"))
    async with pool.acquire() as conn:
        await schedule(conn, "close", "p1", T0)
    before = _parked_count("close")
    scheduler = Scheduler(pool, {"close": broken}, service="jobs-test", max_attempts=3)
    await _fail_until_settled(scheduler, pool, 10)
    assert broken.calls == 3, "parked after its third failure, never run again"
    assert await scheduler.run_due(T0 + timedelta(days=365)) == 0
    job = await pool.fetchrow("SELECT failed_at, failures, last_error, done_at "
                              "FROM scheduled_jobs")
    assert job["failed_at"] is not None and job["done_at"] is None and job["failures"] == 3
    assert job["last_error"].startswith("CheckViolationError")
    assert "Mario" not in job["last_error"] and "RSSMRA" not in job["last_error"]
    logged = capsys.readouterr()
    assert "scheduled job parked" in logged.out + logged.err
    assert "Mario" not in logged.out + logged.err, "the log line names no personal data"
    assert _parked_count("close") == before + 1


@pytest.mark.parametrize("trouble", [
    asyncpg.DiskFullError("could not extend file"), asyncpg.OutOfMemoryError("out of memory"),
    asyncpg.AdminShutdownError("terminating connection"), asyncpg.PostgresIOError("I/O"),
    asyncpg.ReadOnlySQLTransactionError("cannot execute UPDATE in a read-only transaction")],
    ids=lambda e: type(e).__name__)
async def test_a_database_in_trouble_never_parks_a_job(pool, trouble: Exception) -> None:
    broken = _Broken(trouble)
    async with pool.acquire() as conn:
        await schedule(conn, "close", "p1", T0)
    scheduler = Scheduler(pool, {"close": broken}, service="jobs-test", max_attempts=3)
    await _fail_until_settled(scheduler, pool, 8)
    assert broken.calls == 8, "retried every time it fell due"
    job = await pool.fetchrow("SELECT failed_at, failures FROM scheduled_jobs")
    assert job["failed_at"] is None and job["failures"] == 0


async def test_the_gauges_show_parked_and_overdue_jobs_per_kind(pool) -> None:
    async with pool.acquire() as conn:
        await schedule(conn, "close", "p1", T0)
        await schedule(conn, "remind", "b1", T0 - timedelta(minutes=10))
        await schedule(conn, "remind", "b2", T0 + timedelta(days=1))
    await Scheduler(pool, {"close": _Broken(ValueError("x"))}, service="jobs-gauges",
                    max_attempts=1).run_due(T0)
    await measure_jobs(pool, "jobs-gauges", ["close", "remind", "expire"], T0)
    failed, overdue = metrics.SCHEDULED_JOBS_FAILED, metrics.SCHEDULED_JOBS_OVERDUE
    assert [failed.labels("jobs-gauges", k)._value.get() for k in ("close", "remind", "expire")] \
        == [1, 0, 0]
    assert [overdue.labels("jobs-gauges", k)._value.get() for k in ("close", "remind", "expire")] \
        == [0, 600, 0], "a parked job is not overdue: it is counted as failed"


async def test_an_operator_lists_parked_jobs_and_retries_one(pool, service_db: str) -> None:
    broken = _Broken(ValueError("mail template missing"))
    async with pool.acquire() as conn:
        await schedule(conn, "remind", "b1", T0)
        await schedule(conn, "remind", "b2", T0 + timedelta(days=1))
    await Scheduler(pool, {"remind": broken}, max_attempts=1).run_due(T0)

    runtime = ServiceRuntime(settings=ServiceSettings(database_url=service_db,
                                                      service_name="jobs-test"),
                             migrations=Path("."), jobs={"remind": broken},
                             clock=lambda: T0 + timedelta(hours=1))
    runtime.pool = pool  # the routes need only the pool: no Kafka, no scheduler task
    app = runtime.create_app(title="jobs", routers=[])

    def as_role(role: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub="ops",
                                                         roles=[role], audience="jobs-test")}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        listed = await client.get("/v1/jobs?status=failed", headers=as_role("operator"))
        assert listed.status_code == 200, listed.text
        [parked] = listed.json()["items"]
        assert (parked["kind"], parked["key"], parked["status"], parked["last_error"]) == \
            ("remind", "b1", "failed", "ValueError")
        pending = await client.get("/v1/jobs?status=pending", headers=as_role("operator"))
        assert [j["key"] for j in pending.json()["items"]] == ["b2"]
        for bad in ("status=broken", "kind=re%00mind", "cursor=bm90IGEgY3Vyc29y"):
            refused = await client.get(f"/v1/jobs?{bad}", headers=as_role("operator"))
            assert refused.status_code == 422, (bad, refused.text)
        for role in ("staff", "officer", "partner"):
            assert (await client.get("/v1/jobs", headers=as_role(role))).status_code == 403
            assert (await client.post(f"/v1/jobs/{parked['id']}/retry",
                                      headers=as_role(role))).status_code == 403

        retried = await client.post(f"/v1/jobs/{parked['id']}/retry",
                                    headers=as_role("operator"))
        assert retried.status_code == 200, retried.text
        assert (retried.json()["status"], retried.json()["failures"]) == ("pending", 0)
        again = await client.post(f"/v1/jobs/{parked['id']}/retry", headers=as_role("operator"))
        assert (again.status_code, again.json()["error"]["code"]) == (409, "job_not_failed")
        unknown = await client.post("/v1/jobs/999999/retry", headers=as_role("operator"))
        assert unknown.status_code == 404
        assert (await client.get("/v1/jobs?status=failed",
                                 headers=as_role("operator"))).json()["items"] == []

    fixed: list[str] = []

    async def mended(conn: asyncpg.Connection, job: Job, now: datetime) -> None:
        fixed.append(job.key)

    assert await Scheduler(pool, {"remind": mended}).run_due(T0 + timedelta(hours=1)) == 1
    assert fixed == ["b1"]


async def test_a_job_run_again_after_a_restore_writes_its_event_under_the_same_id(
        infra, pool, service_db: str) -> None:
    """The database restored to before a job ran: the job is due again and runs again (its
    effect is gone with the restore), and its event carries the id it had the first time, so
    consumers downstream drop the repeat (no second 'your voucher expires' mail)."""
    async with pool.acquire() as conn:
        await schedule(conn, "expire", "m1", T0 + timedelta(days=7), {"n": 1})
    backup = await infra.dump_database(service_db)
    scheduler = Scheduler(pool, {"expire": emit_expiry})
    assert await scheduler.run_due(T0 + timedelta(days=7)) == 1
    first = await pool.fetchval("SELECT id FROM outbox")

    await infra.restore_database(service_db, backup)
    await pool.expire_connections()
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
    assert await scheduler.run_due(T0 + timedelta(days=7, hours=3)) == 1
    assert await pool.fetchval("SELECT id FROM outbox") == first


async def test_a_job_rearmed_for_the_same_time_after_it_ran_runs_again(pool) -> None:
    """The same (kind, key, due time) armed again once done (a membership's period jobs
    scheduled again for the same period): it runs, though its event's derived id is the one
    already written — once in the outbox, as consumers would keep it once anyway."""
    due = T0 + timedelta(days=7)
    scheduler = Scheduler(pool, {"expire": emit_expiry})
    for _ in range(2):
        async with pool.acquire() as conn:
            await schedule(conn, "expire", "m1", due, {"n": 1})
        assert await scheduler.run_due(due) == 1
    assert await _outbox_streams(pool) == ["m1"]
