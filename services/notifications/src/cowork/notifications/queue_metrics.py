"""The delivery queue on /metrics: how many deliveries wait, are being sent or were given up,
per channel (the mail queue and the partners' webhooks), and how late the most overdue one is.

Measured from the database on a timer by every replica (like the outbox backlog), so the
gauges keep moving while the SMTP relay or a receiver is away. The dashboards and alert rules
(deploy/helm/cowork/files/) read them; docs/operations.md says what to do when they fire.

Cost: pending and sending rows are found through their partial indexes, but `dead` has none
(no migration here), so the count reads the deliveries table; at a town's volume that is
milliseconds. Should it show in pg_stat_statements, sample less often
(NOTIFICATIONS_KAFKA_WATCH_SECONDS) or add a partial index on status = 'dead'."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import get_args

import asyncpg
from prometheus_client import Gauge

from cowork.notifications.domain import Channel
from cowork.shared.logging import get_logger
from cowork.shared.scheduler import Clock
from cowork.shared.service import ServiceRuntime

log = get_logger(__name__)

CHANNELS: tuple[str, ...] = get_args(Channel)
# The statuses an operator watches; `sent` and `cancelled` are history, not a queue.
QUEUED_STATUSES = ("pending", "sending", "dead")

QUEUE = Gauge("cowork_notifications_queue",
              "Deliveries by channel and status: pending (waiting or retrying), sending "
              "(claimed by a sender), dead (given up after the last attempt)",
              ["service", "channel", "status"])
OVERDUE = Gauge("cowork_notifications_overdue_seconds",
                "How long the most overdue pending delivery has been due (0 when none is)",
                ["service", "channel"])

_COUNTS = """
SELECT channel, status, count(*)::bigint AS n
FROM deliveries
WHERE status = ANY($1::text[])
GROUP BY channel, status
"""
# Served by the partial index deliveries_due (status = 'pending').
_OVERDUE = """
SELECT channel, extract(epoch FROM $1::timestamptz - min(next_attempt_at))::float8 AS seconds
FROM deliveries
WHERE status = 'pending'
GROUP BY channel
"""


async def measure_queue(pool: asyncpg.Pool, service: str, clock: Clock) -> None:
    """Set the queue gauges; every (channel, status) is set, to 0 when there is none, so a
    queue that empties reads 0 rather than keeping its last value."""
    async with pool.acquire() as conn:
        counts = {(r["channel"], r["status"]): r["n"]
                  for r in await conn.fetch(_COUNTS, list(QUEUED_STATUSES))}
        overdue = {r["channel"]: r["seconds"] for r in await conn.fetch(_OVERDUE, clock())}
    for channel in CHANNELS:
        for status in QUEUED_STATUSES:
            QUEUE.labels(service, channel, status).set(counts.get((channel, status), 0))
        OVERDUE.labels(service, channel).set(max(overdue.get(channel) or 0.0, 0.0))


async def _sample_forever(runtime: ServiceRuntime, interval: float) -> None:
    while True:
        try:
            await measure_queue(runtime.db, runtime.name, runtime.clock)
        except Exception as exc:  # a gauge must never stop the service
            log.warning("delivery queue not measured; next round",
                        error_type=type(exc).__name__, error=str(exc)[:500])
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def queue_sampler(runtime: ServiceRuntime) -> AsyncIterator[None]:
    """A worker of the service (app.py): samples the queue every kafka_watch_seconds, the
    same timer as the other gauges measured from the database."""
    task = asyncio.create_task(
        _sample_forever(runtime, runtime.settings.kafka_watch_seconds), name="queue-metrics")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
