"""The service kit: one object that wires a service's pool, migrations, topics, outbox relay,
consumers and scheduler, and the FastAPI app around its routers.

A service's `app.py` builds a `ServiceRuntime` with what it owns and hands its routers to
`create_app`; the lifespan starts everything in order and stops it in reverse on SIGTERM
(uvicorn turns SIGTERM into a lifespan shutdown): the HTTP server stops taking requests, the
consumers finish the batch in hand and wait for its offset commit (a batch that outlasts the
stop is cut short and redelivered to the inbox), the relay and scheduler finish their
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from cowork.shared import db, tracing
from cowork.shared.auth import Authenticator
from cowork.shared.consumer import EventConsumer, Handler, RetryPolicy
from cowork.shared.events.topics import TopicSpec, dlq_topic, spec_for
from cowork.shared.http import health_router, install_error_handlers, install_metrics_middleware
from cowork.shared.jobs_api import jobs_router
from cowork.shared.kafka import (
    KafkaWatch,
    ResilientProducer,
    ensure_topics,
    reliable_producer,
    roll_compacted,
)
from cowork.shared.logging import configure_logging, get_logger
from cowork.shared.relay import OutboxRelay, measure_backlog
from cowork.shared.retention import Retention, purge
from cowork.shared.scheduler import Clock, JobHandler, Scheduler, measure_jobs, system_clock
from cowork.shared.settings import ServiceSettings
from cowork.shared.transport import FetchLoop

log = get_logger(__name__)


def freeze_startup_heap() -> None:
    """Move everything alive after startup — modules, pydantic schemas, FastAPI's routes,
    settings — out of the cyclic garbage collector's sight (`gc.freeze`). Those objects live
    as long as the process, yet every full collection walked them all: on a busy consumer that
    cost about a third of its CPU per event (docs/benchmarks/history.md, 2026-11-28). Objects made
    later are collected as before."""
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topics: Sequence[str]
    handlers: Mapping[str, Handler]


# A background worker of a service (the notifications dispatcher): given the started runtime,
# an async context that runs the worker while it is open. Workers start after the runtime and
# stop before it, in reverse order; what a worker offers the routes it puts in
# `runtime.components` (the dispatcher's wake-up, say).
Worker = Callable[["ServiceRuntime"], AbstractAsyncContextManager[Any]]


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    migrations: Path
    publishes: Sequence[str] = ()
    consumers: Sequence[ConsumerSpec] = ()
    jobs: Mapping[str, JobHandler] = field(default_factory=dict)
    clock: Clock = system_clock
    # Run once everything has started (demo data, warm-ups); it may use the pool and the outbox.
    on_started: Callable[[ServiceRuntime], Awaitable[None]] | None = None
    workers: Sequence[Worker] = ()
    # What the service's routes need besides the pool and settings, by name (set by workers).
    components: dict[str, Any] = field(default_factory=dict)

    pool: asyncpg.Pool | None = None
    producer: ResilientProducer | None = None
    kafka_watch: KafkaWatch | None = None
    fetch_loops: list[FetchLoop] = field(default_factory=list)
    relay: OutboxRelay | None = None
    scheduler: Scheduler | None = None
    event_consumers: list[EventConsumer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Cancelled at stop: they may be waiting for Kafka forever.
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.settings.service_name

    @property
    def source(self) -> str:
        return f"/cowork/{self.name}"

    @property
    def db(self) -> asyncpg.Pool:
        assert self.pool is not None, "the runtime is not started"
        return self.pool

    def topic_specs(self) -> list[TopicSpec]:
        names = set(self.publishes)
        for spec in self.consumers:
            names.update(spec.topics)
        specs = [spec_for(n) for n in sorted(names)]
        if self.consumers:
            specs.append(TopicSpec(dlq_topic(self.name)))
        return [replace(spec, partitions=self.settings.topic_partitions) for spec in specs]

    async def start(self) -> None:
        """The database is required; Kafka is not. A service starts, answers and takes writes
        while Kafka is away (the outbox keeps the events); a background task creates the
        topics and starts the relay and the consumers as soon as Kafka answers."""
        s = self.settings
        dsn = s.database_url.get_secret_value()
        applied = await db.migrate_service(dsn, self.name, self.migrations)
        if applied:
            log.info("migrations applied", migrations=applied)
        self.pool = await db.create_pool(dsn, min_size=s.db_pool_min, max_size=s.db_pool_max)
        self.producer = ResilientProducer(
            lambda: reliable_producer(s.kafka_bootstrap, client_id=f"cowork-{self.name}"))
        if s.run_relay:
            self.relay = OutboxRelay(self.pool, self.producer, topic_prefix=s.topic_prefix,
                                     batch_size=s.outbox_batch_size,
                                     poll_seconds=s.outbox_poll_seconds, service=self.name,
                                     retention_hours=s.outbox_retention_hours,
                                     in_flight=min(s.outbox_in_flight_batches, 5))
        if s.run_consumers and self.consumers:
            retry = RetryPolicy(s.consumer_max_attempts, s.consumer_retry_base_seconds,
                                s.consumer_retry_max_seconds)
            for spec in self.consumers:
                self.event_consumers.append(EventConsumer(
                    name=spec.name, service=self.name, pool=self.pool, producer=self.producer,
                    topics=spec.topics, handlers=spec.handlers, dlq_topic=dlq_topic(self.name),
                    topic_prefix=s.topic_prefix, retry=retry, batch_size=s.consumer_batch_size,
                ))
        self.kafka_watch = KafkaWatch(
            s.kafka_bootstrap, service=self.name,
            groups={c.name: (c.group_id, c.subscribed_topics) for c in self.event_consumers})
        if s.run_scheduler and self.jobs:
            self.scheduler = Scheduler(self.pool, self.jobs, clock=self.clock,
                                       poll_seconds=s.scheduler_poll_seconds, service=self.name,
                                       max_attempts=s.scheduler_max_attempts)
            self._tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        self._background.append(asyncio.create_task(self._connect_kafka(), name="kafka-connect"))
        self._background.append(asyncio.create_task(self._watch(), name="watch"))
        if self.on_started is not None:
            await self.on_started(self)
        freeze_startup_heap()
        log.info("service started", topics=[t.name for t in self.topic_specs()])

    async def _connect_kafka(self) -> None:
        """Topics first (a relay sending to a missing topic only waits), then the relay and
        the consumers; retried with back-off for as long as Kafka stays away."""
        s = self.settings
        backoff = 0.5
        while True:
            try:
                await ensure_topics(s.kafka_bootstrap, self.topic_specs(), prefix=s.topic_prefix,
                                    timeout=10, replication_factor=s.topic_replication_factor,
                                    config=s.topic_config,
                                    compaction_bound_ms=s.topic_compaction_bound_ms)
                break
            except Exception as exc:
                log.warning("kafka not reachable; retrying", error_type=type(exc).__name__,
                            backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        if self.relay is not None:
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
            self._background.append(asyncio.create_task(self._roll_compacted(),
                                                        name="roll-compacted"))
        for consumer in self.event_consumers:
            self.fetch_loops.append(await self._start_fetch_loop(consumer))
        log.info("kafka connected")

    async def _start_fetch_loop(self, consumer: EventConsumer) -> FetchLoop:
        backoff = 0.5
        while True:
            loop = FetchLoop.connect(consumer, self.settings.kafka_bootstrap,
                                     client_id=f"cowork-{self.name}")
            try:
                await loop.start()
                return loop
            except Exception as exc:
                log.warning("consumer could not start; retrying", consumer=consumer.name,
                            error_type=type(exc).__name__, backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _roll_compacted(self) -> None:
        """A marker on the compacted topics this service publishes to, every quarter of the
        compaction bound: the append rolls their active segment, which Kafka never compacts,
        so an erased member's card leaves the log within the bound even on a quiet topic."""
        s = self.settings
        compacted = [s.topic(spec.name) for spec in self.topic_specs()
                     if spec.compacted and spec.name in self.publishes]
        while compacted:
            await asyncio.sleep(s.topic_compaction_bound_ms / 4000)
            try:
                assert self.producer is not None
                await roll_compacted(self.producer, compacted)
            except Exception as exc:
                log.warning("rolling compacted topics failed; next round",
                            error_type=type(exc).__name__)

    async def _watch(self) -> None:
        """On a timer, whatever the relay and the consumers are doing: gauges measured from
        the database and the broker (outbox backlog, Kafka up, consumer lag, held keys and
        parked records), the release of keys whose dead letter an operator discarded, and
        retention (every PURGE_INTERVAL_SECONDS)."""
        s = self.settings
        retention = Retention(outbox_hours=s.outbox_retention_hours,
                              outbox_parked_hours=s.outbox_parked_retention_hours,
                              inbox_hours=s.inbox_retention_hours,
                              scheduled_jobs_hours=s.scheduled_jobs_retention_hours,
                              batch_size=s.purge_batch_size)
        last_purge = float("-inf")
        while True:
            try:
                await measure_backlog(self.db, self.name)
                if self.jobs:
                    await measure_jobs(self.db, self.name, list(self.jobs), self.clock())
                for consumer in self.event_consumers:
                    await consumer.release_discarded()
                    await consumer.measure_held()
                if time.monotonic() - last_purge >= s.purge_interval_seconds:
                    last_purge = time.monotonic()
                    purged = await purge(self.db, retention, service=self.name)
                    if any(purged.values()):
                        log.info("retention purge", **purged)
            except Exception as exc:
                log.warning("housekeeping failed; next round", error_type=type(exc).__name__,
                            error=str(exc)[:500])
            assert self.kafka_watch is not None
            await self.kafka_watch.sample()
            await asyncio.sleep(s.kafka_watch_seconds)

    async def stop(self) -> None:
        # Every step is bounded: a stop that waits for ever on one part (a task that will not
        # end, a client that will not close) keeps the process up until it is killed.
        for task in self._background:
            task.cancel()
            await _bounded(task, "background task")
        self._background.clear()
        await _bounded(asyncio.gather(*(loop.stop() for loop in self.fetch_loops)),
                       "fetch loops")
        self.fetch_loops.clear()
        if self.relay is not None:
            self.relay.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        self._tasks.clear()
        if self.kafka_watch is not None:
            await _bounded(self.kafka_watch.close(), "kafka watch")
        if self.producer is not None:
            await _bounded(self.producer.stop(), "producer")
        if self.pool is not None:
            await close_pool(self.pool)
        log.info("service stopped")

    async def check_database(self) -> None:
        async with self.db.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def check_kafka(self) -> None:
        """Kafka answers now (a fresh sample); raises when it does not."""
        assert self.kafka_watch is not None, "the runtime is not started"
        if not await self.kafka_watch.sample():
            raise ConnectionError(f"kafka unavailable: {self.kafka_watch.last_error}")

    def kafka_router(self) -> APIRouter:
        """`/healthz/kafka`: Kafka's own probe, apart from readiness. While Kafka is away the
        API keeps taking writes (the outbox holds their events), so a pod must stay in its
        Service: alert on this probe or on `cowork_kafka_up`, never take the pod out for it."""
        router = APIRouter(tags=["operations"])

        @router.get("/healthz/kafka", operation_id="kafka_health")
        async def kafka_health() -> Response:
            watch = self.kafka_watch
            if watch is not None and await watch.sample():
                return JSONResponse({"status": "ok"})
            error = watch.last_error if watch is not None else "not started"
            return JSONResponse({"status": "unavailable", "error": error}, status_code=503)

        return router

    def create_app(self, *, title: str, routers: Sequence[APIRouter], version: str = "1.0.0",
                   description: str = "", **state: Any) -> FastAPI:
        configure_logging(self.name, self.settings.log_level, json=self.settings.log_json)

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                async with AsyncExitStack() as workers:
                    for worker in self.workers:
                        await workers.enter_async_context(worker(self))
                    yield
            finally:
                await self.stop()

        app = FastAPI(title=title, version=version, description=description, lifespan=lifespan)
        app.state.runtime = self
        app.state.authenticator = Authenticator.from_settings(self.settings)
        if tracing.configure(self.name):
            tracing.instrument(app)
        for key, value in state.items():
            setattr(app.state, key, value)
        install_error_handlers(app)
        install_metrics_middleware(app, self.name)
        # Ready = what the API needs to answer: its database. Kafka has its own probe.
        app.include_router(health_router({"postgres": self.check_database}))
        app.include_router(self.kafka_router())
        for router in routers:
            app.include_router(router)
        if self.jobs:  # operators see and retry the jobs parked as failed
            app.include_router(jobs_router())
        return app


