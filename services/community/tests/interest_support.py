"""The community service on real PostgreSQL and Kafka, for the interest and erasure tests,
driven through its HTTP API with the clock in the test's hands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest

from cowork.community.app import CommunitySettings, create_app
from cowork.devtools import Infra, ManualClock
from cowork.shared.auth import issue_token
from cowork.shared.service import ServiceRuntime
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

# Monday 1 March 2027, 10:00 in Rome.
MARCH_1ST = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PUBLIC = "https://cowork.comune.novi-ligure.example"

FORM: dict[str, Any] = {
    "who": "partita_iva", "residence_istat": "006114", "desk_kinds": ["hot_desk"],
    "weekdays": ["mon", "wed"], "time_bands": ["morning"], "frequency": "weekly",
    "would_help_run": True, "consents": {"privacy": True},
}


def token(sub: str, *roles: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub=sub,
                                                     roles=list(roles))}


OFFICER = token("officer-1", "officer")
STAFF = token("staff-1", "staff")


def new_address() -> str:
    """A made-up address per test (conftest's log check matches any at example.org)."""
    return f"Cittadino.{uuid4().hex[:10]}@Example.org"


@dataclass
class Community:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    clock: ManualClock

    async def interest(self, **change: Any) -> str:
        response = await self.client.post("/v1/interest", json={**FORM, **change})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def summary(self, **params: str) -> dict[str, Any]:
        response = await self.client.get("/v1/interest/summary", params=params,
                                         headers=OFFICER)
        assert response.status_code == 200, response.text
        return response.json()

    async def request_erasure(self, email: str, **extra: Any) -> httpx.Response:
        return await self.client.post("/v1/erasure-requests", json={"email": email, **extra})

    async def outbox(self, event_type: str) -> list[dict[str, Any] | None]:
        rows = await self.runtime.db.fetch(
            "SELECT payload FROM outbox WHERE type = $1 ORDER BY seq", event_type)
        return [r["payload"] for r in rows]

    async def erase_link(self) -> str:
        """The token of the last erasure link written to the contacts topic."""
        cards = [c for c in await self.outbox("cowork.community.contact.v1") if c]
        link = cards[-1]["links"]["erase"]
        assert link.startswith(f"{PUBLIC}/erasure/confirm?token=")
        return str(link.split("token=", 1)[1])

    async def confirm(self, token_: str) -> httpx.Response:
        return await self.client.post("/v1/erasure-requests/confirm",
                                      params={"token": token_})


@pytest.fixture
async def community(infra: Infra, database_url: str, topic_prefix: str
                    ) -> AsyncIterator[Community]:
    clock = ManualClock(MARCH_1ST)
    settings = CommunitySettings(database_url=database_url,
                                 kafka_bootstrap=infra.kafka_bootstrap,
                                 topic_prefix=topic_prefix, run_scheduler=False,
                                 run_consumers=False, outbox_poll_seconds=0.2, log_json=False,
                                 public_base_url=PUBLIC)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://community") as client:
            yield Community(client, app.state.runtime, clock)
