"""The community service on real PostgreSQL and Kafka for the statistics tests: events applied
through the real handlers, the clock in the test's hands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cowork.community import handlers
from cowork.community.app import CommunitySettings, create_app
from cowork.devtools import Infra, ManualClock
from cowork.shared.auth import issue_token
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev
from cowork.shared.service import ServiceRuntime
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

APRIL_2ND = datetime(2027, 4, 2, 9, 0, tzinfo=UTC)


def token(*roles: str, sub: str = "someone") -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub=sub,
                                                     roles=list(roles))}


@dataclass
class Stats:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    clock: ManualClock

    async def deliver(self, event: ev.DomainEvent, at: datetime | None = None) -> None:
        """Apply an event through the real handler, in a transaction, as the consumer does."""
        envelope = Envelope.wrap(event, source="/cowork/test", time=at or self.clock())
        handler: Any = handlers.STATISTICS_HANDLERS[event.event_type]
        async with self.runtime.db.acquire() as conn, conn.transaction():
            await handler(conn, envelope)

    async def build(self, period: str) -> httpx.Response:
        return await self.client.post(f"/v1/open-data/build?period={period}",
                                      headers=token("officer"))


@pytest.fixture
async def stats(infra: Infra, database_url: str, topic_prefix: str) -> AsyncIterator[Stats]:
    clock = ManualClock(APRIL_2ND)
    settings = CommunitySettings(database_url=database_url, kafka_bootstrap=infra.kafka_bootstrap,
                                 topic_prefix=topic_prefix, run_scheduler=False,
                                 run_consumers=False, outbox_poll_seconds=0.2, log_json=False,
                                 public_base_url="https://cowork.example.org")
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://community") as client:
            yield Stats(client, app.state.runtime, clock)
