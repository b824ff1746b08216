"""Renewals racing the expiry job on a real PostgreSQL, several connections at once.

What a member relies on: a renewal that was accepted is never undone by the expiry of the
period it extended, and a membership whose renewal was refused (it expired first) does not stay
active. Barriers put the renewal in the two windows where it used to be lost: between the
scheduler's claim and the job's run, and while the job holds its row and waits for the
membership the renewal holds.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest
from membership_support import MONTHLY

from cowork.membership import commands, domain, store
from cowork.membership.app import MIGRATIONS
from cowork.shared import db
from cowork.shared.scheduler import Job, Scheduler, schedule

pytestmark = [pytest.mark.infra]

T0 = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate_service(database_url, "membership", MIGRATIONS)
    p = await db.create_pool(database_url, max_size=30)
    async with p.acquire() as conn:
        await store.insert_plan(conn, MONTHLY, T0)
    yield p
    await p.close()


async def new_membership(pool: asyncpg.Pool) -> tuple[UUID, datetime]:
    """An active monthly membership from T0's day; returns it and when it expires."""
    async with pool.acquire() as conn, conn.transaction():
        member = await commands.register_member(
            conn, kind="person", full_name="Test Member", email=f"{uuid4().hex[:10]}@example.org",
            phone=None, language="it", tax_code=uuid4().hex[:16].upper(), residence_istat=None,
            marketing=False, now=T0)
        membership = await commands.start_membership(
            conn, member_id=member["id"], plan_code="monthly", starts_on=date(2027, 1, 31),
            now=T0)
    return membership["id"], domain.expiry_due(membership["period_end"])


async def renew(pool: asyncpg.Pool, membership_id: UUID, now: datetime) -> bool:
    """True when the renewal was accepted, False when the rules refused it (expired first)."""
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                await commands.renew(conn, membership_id, now)
        except domain.RuleViolation as exc:
            assert exc.code == "invalid_transition"
            return False
    return True


async def assert_outcome(pool: asyncpg.Pool, membership_id: UUID, renewed: bool) -> None:
    row = await store.membership_by_id(pool, membership_id)
    assert row is not None
    job = await pool.fetchrow(
        "SELECT due_at, done_at FROM scheduled_jobs WHERE kind = $1 AND key = $2",
        commands.EXPIRE_JOB, str(membership_id))
    if renewed:
        assert row["status"] == "active", "an accepted renewal was undone by the expiry"
        assert job["done_at"] is None
        assert job["due_at"] == domain.expiry_due(row["period_end"]), \
            "the expiry of the renewed period was moved by someone else"
    else:
        assert row["status"] == "expired", "a refused renewal left the membership active"


async def test_a_renewal_committed_between_claim_and_run_is_not_expired(pool) -> None:
    membership_id, expires = await new_membership(pool)
    claimed, renewed = asyncio.Event(), asyncio.Event()

    async def gate(conn: asyncpg.Connection, job: Job, now: datetime) -> None:
        # Runs first in the claimed batch, so the expiry job is claimed but not yet run.
        claimed.set()
        await renewed.wait()

    async with pool.acquire() as conn:
        await schedule(conn, "test.gate", "g", expires - timedelta(seconds=1))
    scheduler = Scheduler(pool, {"test.gate": gate, commands.EXPIRE_JOB: commands.expire_job})
    run = asyncio.create_task(scheduler.run_due(expires))
    await claimed.wait()
    assert await renew(pool, membership_id, expires)
    renewed.set()
    await run
    await assert_outcome(pool, membership_id, renewed=True)
    await scheduler.run_due(expires + timedelta(days=1))
    await assert_outcome(pool, membership_id, renewed=True)


async def test_a_renewal_holding_the_membership_keeps_its_rearmed_expiry(pool) -> None:
    membership_id, expires = await new_membership(pool)
    renewal_locked, job_held = asyncio.Event(), asyncio.Event()

    async def expire_after_the_renewal_locked(conn: asyncpg.Connection, job: Job,
                                              now: datetime) -> None:
        await renewal_locked.wait()
        job_held.set()  # this transaction holds the job's row now
        await commands.expire_job(conn, job, now)

    scheduler = Scheduler(pool, {commands.EXPIRE_JOB: expire_after_the_renewal_locked})
    run = asyncio.create_task(scheduler.run_due(expires))
    async with pool.acquire() as conn:
        async with conn.transaction():
            await store.membership_by_id(conn, membership_id, for_update=True)
            renewal_locked.set()
            await job_held.wait()
            await asyncio.sleep(0.2)  # let the job reach the membership's lock
            await commands.renew(conn, membership_id, expires)  # re-arms the job's row
    await run
    await assert_outcome(pool, membership_id, renewed=True)
    # Whatever the job's failed attempt did, the renewed period does not end a minute later.
    await scheduler.run_due(expires + timedelta(minutes=1))
    await scheduler.run_due(expires + timedelta(days=1))
    await assert_outcome(pool, membership_id, renewed=True)


async def test_many_renewals_racing_expiry_on_several_connections(pool) -> None:
    rng = random.Random(9)
    for _ in range(3):
        memberships = [await new_membership(pool) for _ in range(12)]
        expires = memberships[0][1]
        replicas = [Scheduler(pool, {commands.EXPIRE_JOB: commands.expire_job}, batch_size=2)
                    for _ in range(3)]

        async def renew_later(membership_id: UUID, at: datetime) -> bool:
            await asyncio.sleep(rng.uniform(0, 0.05))
            return await renew(pool, membership_id, at)

        async def run_later(scheduler: Scheduler, at: datetime) -> int:
            await asyncio.sleep(rng.uniform(0, 0.05))
            return await scheduler.run_due(at)

        results = await asyncio.gather(
            *(renew_later(m, expires) for m, _ in memberships),
            *(run_later(s, expires) for s in replicas))
        # Deferred jobs (their membership was busy) run at the next pass, as the loop would.
        await replicas[0].run_due(expires)
        for (membership_id, _), renewed in zip(memberships, results, strict=False):
            await assert_outcome(pool, membership_id, renewed)
        await replicas[0].run_due(expires + timedelta(days=1))
        for (membership_id, _), renewed in zip(memberships, results, strict=False):
            await assert_outcome(pool, membership_id, renewed)
