"""The scheduled jobs (see `schedule`): each runs in the scheduler's transaction."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.logging import get_logger
from cowork.shared.outbox import add_event
from cowork.vouchers.commands.ledger import SOURCE, Refused
from cowork.vouchers.commands.programmes import close_programme
from cowork.vouchers.commands.schedule import CLOSE_JOB, CONDITION_JOB, EXPIRE_JOB, EXPIRING_JOB
from cowork.vouchers.commands.vouchers import end_voucher
from cowork.vouchers.domain.dates import rome_date
from cowork.vouchers.domain.eligibility import condition_deadline_missed
from cowork.vouchers.store import thresholds as thresholds_store
from cowork.vouchers.store import vouchers as vouchers_store

log = get_logger(__name__)


async def expire_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    await end_voucher(conn, UUID(job.key), status="expired", reason=None, now=now)


async def expiring_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    voucher = await vouchers_store.voucher_by_id(conn, UUID(job.key))
    if voucher is None or voucher["status"] != "active":
        return
    if await thresholds_store.mark_threshold(conn, voucher["id"], "expiring_14d", now):
        await add_event(conn, ev.VoucherExpiring(
            voucher_id=voucher["id"], member_id=voucher["member_id"],
            valid_until=voucher["valid_until"], remaining_cents=voucher["remaining_cents"]),
            source=SOURCE)


async def condition_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    """A conditional grant whose deadline passed without a partita IVA is revoked."""
    voucher = await vouchers_store.voucher_by_id(conn, UUID(job.key))
    if voucher is None or voucher["status"] != "active" or voucher["condition_deadline"] is None:
        return
    if condition_deadline_missed(voucher["condition_deadline"],
                                 voucher["partita_iva_opened_on"], rome_date(now)):
        await end_voucher(conn, voucher["id"], status="revoked",
                          reason="partita_iva_not_opened", now=now)


async def close_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    try:
        await close_programme(conn, UUID(job.key), now)
    except Refused:  # an officer closed it first
        log.info("programme already closed", programme_id=job.key)


JOBS = {EXPIRE_JOB: expire_job, EXPIRING_JOB: expiring_job, CONDITION_JOB: condition_job,
        CLOSE_JOB: close_job}
