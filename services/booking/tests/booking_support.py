from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from cowork.booking import handlers
from cowork.booking.app import BookingSettings, create_app
from cowork.devtools import Infra, ManualClock
from cowork.shared.auth import issue_token
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev
from cowork.shared.service import ServiceRuntime
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

# Monday 1 March 2027, 08:00 in Rome (CET, UTC+1).
MONDAY_8AM = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)

SPACE = {"name": "Biblioteca Civica", "address": "Via Marconi 36, Novi Ligure",
         "timezone": "Europe/Rome",
         "opening_hours": {d: [["08:00", "19:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
         "closures": ["08-05", "2027-03-10"]}
DESK = {"name": "Hot desk 1", "kind": "hot_desk", "price_per_hour_cents": 300,
        "price_per_day_cents": 1500, "slot_minutes": 30, "min_minutes": 60, "max_minutes": 660,
        "advance_days": 60}
ROOM = {"name": "Sala Marconi", "kind": "meeting_room", "seats": 10, "price_per_hour_cents": 2500,
        "slot_minutes": 30, "min_minutes": 30, "max_minutes": 480, "advance_days": 90,
        "buffer_minutes": 15}


def rome(day: int, hour: int, minute: int = 0, month: int = 3) -> str:
    """A March 2027 time in Rome (UTC+1), as a client would send it."""
    return f"2027-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00+01:00"


@dataclass
class Booking:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    clock: ManualClock
    topic_prefix: str
    bootstrap: str

    def staff(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub="staff-1",
                                                         roles=["staff"])}

    def member(self, member_id: UUID | str) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET,
                                                         sub=str(member_id), roles=["member"])}

    async def space(self, **change: Any) -> dict[str, Any]:
        response = await self.client.post("/v1/spaces", json={**SPACE, **change},
                                          headers=self.staff())
        assert response.status_code == 201, response.text
        return response.json()

    async def resource(self, space_id: str, **fields: Any) -> dict[str, Any]:
        response = await self.client.post(f"/v1/spaces/{space_id}/resources",
                                          json={**DESK, **fields}, headers=self.staff())
        assert response.status_code == 201, response.text
        return response.json()

    async def member_with(self, member_id: UUID | None = None, **plan: Any) -> UUID:
        """A member (new, or the one given) with an active membership, applied through the
        real event handler."""
        member_id = member_id or uuid4()
        event = ev.MembershipActivated(**{
            "membership_id": uuid4(), "member_id": member_id, "plan_code": "monthly",
            "plan_kind": "monthly", "resource_kinds": ["hot_desk", "meeting_room"],
            "period_start": date(2027, 3, 1), "period_end": date(2027, 3, 31),
            "price_cents": 15000, **plan})
        async with self.runtime.db.acquire() as conn, conn.transaction():
            await handlers.on_activated(conn, Envelope.wrap(event, source="/cowork/membership"))
        return member_id

    async def book(self, member_id: UUID, resource_id: str, start: str, end: str,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(
            "/v1/bookings", json={"member_id": str(member_id), "resource_id": resource_id,
                                  "start": start, "end": end},
            headers=headers or self.member(member_id))


@pytest.fixture
async def svc(infra: Infra, database_url: str, topic_prefix: str) -> AsyncIterator[Booking]:
    clock = ManualClock(MONDAY_8AM)
    settings = BookingSettings(database_url=database_url, kafka_bootstrap=infra.kafka_bootstrap,
                               topic_prefix=topic_prefix, run_scheduler=False,
                               outbox_poll_seconds=0.2, log_json=False, db_pool_max=30)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://booking") as client:
            yield Booking(client, app.state.runtime, clock, topic_prefix, infra.kafka_bootstrap)