# `async def`, as every dependency on a hot path: FastAPI runs a plain `def` dependency in a
# worker thread, a hand-off that cost more than the booking's rules (docs/benchmarks/history.md).
async def current_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


# What a route declares to reach its service: `runtime: Runtime` (pool, clock, settings).
Runtime = Annotated[ServiceRuntime, Depends(current_runtime)]


def run_service_cli(argv: Sequence[str], *, settings: ServiceSettings, migrations: Path,
                    create_app: Callable[[Any], FastAPI]) -> int:
    """`python -m cowork.<service> [serve|migrate|after-restore]`: serve with uvicorn (SIGTERM
    is a graceful lifespan shutdown), apply the migrations and exit (a Kubernetes Job), or
    the restore procedure's step for a database put back from a backup (docs/operations.md):
    a new outbox epoch, and where the consumers will resume."""
    import uvicorn

    command = argv[0] if argv else "serve"
    if command == "after-restore":
        dsn = settings.database_url.get_secret_value()
        asyncio.run(db.migrate_service(dsn, settings.service_name, migrations))
        epoch = asyncio.run(db.after_restore(dsn))
        print(f"outbox epoch redrawn: {epoch} (events from now on are newer than any the "
              "consumers hold)")
        for line in asyncio.run(db.consumer_positions(dsn)):
            print(line)
        return 0
    if command == "migrate":
        applied = asyncio.run(db.migrate_service(settings.database_url.get_secret_value(),
                                                 settings.service_name, migrations))
        print("\n".join(applied) or "nothing to apply")
        return 0
    if command == "serve":
        uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                    log_level="warning", timeout_graceful_shutdown=20)
        return 0
    print(f"usage: python -m cowork.{settings.service_name} [serve|migrate|after-restore], "
          f"not {command!r}", file=sys.stderr)
    return 2


async def _bounded(step: Awaitable[Any], what: str, timeout: float = 10.0) -> None:
    """One step of a stop: waited for at most `timeout`, its failure logged, never raised."""
    try:
        await asyncio.wait_for(step, timeout)
    except asyncio.CancelledError:
        pass  # a cancelled background task ends this way
    except TimeoutError:
        log.warning("stop step did not end in time; going on", step=what, timeout_s=timeout)
    except Exception as exc:
        log.warning("stop step failed; going on", step=what, error_type=type(exc).__name__)


async def close_pool(pool: asyncpg.Pool, timeout: float = 15.0) -> None:
    """Close gracefully, but never hang a shutdown: `Pool.close` waits for every connection to
    be released, so one still held by a task that outlived its stop (cancelled mid-query, say)
    would keep the process up until Kubernetes kills it. After `timeout`, terminate."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except TimeoutError:
        log.warning("database pool did not close in time; terminating its connections",
                    timeout_s=timeout)
        pool.terminate()
