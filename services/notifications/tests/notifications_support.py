"""Test helpers of the notifications service: the service on real Kafka and PostgreSQL, a real
local SMTP server (aiosmtpd) and a real local HTTP receiver (uvicorn) for webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
import uvicorn

from cowork.devstack.mailsink import EmlWriter, listening
from cowork.devtools import Infra, free_port
from cowork.devtools.kafka import publish
from cowork.notifications.app import NotificationsSettings, create_app
from cowork.notifications.dispatcher import DISPATCHER, Dispatcher
from cowork.shared.auth import issue_token
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev
from cowork.shared.scheduler import Scheduler
from cowork.shared.service import ServiceRuntime
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

SOURCES = {"membership": "/cowork/membership", "booking": "/cowork/booking",
           "vouchers": "/cowork/vouchers", "community": "/cowork/community"}


class OffsetClock:
    """The wall clock moved by hand: time passes as usual (so retries with backoff happen by
    themselves) and a test jumps ahead to make a reminder fall due, without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


def bearer(role: str, sub: str = "someone") -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub=sub, roles=[role])}


# -- a real SMTP server


@dataclass
class SmtpSink:
    port: int
    writer: EmlWriter

    @property
    def messages(self) -> list[Message]:
        return list(self.writer.messages)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in str(m["To"])]


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[SmtpSink]:
    port = free_port()
    with listening(tmp_path / "mail", port) as writer:
        yield SmtpSink(port, writer)


# -- a real HTTP receiver for webhooks


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


# 64 MiB of zeros, gzipped once (~64 KiB): what a hostile receiver answers to inflate memory.
_GZIP_BOMB = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)


