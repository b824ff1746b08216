"""The community service on real PostgreSQL and Kafka, driven through its HTTP API, with the
clock in the test's hands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse
from uuid import UUID, uuid4

import httpx
import pytest

from cowork.community import commands
from cowork.community.app import CommunitySettings, create_app
from cowork.devtools import Infra, ManualClock
from cowork.shared.auth import issue_token
from cowork.shared.events import contracts as ev
from cowork.shared.scheduler import Scheduler
from cowork.shared.service import ServiceRuntime
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

# Monday 1 March 2027, 10:00 in Rome (CET, UTC+1).
MARCH_1ST = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PUBLIC = "https://comune.example/cowork"


def token(sub: str, *roles: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub=sub,
                                                     roles=list(roles))}


OFFICER = token("officer-1", "officer")
STAFF = token("staff-1", "staff")


def member() -> dict[str, str]:
    return token(str(uuid4()), "member")


def meeting_body(**change: Any) -> dict[str, Any]:
    start = MARCH_1ST + timedelta(days=14)
    body = {"title": {"it": "Incontro pubblico sul coworking", "en": "Public meeting"},
            "description": {"it": "Chi userebbe lo spazio, chi lo gestirebbe."},
            "address": "Biblioteca Civica, Via Marconi 36, Novi Ligure",
            "start": start.isoformat(), "end": (start + timedelta(hours=3)).isoformat(),
            "capacity": 3, "open_to": "everyone"}
    return {**body, **change}


def person(n: int | str, **change: Any) -> dict[str, Any]:
    return {"full_name": f"Persona {n}", "email": f"persona{n}@example.org",
            "consents": {"privacy": True}, **change}


@dataclass
class Community:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    clock: ManualClock
    topic_prefix: str
    bootstrap: str

    async def meeting(self, **change: Any) -> dict[str, Any]:
        response = await self.client.post("/v1/meetings", json=meeting_body(**change),
                                          headers=OFFICER)
        assert response.status_code == 201, response.text
        return response.json()

    async def read(self, meeting_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/meetings/{meeting_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def register(self, meeting_id: str, n: int | str, headers: dict[str, str] | None = None,
                       **change: Any) -> httpx.Response:
        return await self.client.post(f"/v1/meetings/{meeting_id}/registrations",
                                      json=person(n, **change), headers=headers or {})

    async def registered(self, meeting_id: str, n: int | str) -> dict[str, Any]:
        response = await self.register(meeting_id, n)
        assert response.status_code == 201, response.text
        return response.json()

    async def card(self, registration_id: str) -> dict[str, Any]:
        """The contact card written for a registration (the mail's data)."""
        payload = await self.runtime.db.fetchval(
            "SELECT payload FROM outbox WHERE type = $1 AND aggregateid = $2 "
            "AND payload IS NOT NULL ORDER BY seq LIMIT 1",
            ev.CommunityContact.event_type, registration_id)
        assert payload is not None
        return payload

    async def link_token(self, registration_id: str, which: str) -> str:
        link = (await self.card(registration_id))["links"][which]
        assert link.startswith(f"{PUBLIC}/registrations/{which}?token=")
        return parse_qs(urlparse(link).query)["token"][0]

    async def confirm(self, registration_id: str) -> httpx.Response:
        tok = await self.link_token(registration_id, "confirm")
        return await self.client.get("/v1/registrations/confirm", params={"token": tok})

    async def cancel(self, registration_id: str) -> httpx.Response:
        tok = await self.link_token(registration_id, "cancel")
        return await self.client.post("/v1/registrations/cancel", params={"token": tok})

    async def registrations(self, meeting_id: str) -> dict[str, dict[str, Any]]:
        response = await self.client.get(f"/v1/meetings/{meeting_id}/registrations",
                                         headers=STAFF)
        assert response.status_code == 200, response.text
        return {r["id"]: r for r in response.json()["items"]}

    async def outbox(self, event_type: type[ev.DomainEvent]) -> list[dict[str, Any]]:
        rows = await self.runtime.db.fetch("SELECT payload FROM outbox WHERE type = $1 "
                                           "AND payload IS NOT NULL ORDER BY seq",
                                           event_type.event_type)
        return [r["payload"] for r in rows]

    async def tombstones(self) -> set[str]:
        rows = await self.runtime.db.fetch(
            "SELECT aggregateid FROM outbox WHERE type = $1 AND payload IS NULL",
            ev.CommunityContact.event_type)
        return {r["aggregateid"] for r in rows}

    async def run_jobs(self) -> int:
        settings: Any = self.runtime.settings
        return await Scheduler(self.runtime.db, commands.jobs(settings),
                               clock=self.clock).run_due()


def settings_for(infra: Infra, database_url: str, topic_prefix: str,
                 run_consumers: bool = False, **change: Any) -> CommunitySettings:
    return CommunitySettings(database_url=database_url, kafka_bootstrap=infra.kafka_bootstrap,
                             topic_prefix=topic_prefix, run_scheduler=False,
                             run_consumers=run_consumers, outbox_poll_seconds=0.2,
                             log_json=False, db_pool_max=20, public_base_url=PUBLIC,
                             registration_hold_hours=48, **change)


@asynccontextmanager
async def running(infra: Infra, database_url: str, topic_prefix: str,
                  **change: Any) -> AsyncIterator[Community]:
    """The service with `settings_for`'s settings and `change`, its clock at MARCH_1ST; every
    request comes from one client (the test)."""
    clock = ManualClock(MARCH_1ST)
    app = create_app(settings_for(infra, database_url, topic_prefix, **change), clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://community") as client:
            yield Community(client, app.state.runtime, clock, topic_prefix, infra.kafka_bootstrap)


@pytest.fixture
async def svc(infra: Infra, database_url: str, topic_prefix: str) -> AsyncIterator[Community]:
    async with running(infra, database_url, topic_prefix) as community:
        yield community


__all__ = [
    "MARCH_1ST",
    "OFFICER",
    "STAFF",
    "UUID",
    "Community",
    "meeting_body",
    "member",
    "person",
    "running",
    "svc",
    "token",
]
