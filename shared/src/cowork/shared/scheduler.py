"""A durable scheduler: time-driven work that survives restarts and runs exactly once.

A job is a row `(kind, key, due_at, payload)` written in the same transaction as the change
that makes it necessary (a booking schedules its no-show check; a cancellation cancels it).
The scheduler claims due rows with `FOR UPDATE SKIP LOCKED`, runs the job's handler in that
same transaction and marks it done there: a crash before commit leaves it due, a commit leaves
it done, so each job's effects (including the events it writes to the outbox) happen once.
Jobs that fell due while the service was down run at the next start. Time is injected.

A failing job is retried with back-off. A database in trouble or a lost race
(`failures.is_transient`) is retried for as long as it takes; any other failure counts, and
after `max_attempts` of them the job is parked as failed (`failed_at`, `last_error` naming the
exception's class and a short reason, never personal data): no job retries for ever. An
operator lists parked jobs and retries them (`cowork.shared.jobs_api`); the gauges
`cowork_scheduled_jobs_failed` and `cowork_scheduled_jobs_overdue_seconds` (`measure_jobs`)
are what alerts watch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

import asyncpg

from cowork.shared import metrics, outbox
from cowork.shared.failures import describe, is_transient
from cowork.shared.logging import get_logger

log = get_logger(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]

    def cause(self) -> UUID:
        """What the job's events derive their ids from (cowork.shared.outbox): this run of it,
        the same after a restore. (A job backed off after a failure is due at another time:
        its run then counts as another.)"""
        return uuid5(_JOB_RUNS, f"{self.kind}/{self.key}/{self.due_at.isoformat()}")


# Fixed for ever, as outbox's namespace: a change would give jobs run again new event ids.
_JOB_RUNS = UUID("8d1c6e2a-4b0f-5e7d-9c3a-1f6b2e4d8a57")

JobHandler = Callable[[asyncpg.Connection, Job, datetime], Awaitable[None]]


_REARM = """
ON CONFLICT (kind, key) DO UPDATE
    SET due_at = EXCLUDED.due_at, payload = EXCLUDED.payload,
        done_at = NULL, cancelled = false, attempts = 0, last_error = NULL,
        failures = 0, failed_at = NULL
"""


_SCHEDULE = """
INSERT INTO scheduled_jobs (kind, key, due_at, payload) VALUES ($1, $2, $3, $4::jsonb)
""" + _REARM


def schedule_after(change: str, key: str, first_param: int, count: int) -> str:
    """SQL for a data-modifying CTE that schedules `count` jobs — parameters from
    `$first_param`, pairs of (kind, due_at) — keyed by the expression `key` over each row the
    CTE `change` returned, as `schedule` would (see outbox.insert_event_after)."""
    pairs = ", ".join(f"(${first_param + 2 * i}::text, ${first_param + 2 * i + 1}::timestamptz)"
                      for i in range(count))
    return (f"INSERT INTO scheduled_jobs (kind, key, due_at) "  # noqa: S608 - names from code
            f"SELECT job.kind, {key}, job.due_at "
            f"FROM {change}, (VALUES {pairs}) AS job (kind, due_at)" + _REARM)


async def schedule(conn: asyncpg.Connection, kind: str, key: str, due_at: datetime,
                   payload: dict[str, Any] | None = None) -> None:
    """Schedule (or move) the job `(kind, key)`; a done or cancelled one is armed again."""
    await conn.execute(_SCHEDULE, kind, key, due_at, payload or {})


async def cancel(conn: asyncpg.Connection, kind: str, key: str) -> bool:
    status = await conn.execute(
        "UPDATE scheduled_jobs SET cancelled = true WHERE kind = $1 AND key = $2 "
        "AND done_at IS NULL AND NOT cancelled",
        kind, key,
    )
    return not status.endswith(" 0")


async def retry_failed(conn: asyncpg.Connection, job_id: int, now: datetime) -> bool | None:
    """An operator's retry of a parked job: due now, its failures forgotten (it gets
    `max_attempts` again). None when there is no such job, False when it is not parked."""
    status = await conn.execute(
        "UPDATE scheduled_jobs SET failed_at = NULL, failures = 0, due_at = $2 "
        "WHERE id = $1 AND failed_at IS NOT NULL AND done_at IS NULL AND NOT cancelled",
        job_id, now)
    if status.endswith(" 1"):
        return True
    exists = await conn.fetchval("SELECT 1 FROM scheduled_jobs WHERE id = $1", job_id)
    return False if exists else None


_JOB_GAUGES = """
SELECT kind,
       count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed,
       min(due_at) FILTER (WHERE failed_at IS NULL AND due_at <= $2) AS oldest_due
FROM scheduled_jobs
WHERE done_at IS NULL AND NOT cancelled AND kind = ANY($1::text[])
  AND (failed_at IS NOT NULL OR due_at <= $2)
GROUP BY kind
"""


async def measure_jobs(pool: asyncpg.Pool, service: str, kinds: Sequence[str],
                       now: datetime) -> None:
    """Per job kind: how many are parked as failed, and how long the oldest due job has been
    waiting (0 when none): a scheduler that stopped, or jobs backing off because the database
    is in trouble, show here before anyone misses a reminder."""
    rows = {r["kind"]: r for r in await pool.fetch(_JOB_GAUGES, list(kinds), now)}
    for kind in kinds:
        row = rows.get(kind)
        failed = row["failed"] if row else 0
        oldest = row["oldest_due"] if row else None
        metrics.SCHEDULED_JOBS_FAILED.labels(service, kind).set(failed)
        metrics.SCHEDULED_JOBS_OVERDUE.labels(service, kind).set(
            max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)


_CLAIM = """
SELECT id, kind, key, due_at, payload FROM scheduled_jobs
WHERE done_at IS NULL AND NOT cancelled AND failed_at IS NULL AND due_at <= $1
  AND kind = ANY($2::text[])