@dataclass
class Receiver:
    """Answers `/ok/...` with 204, `/fail/...` with 500, `/flaky/...` with 500 until `healthy`
    is set, `/missing/...` with 404, never answers `/hang/...`, answers `/trickle/...` with 200
    and a body that keeps coming (1 KiB every 10 ms, for 5 s), and `/bomb/...` with 200 and a
    gzip body that inflates to 64 MiB."""

    port: int
    requests: list[Received] = field(default_factory=list)
    healthy: bool = False
    body_bytes_sent: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, prefix: str) -> list[Received]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Received(scope["path"], headers, body, time.monotonic()))
        if scope["path"].startswith("/hang"):
            await asyncio.sleep(3600)
        if scope["path"].startswith(("/trickle", "/bomb")):
            await self._endless(scope["path"], send)
            return
        if scope["path"].startswith("/missing"):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"not here"})
            return
        failing = scope["path"].startswith("/fail") or (
            scope["path"].startswith("/flaky") and not self.healthy)
        status = 500 if failing else 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


    async def _endless(self, path: str, send: Callable[[dict[str, Any]], Awaitable[None]]
                       ) -> None:
        if path.startswith("/bomb"):
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-encoding", b"gzip"),
                (b"content-length", str(len(_GZIP_BOMB)).encode())]})
            await send({"type": "http.response.body", "body": _GZIP_BOMB})
            self.body_bytes_sent += len(_GZIP_BOMB)
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(500):
            await send({"type": "http.response.body", "body": b"x" * 1024, "more_body": True})
            self.body_bytes_sent += 1024
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    target = Receiver(free_port())
    server = uvicorn.Server(uvicorn.Config(target, host="127.0.0.1", port=target.port,
                                           lifespan="off", log_level="warning",
                                           timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
        await asyncio.sleep(0.02)
    try:
        yield target
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)


# -- the service


@dataclass
class Notifications:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    dispatcher: Dispatcher
    clock: OffsetClock
    topic_prefix: str
    bootstrap: str
    sink: SmtpSink

    async def publish(self, *events: ev.DomainEvent | Envelope) -> list[Envelope]:
        envelopes = [e if isinstance(e, Envelope) else wrap(e) for e in events]
        for envelope in envelopes:
            topic = type(envelope.data).topic if envelope.data is not None else (
                "cowork.membership.contacts")
            await publish(self.bootstrap, self.topic_prefix + topic, [envelope])
        return envelopes

    async def contact(self, member_id: UUID, *, language: str = "it",
                      email: str | None = None, name: str = "Giulia Bianchi") -> str:
        address = email or f"m{member_id.hex[:8]}@example.org"
        await self.publish(ev.ContactCard(member_id=member_id, full_name=name, email=address,
                                          phone=None, language=language))
        await self.until(lambda c: self.has_contact(c, member_id))
        return address

    async def erase(self, member_id: UUID) -> None:
        await self.publish(Envelope(type=ev.ContactCard.event_type,
                                    source=SOURCES["membership"], subject=str(member_id),
                                    data=None))

    @staticmethod
    async def has_contact(conn: asyncpg.Connection, member_id: UUID) -> bool:
        return bool(await conn.fetchval("SELECT count(*) FROM contacts WHERE member_id = $1",
                                        member_id))

    async def until(self, check: Callable[[asyncpg.Connection], Awaitable[Any]],
                    timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            async with self.runtime.db.acquire() as conn:
                result = await check(conn)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.1)

    async def deliveries(self, **where: Any) -> list[asyncpg.Record]:
        clauses = " AND ".join(f"{k} = ${i}" for i, k in enumerate(where, start=1)) or "true"
        async with self.runtime.db.acquire() as conn:
            return await conn.fetch(
                f"SELECT * FROM deliveries WHERE {clauses} ORDER BY created_at",  # noqa: S608
                *where.values())

    async def settled(self, count: int = 1, timeout: float = 30.0, **where: Any
                      ) -> list[asyncpg.Record]:
        """Wait until `count` deliveries matching `where` are settled (sent, dead, cancelled)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = [r for r in await self.deliveries(**where)
                    if r["status"] in ("sent", "dead", "cancelled")]
            if len(rows) >= count:
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(rows)} of {count} deliveries settled: "
                                     f"{[dict(r) for r in await self.deliveries(**where)]}")
            await asyncio.sleep(0.05)

    def scheduler(self) -> Scheduler:
        return Scheduler(self.runtime.db, self.runtime.jobs, clock=self.clock)


def wrap(event: ev.DomainEvent) -> Envelope:
    source = SOURCES[event.topic.split(".")[1]]
    return Envelope.wrap(event, source=source)


def booking_confirmed(member_id: UUID, start: datetime, **change: Any) -> ev.BookingConfirmed:
    return ev.BookingConfirmed(**{
        "booking_id": uuid4(), "member_id": member_id, "space_id": uuid4(),
        "resource_id": uuid4(), "resource_kind": "hot_desk", "start": start,
        "end": start + timedelta(hours=2), "price_cents": 600, "charged_cents": 0, **change})


def settings_for(infra: Infra, database_url: str, topic_prefix: str, smtp_port: int,
                 **change: Any) -> NotificationsSettings:
    values: dict[str, Any] = {
        "database_url": database_url, "kafka_bootstrap": infra.kafka_bootstrap,
        "topic_prefix": topic_prefix, "run_scheduler": False, "outbox_poll_seconds": 0.2,
        "log_json": False, "smtp_port": smtp_port, "smtp_timeout_seconds": 2.0,
        "delivery_retry_base_seconds": 0.2, "delivery_retry_max_seconds": 2.0,
        "delivery_max_attempts": 4, "webhook_timeout_seconds": 1.0,
        "dispatch_poll_seconds": 0.05,
        # The authorization matrix creates a subscription per role and case.
        "webhook_subscriptions_per_partner": 1000, **change}
    return NotificationsSettings(**values)


@contextlib.asynccontextmanager
async def running(settings: NotificationsSettings, clock: OffsetClock, sink: SmtpSink,
                  bootstrap: str) -> AsyncIterator[Notifications]:
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://notifications") as client:
            runtime: ServiceRuntime = app.state.runtime
            yield Notifications(client, runtime, runtime.components[DISPATCHER], clock,
                                settings.topic_prefix, bootstrap, sink)


@pytest.fixture
async def svc(infra: Infra, database_url: str, topic_prefix: str,
              smtp_sink: SmtpSink) -> AsyncIterator[Notifications]:
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as service:
        yield service
