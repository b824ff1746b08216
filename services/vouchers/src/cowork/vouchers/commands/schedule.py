"""The jobs a voucher or a programme schedules for itself: when each falls due."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg

from cowork.shared import scheduler
from cowork.vouchers.domain.dates import start_of_day
from cowork.vouchers.domain.thresholds import VOUCHER_EXPIRY_NOTICE_DAYS

EXPIRE_JOB = "vouchers.expire"
EXPIRING_JOB = "vouchers.expiring"
CONDITION_JOB = "vouchers.condition"
CLOSE_JOB = "vouchers.close"
VOUCHER_JOBS = (EXPIRE_JOB, EXPIRING_JOB, CONDITION_JOB)
EXPIRING_NOTICE = timedelta(days=VOUCHER_EXPIRY_NOTICE_DAYS)


async def schedule_voucher_jobs(conn: asyncpg.Connection, voucher: asyncpg.Record) -> None:
    """Expiry the day after its last valid day, the notice before it, and the check of a
    conditional grant the day after its deadline."""
    key = str(voucher["id"])
    await scheduler.schedule(conn, EXPIRE_JOB, key,
                             start_of_day(voucher["valid_until"] + timedelta(days=1)))
    await scheduler.schedule(conn, EXPIRING_JOB, key,
                             start_of_day(voucher["valid_until"]) - EXPIRING_NOTICE)
    if voucher["condition_deadline"] is not None:
        await scheduler.schedule(conn, CONDITION_JOB, key,
                                 start_of_day(voucher["condition_deadline"] + timedelta(days=1)))


async def schedule_close(conn: asyncpg.Connection, programme_id: str, last_day: date) -> None:
    await scheduler.schedule(conn, CLOSE_JOB, programme_id,
                             start_of_day(last_day + timedelta(days=1)))
