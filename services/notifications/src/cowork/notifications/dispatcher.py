"""The dispatcher: sends the deliveries the handlers and reminder jobs recorded, outside any
database transaction and outside the event consumer.

Each delivery row goes `pending` → (claimed, attempts + 1, leased) `sending` → `sent`, or back to
`pending` with a later `next_attempt_at` (exponential backoff with jitter), or `dead` after the
last attempt (or at once when the receiver refuses it for good, or when a sender died during
the last attempt), or `cancelled` (recipient erased, subscription gone, booking cancelled).
Attempts run in two bounded sets of tasks, one for mail and one for webhooks (webhooks never
take the mail's slots; the webhook claim also bounds each subscription and partner), each under
one deadline, so a slow or hanging SMTP server or webhook receiver holds one slot for at most
its timeout and never the consumption of events or the other deliveries.

Crashes (docs/notifications.md): a row claimed by a sender that died stays `sending` until its
lease runs out, then is claimed again. The only duplicate possible is the one where the receiver
accepted the message and the process died before the outcome was committed; the resend carries
the same Message-ID (e-mail) or `webhook-id` and CloudEvent id (webhook), so the receiver can
recognise it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import asyncpg

from cowork.notifications import commands, delivery_store, domain, mail, store, subscriptions
from cowork.notifications.commands import WAKE_CHANNEL
from cowork.notifications.mail_sender import Cancel, MailSender, MailSettings, describe_failure
from cowork.notifications.rendering import Renderer
from cowork.notifications.webhook_sender import SubscriptionGone, WebhookFailed, WebhookSender
from cowork.shared import db
from cowork.shared.logging import get_logger
from cowork.shared.scheduler import Clock
from cowork.shared.service import ServiceRuntime

if TYPE_CHECKING:
    from cowork.notifications.app import NotificationsSettings

log = get_logger(__name__)

# Where the running dispatcher is in `runtime.components` (the replay route wakes it).
DISPATCHER = "dispatcher"

@dataclass(frozen=True)
class DispatchPolicy:
    mail_concurrency: int = 16
    webhook_concurrency: int = 16
    in_flight_per_subscription: int = 2
    in_flight_per_partner: int = 4
    max_attempts: int = 8
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 3600.0
    webhook_timeout_seconds: float = 5.0
    poll_seconds: float = 1.0
    secret_overlap: timedelta = timedelta(hours=24)
    retention: timedelta = timedelta(days=90)
    housekeeping_seconds: float = 300.0
    purge_batch_size: int = 1000

    def attempt_timeout(self, channel: str, smtp_timeout: float) -> float:
        """The whole attempt's deadline (a webhook's is enforced inside the sender too)."""
        if channel == "webhook":
            return self.webhook_timeout_seconds + 1.0
        return smtp_timeout + 1.0


class Dispatcher:
    def __init__(self, pool: asyncpg.Pool, *, dsn: str, policy: DispatchPolicy,
                 mail_settings: MailSettings, renderer: Renderer, clock: Clock,
                 webhooks: WebhookSender, rng: random.Random | None = None) -> None:
        self._pool = pool
        self._dsn = dsn
        self._policy = policy
        self._mail = mail_settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._webhooks = webhooks
        self._mailer = MailSender(pool, mail_settings, renderer, clock)
        # Mail and webhooks have separate slots: webhooks can never take the mail's.
        self._inflight: dict[str, set[asyncio.Task[None]]] = {"email": set(), "webhook": set()}
        self._last_housekeeping = float("-inf")
        # Outcomes are recorded by one settler, many per transaction: one short transaction per
        # delivery was what limited the rate once the consumer was fast.
        self._outcomes: asyncio.Queue[tuple[str, asyncpg.Record, str | None]] = asyncio.Queue()
        self._settler: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    # -- the loop

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        listener = await self._listen()
        self._settler = asyncio.create_task(self._settle_outcomes(), name="delivery-settler")
        try:
            while not self._stopping:
                self._wake.clear()  # before the pass: a wake-up during it is not lost
                try:
                    await self.dispatch_due()
                    await self._housekeeping()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("dispatch pass failed; retrying", error=str(exc),
                                error_type=type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._policy.poll_seconds)
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()

    async def _listen(self) -> asyncpg.Connection | None:
        """Handlers NOTIFY at commit; the dispatcher wakes at once instead of at the next poll."""
        try:
            conn = await db.connect(self._dsn)
            await conn.add_listener(WAKE_CHANNEL, lambda *_: self._wake.set())
            return conn
        except Exception as exc:  # polling still works
            log.warning("dispatcher cannot LISTEN; polling only", error=str(exc))
            return None

    async def dispatch_due(self) -> int:
        """Claim what is due, as far as each channel's free slots allow, and start an attempt
        for each."""
        started = 0
        for channel, slots in (("email", self._policy.mail_concurrency),
                               ("webhook", self._policy.webhook_concurrency)):
            while not self._stopping:
                free = slots - len(self._inflight[channel])
                if free <= 0:
                    break
                rows = await self._claim(channel, free)
                for row in rows:
                    task = asyncio.create_task(self._attempt(row), name=f"delivery-{row['id']}")
                    self._inflight[channel].add(task)
                    task.add_done_callback(functools.partial(self._done, channel))
                started += len(rows)
                if len(rows) < free:
                    break
        return started

    async def _claim(self, channel: str, free: int) -> list[asyncpg.Record]:
        now = self._clock()
        policy = self._policy
        lease = now + timedelta(seconds=policy.attempt_timeout(
            channel, self._mail.server.timeout_seconds) + 30)
        async with self._pool.acquire() as conn:
            if channel == "email":
                return list(await delivery_store.claim_mail(conn, now, free, lease,
                                                            policy.max_attempts))
            return list(await delivery_store.claim_webhooks(
                conn, now, free, lease, policy.max_attempts,
                per_subscription=policy.in_flight_per_subscription,
                per_partner=policy.in_flight_per_partner))

    def _done(self, channel: str, task: asyncio.Task[None]) -> None:
        self._inflight[channel].discard(task)
        self._wake.set()  # a slot is free

    async def _housekeeping(self) -> None:
        """Retention of the delivery log and the end of secret rotations' overlaps, every
        `PURGE_INTERVAL_SECONDS`."""
        if time.monotonic() - self._last_housekeeping < self._policy.housekeeping_seconds:
            return
        self._last_housekeeping = time.monotonic()
        now = self._clock()
        purged = 0
        while True:
            async with self._pool.acquire() as conn:
                batch = await store.purge_settled_deliveries(
                    conn, now - self._policy.retention, self._policy.purge_batch_size)
            purged += batch
            if batch < self._policy.purge_batch_size:
                break
        async with self._pool.acquire() as conn:
            dropped = await subscriptions.drop_expired_previous_secrets(conn, now)
        if purged or dropped:
            log.info("notifications housekeeping", deliveries_purged=purged,
                     previous_secrets_dropped=dropped)

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Bounded, whatever the receivers and the database do: attempts in flight get
        `grace_seconds` to finish, then the outcomes in hand as long again to be recorded."""
        self._stopping = True
        self._wake.set()
        inflight = self._inflight["email"] | self._inflight["webhook"]
        if inflight:
            _, pending = await asyncio.wait(list(inflight), timeout=grace_seconds)
            for task in pending:  # left `sending`: claimed again once the lease runs out
                task.cancel()
        if self._settler is not None:
            # Every outcome in hand is recorded before the pool closes, unless the database
            # does not answer: then those rows too are claimed again after their lease.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outcomes.join(), grace_seconds)
            self._settler.cancel()
        await self._webhooks.close()
        await self._mailer.close()

    # -- one attempt

    async def _attempt(self, row: asyncpg.Record) -> None:
        if row["exhausted"]:
            log.warning("delivery dead: its last attempt never finished (the sender stopped)",
                        delivery_id=str(row["id"]), channel=row["channel"])
            self._outcomes.put_nowait(("dead", row, "attempts exhausted"))
            return
        try:
            async with asyncio.timeout(self._policy.attempt_timeout(
                    row["channel"], self._mail.server.timeout_seconds)):
                if row["channel"] == "email":
                    await self._mailer.send(row, _payload(row))
                else:
                    await self._webhooks.send(self._pool, row, _payload(row), self._clock())
        except (Cancel, SubscriptionGone) as exc:
            self._outcomes.put_nowait(("cancelled", row, str(exc)))
        except mail.PermanentMailError as exc:
            self._outcomes.put_nowait(("dead", row, str(exc)))
        except WebhookFailed as exc:
            await self._retry_or_die(row, str(exc))
        except TimeoutError:
            await self._retry_or_die(row, "timeout" if row["channel"] == "webhook"
                                     else describe_failure(TimeoutError()))
        except Exception as exc:  # RetryLater, connection errors, anything else
            if row["channel"] == "webhook":  # partners read last_error: a coarse word only
                log.warning("webhook attempt failed", delivery_id=str(row["id"]),
                            error=describe_failure(exc))
                await self._retry_or_die(row, "delivery_error")
            else:
                await self._retry_or_die(row, describe_failure(exc))
        else:
            self._outcomes.put_nowait(("sent", row, None))

    async def _retry_or_die(self, row: asyncpg.Record, error: str) -> None:
        if row["attempts"] >= self._policy.max_attempts:
            self._outcomes.put_nowait(("dead", row, error))
            return
        delay = domain.retry_delay(row["attempts"], base_seconds=self._policy.retry_base_seconds,
                                   max_seconds=self._policy.retry_max_seconds, rng=self._rng)
        at = self._clock() + timedelta(seconds=delay)
        log.info("delivery will be retried", delivery_id=str(row["id"]), channel=row["channel"],
                 attempts=row["attempts"], backoff_s=round(delay, 3), error=error)

        async def later(conn: asyncpg.Connection) -> None:
            await delivery_store.retry_later(conn, row["id"], at, error)

        await self._in_tx(later)

    async def _settle_outcomes(self) -> None:
        """Record what the attempts in flight learned, up to 500 outcomes a transaction."""
        while True:
            batch = [await self._outcomes.get()]
            while not self._outcomes.empty() and len(batch) < 500:
                batch.append(self._outcomes.get_nowait())
            now = self._clock()

            async def work(conn: asyncpg.Connection, batch: list[Any] = batch,
                           now: datetime = now) -> None:
                await commands.record_outcomes(conn, batch, now)

            try:
                await self._in_tx(work)
                for status, row, _ in batch:
                    log.info("delivery settled", delivery_id=str(row["id"]),
                             channel=row["channel"], template=row["template"], outcome=status,
                             attempts=row["attempts"])
            except Exception as exc:  # the rows stay `sending`: claimed again after the lease
                log.error("recording delivery outcomes failed", error=str(exc),
                          error_type=type(exc).__name__, count=len(batch))
            finally:
                for _ in batch:
                    self._outcomes.task_done()

    async def _in_tx(self, work: Callable[[asyncpg.Connection], Any]) -> None:
        """Record an outcome, insisting a little: every failure here widens the window in which
        a crash would make the delivery go out twice."""
        for attempt in range(5):
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    await work(conn)
                return
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
                log.warning("recording a delivery outcome failed; retrying", error=str(exc))
                await asyncio.sleep(0.2 * 2 ** attempt)
        log.error("delivery outcome not recorded; it will be retried after its lease")

