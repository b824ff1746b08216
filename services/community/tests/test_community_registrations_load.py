"""1,000 citizens registering at once for 100 seats, on real PostgreSQL through the HTTP API:
exactly 100 hold a seat, 900 wait with positions 1..900, and the meeting's count agrees."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from community_support import Community, running

from cowork.devtools import Infra
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra, pytest.mark.slow]


@pytest.fixture
async def svc(infra: Infra, database_url: str, topic_prefix: str) -> AsyncIterator[Community]:
    """The 1,000 citizens all come from the test: the per-client limits raised for them."""
    async with running(infra, database_url, topic_prefix, registration_limit_per_meeting=1000,
                       registration_limit_per_client=1000) as community:
        yield community


async def test_1000_concurrent_registrations_for_100_seats(svc: Community) -> None:
    meeting = await svc.meeting(capacity=100)
    answers = await asyncio.gather(*(svc.register(meeting["id"], n) for n in range(1000)))
    assert {a.status_code for a in answers} == {201}
    bodies = [a.json() for a in answers]
    holding = [b for b in bodies if b["status"] == "pending_confirmation"]
    waiting = [b for b in bodies if b["status"] == "waitlisted"]
    assert len(holding) == 100
    assert sorted(b["position"] for b in waiting) == list(range(1, 901))
    assert (await svc.read(meeting["id"]))["seats_left"] == 0
    held_rows = await svc.runtime.db.fetchval(
        "SELECT count(*) FROM meeting_registrations WHERE meeting_id = $1 AND holds_seat",
        meeting["id"])
    assert held_rows == 100
    assert len(await svc.outbox(ev.RegistrationRequested)) == 1000