ORDER BY due_at, id
LIMIT $3
FOR UPDATE SKIP LOCKED
"""


_LOCK_IF_STILL_DUE = """
SELECT id FROM scheduled_jobs
WHERE id = $1 AND done_at IS NULL AND NOT cancelled AND failed_at IS NULL AND due_at <= $2
FOR UPDATE SKIP LOCKED
"""

# 5 s, doubling, at most an hour. The exponent is capped before power() so that a job failing
# for months (the database away) cannot overflow it (2^1024 is out of range for double
# precision). $5: whether the failure counts towards parking; $6: how many may count before
# the job is parked as failed (and no longer claimed).
_BACK_OFF = """
UPDATE scheduled_jobs
SET attempts = attempts + 1, last_error = $2,
    failures = failures + $5::int,
    failed_at = CASE WHEN $5::int = 1 AND failures + 1 >= $6 THEN $3::timestamptz END,
    due_at = $3::timestamptz
             + make_interval(secs => least(3600, 5 * power(2, least(attempts, 12))))
WHERE id = $1 AND due_at = $4 AND done_at IS NULL AND NOT cancelled
RETURNING failed_at IS NOT NULL AS parked
"""

# Enough to ride out an outage of what a job talks to (about three hours at the back-off
# above) without retrying a job that cannot succeed for ever.
DEFAULT_MAX_ATTEMPTS = 12

BUSY_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.LockNotAvailableError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)


class JobBusy(Exception):
    """Raised by a job handler whose subject is being changed by someone else right now
    (e.g. it locked with NOWAIT): the job is left as it is and tried again at the next pass."""


_DEFERRED: tuple[type[BaseException], ...] = (JobBusy, *BUSY_ERRORS)


class Scheduler:
    def __init__(self, pool: asyncpg.Pool, handlers: Mapping[str, JobHandler], *,
                 clock: Clock = system_clock, poll_seconds: float = 1.0, service: str = "cowork",
                 batch_size: int = 100, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        self._pool = pool
        self._handlers = dict(handlers)
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._service = service
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._stopping = False
        self._wake = asyncio.Event()

    async def run_due(self, now: datetime | None = None) -> int:
        """Run every job due at `now` (default: the clock); return how many ran."""
        ran = 0
        while True:
            # Stop only when a pass runs nothing: under contention a short batch does not mean
            # that nothing is left (other replicas held some rows when this one claimed).
            n = await self._run_batch(now or self._clock())
            ran += n
            if n == 0:
                return ran

    async def _run_batch(self, now: datetime) -> int:
        ran = 0
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                rows = await conn.fetch(_CLAIM, now, list(self._handlers), self._batch_size)
                jobs = [Job(r["id"], r["kind"], r["key"], r["due_at"], r["payload"]) for r in rows]
            for job in jobs:
                ran += await self._run_job(conn, job, now)
        return ran

    async def _run_job(self, conn: asyncpg.Connection, job: Job, now: datetime) -> int:
        """Run one claimed job in its own transaction (one failing job does not undo the
        others); 1 if it ran. Between the claim and now the job may have been done, cancelled
        or re-armed for later (a renewal): the re-check under lock sees all three."""
        try:
            async with conn.transaction():
                locked = await conn.fetchval(_LOCK_IF_STILL_DUE, job.id, now)
                if locked is None:
                    return 0
                # Its events get ids derived from the job: run again after a restore put it
                # back to due, it writes the same ids and consumers drop the repeat.
                with outbox.caused_by(job.cause()):
                    await self._handlers[job.kind](conn, job, now)
                await conn.execute(
                    "UPDATE scheduled_jobs SET done_at = $2, attempts = attempts + 1 "
                    "WHERE id = $1", job.id, now)
        except _DEFERRED as exc:
            # Someone holds what the job needs (a renewal of this very membership): leave the
            # job untouched; if it is still due once they commit, the next pass runs it.
            log.info("scheduled job deferred: its subject is busy", kind=job.kind, key=job.key,
                     error_type=type(exc).__name__)
            metrics.SCHEDULED_JOBS_RUN.labels(self._service, job.kind, "deferred").inc()
            return 0
        except Exception as exc:
            await self._failed(conn, job, now, exc)
            return 0
        metrics.SCHEDULED_JOBS_RUN.labels(self._service, job.kind, "done").inc()
        return 1

    async def _failed(self, conn: asyncpg.Connection, job: Job, now: datetime,
                      exc: Exception) -> None:
        """Back the attempt off; a failure that is not the database's or a lost race counts,
        and the one that reaches `max_attempts` parks the job. Only the attempt that failed is
        touched: a job someone re-armed, cancelled or finished meanwhile (its due_at no longer
        the claimed one) is theirs now."""
        reason = describe(exc)
        counts = not is_transient(exc)
        metrics.SCHEDULED_JOBS_RUN.labels(self._service, job.kind, "failed").inc()
        log.error("scheduled job failed", kind=job.kind, key=job.key, error=reason,
                  error_type=type(exc).__name__, transient=not counts)
        parked = await conn.fetchval(_BACK_OFF, job.id, reason, now, job.due_at, int(counts),
                                     self._max_attempts)
        if parked:
            metrics.SCHEDULED_JOBS_RUN.labels(self._service, job.kind, "parked").inc()
            log.error("scheduled job parked as failed: an operator retries it once the cause "
                      "is fixed (POST /v1/jobs/{id}/retry)", kind=job.kind, key=job.key,
                      job_id=job.id, error=reason)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("scheduler retrying", error=describe(exc),
                            error_type=type(exc).__name__)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