@contextlib.asynccontextmanager
async def dispatcher_worker(runtime: ServiceRuntime) -> AsyncIterator[Dispatcher]:
    """The service's background worker: started once the runtime is (it needs the pool),
    stopped before the runtime closes the pool. Offered to the routes as
    `runtime.components[DISPATCHER]`."""
    settings = cast("NotificationsSettings", runtime.settings)
    box = settings.secret_box()
    async with runtime.db.acquire() as conn, conn.transaction():
        await commands.seal_secrets_at_rest(conn, box)
    webhooks = WebhookSender(settings.address_policy(), box,
                             timeout_seconds=settings.webhook_timeout_seconds)
    dispatcher = Dispatcher(
        runtime.db, dsn=settings.database_url.get_secret_value(),
        policy=settings.dispatch_policy(), mail_settings=settings.mail_settings(),
        renderer=Renderer(settings.templates_dir, settings.space_timezone), clock=runtime.clock,
        webhooks=webhooks)
    task = asyncio.create_task(dispatcher.run(), name="dispatcher")
    runtime.components[DISPATCHER] = dispatcher
    try:
        yield dispatcher
    finally:
        runtime.components.pop(DISPATCHER, None)
        await dispatcher.stop()
        task.cancel()
        # Bounded too: the loop's LISTEN connection may be slow to close.
        await asyncio.wait([task], timeout=5)


def _payload(row: asyncpg.Record) -> dict[str, Any]:
    value = row["payload"]
    return json.loads(value) if isinstance(value, str) else dict(value)
