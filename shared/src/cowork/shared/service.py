"""The service kit: one object that wires a service's pool, migrations, topics, outbox relay,
consumers and scheduler, and the FastAPI app around its routers.

A service's `app.py` builds a `ServiceRuntime` with what it owns and hands its routers to
`create_app`; the lifespan starts everything in order and stops it in reverse on SIGTERM
(uvicorn turns SIGTERM into a lifespan shutdown): the HTTP server stops taking requests, the
consumers finish the batch in hand and commit, the relay and scheduler finish their transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker

from cowork.shared import db
from cowork.shared.auth import Authenticator
from cowork.shared.consumer import EventConsumer, Handler, RetryPolicy
from cowork.shared.events.topics import TopicSpec, dlq_topic, spec_for
from cowork.shared.http import health_router, install_error_handlers, install_metrics_middleware
from cowork.shared.kafka import ensure_topics, reliable_producer
from cowork.shared.logging import configure_logging, get_logger
from cowork.shared.outbox import OutboxRelay
from cowork.shared.scheduler import Clock, JobHandler, Scheduler, system_clock
from cowork.shared.settings import ServiceSettings

log = get_logger(__name__)


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topics: Sequence[str]
    handlers: Mapping[str, Handler]


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

    pool: asyncpg.Pool | None = None
    producer: AIOKafkaProducer | None = None
    broker: KafkaBroker | None = None
    relay: OutboxRelay | None = None
    scheduler: Scheduler | None = None
    event_consumers: list[EventConsumer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

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
        s = self.settings
        dsn = s.database_url.get_secret_value()
        applied = await db.migrate_service(dsn, self.name, self.migrations)
        if applied:
            log.info("migrations applied", migrations=applied)
        self.pool = await db.create_pool(dsn, min_size=s.db_pool_min, max_size=s.db_pool_max)
        await ensure_topics(s.kafka_bootstrap, self.topic_specs(), prefix=s.topic_prefix,
                            replication_factor=s.topic_replication_factor, config=s.topic_config)
        self.producer = reliable_producer(s.kafka_bootstrap, client_id=f"cowork-{self.name}")
        await self.producer.start()
        if s.run_relay:
            self.relay = OutboxRelay(self.pool, self.producer, topic_prefix=s.topic_prefix,
                                     batch_size=s.outbox_batch_size,
                                     poll_seconds=s.outbox_poll_seconds, service=self.name,
                                     retention_hours=s.outbox_retention_hours)
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if s.run_consumers and self.consumers:
            self.broker = KafkaBroker(s.kafka_bootstrap, client_id=f"cowork-{self.name}",
                                      logger=None)
            retry = RetryPolicy(s.consumer_max_attempts, s.consumer_retry_base_seconds,
                                s.consumer_retry_max_seconds)
            for spec in self.consumers:
                consumer = EventConsumer(
                    name=spec.name, service=self.name, pool=self.pool, producer=self.producer,
                    topics=spec.topics, handlers=spec.handlers, dlq_topic=dlq_topic(self.name),
                    topic_prefix=s.topic_prefix, retry=retry, batch_size=s.consumer_batch_size,
                )
                consumer.register(self.broker)
                self.event_consumers.append(consumer)
            await self.broker.start()
        if s.run_scheduler and self.jobs:
            self.scheduler = Scheduler(self.pool, self.jobs, clock=self.clock,
                                       poll_seconds=s.scheduler_poll_seconds, service=self.name)
            self._tasks.append(asyncio.create_task(self.scheduler.run(), name="scheduler"))
        if self.on_started is not None:
            await self.on_started(self)
        log.info("service started", topics=[t.name for t in self.topic_specs()])

    async def stop(self) -> None:
        if self.broker is not None:
            await self.broker.stop()
        if self.relay is not None:
            self.relay.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        self._tasks.clear()
        if self.producer is not None:
            await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()
        log.info("service stopped")

    async def check_database(self) -> None:
        async with self.db.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def check_kafka(self) -> None:
        assert self.producer is not None
        await asyncio.wait_for(self.producer.client.fetch_all_metadata(), 5)

    def authenticator(self) -> Authenticator:
        return Authenticator(self.settings.jwt_secret.get_secret_value(), self.settings.jwt_issuer)

    def create_app(self, *, title: str, routers: Sequence[APIRouter], version: str = "1.0.0",
                   description: str = "", **state: Any) -> FastAPI:
        configure_logging(self.name, self.settings.log_level, json=self.settings.log_json)

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        app = FastAPI(title=title, version=version, description=description, lifespan=lifespan)
        app.state.runtime = self
        for key, value in state.items():
            setattr(app.state, key, value)
        install_error_handlers(app)
        install_metrics_middleware(app, self.name)
        app.include_router(health_router({"postgres": self.check_database,
                                          "kafka": self.check_kafka}))
        for router in routers:
            app.include_router(router)
        return app


def run_service_cli(argv: Sequence[str], *, settings: ServiceSettings, migrations: Path,
                    create_app: Callable[[Any], FastAPI]) -> int:
    """`python -m cowork.<service> [serve|migrate]`: serve with uvicorn (SIGTERM is a graceful
    lifespan shutdown), or apply the migrations and exit (a Kubernetes Job)."""
    import uvicorn

    command = argv[0] if argv else "serve"
    if command == "migrate":
        applied = asyncio.run(db.migrate_service(settings.database_url.get_secret_value(),
                                                 settings.service_name, migrations))
        print("\n".join(applied) or "nothing to apply")
        return 0
    if command == "serve":
        uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                    log_level="warning", timeout_graceful_shutdown=20)
        return 0
    print(f"usage: python -m cowork.{settings.service_name} [serve|migrate], not {command!r}",
          file=sys.stderr)
    return 2
