"""A real service process SIGKILLed mid-stream: while it consumes another service's events
(after a restart every event is applied exactly once), while it takes bookings (every booking
that exists has its event on Kafka, and no event exists without its booking), and while its
scheduler marks no-shows (each exactly once, with one event)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest

from cowork.booking import store
from cowork.devtools.kafka import SeenRecord, collect, publish
from cowork.devtools.processes import ServiceProcess, count
from cowork.shared.auth import issue_token
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

pytestmark = [pytest.mark.infra, pytest.mark.slow]

EVENTS = 1500



@contextlib.asynccontextmanager
async def _booking_service(infra, database_url: str, topic_prefix: str
                           ) -> AsyncIterator[ServiceProcess]:
    service = ServiceProcess("booking", database_url, infra.kafka_bootstrap, topic_prefix,
                             CONSUMER_BATCH_SIZE="20")
    await service.start()
    try:
        yield service
    finally:
        service.stop()


async def test_booking_killed_while_replicating_membership_events(infra, database_url,
                                                                 topic_prefix) -> None:
    activations = [Envelope.wrap(ev.MembershipActivated(
        membership_id=uuid.uuid4(), member_id=uuid.uuid4(), plan_code="monthly",
        plan_kind="monthly", resource_kinds=["hot_desk"], period_start=date(2027, 3, 1),
        period_end=date(2027, 3, 31), price_cents=15000), source="/cowork/membership")
        for _ in range(EVENTS)]
    async with _booking_service(infra, database_url, topic_prefix) as booking:
        # Published one by one while the service consumes, so the kill lands mid-stream.
        publishing = asyncio.create_task(publish(
            infra.kafka_bootstrap, topic_prefix + topics.MEMBERSHIP_EVENTS, activations))
        await booking.sigkill_mid_stream("SELECT count(*) FROM eligibility", 20, EVENTS)
        await publishing

        await booking.start()
        for _ in range(600):
            if await count(database_url, "SELECT count(*) FROM inbox") >= EVENTS:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        assert await count(database_url, "SELECT count(*) FROM eligibility") == EVENTS
        assert await count(database_url, "SELECT count(*) FROM inbox") == EVENTS

BOOKINGS = 600


STAFF = {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub="staff",
                                                  roles=["staff"])}


async def _desks_and_members(port: int, database_url: str, count: int
                             ) -> tuple[list[str], list[uuid.UUID]]:
    """`count` hot desks in an always-open space, made through the API, and `count` members
    on an annual plan, written into the replica as `membership.activated` writes them."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=STAFF,
                                 timeout=10) as client:
        space = (await client.post("/v1/spaces", json={
            "name": "Sala prove", "address": "Novi Ligure",
            "opening_hours": {d: [["00:00", "24:00"]] for d in
                              ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})).json()
        desks = [(await client.post(f"/v1/spaces/{space['id']}/resources", json={
            "name": f"Desk {n}", "kind": "hot_desk", "price_per_hour_cents": 300,
            "slot_minutes": 60, "min_minutes": 60, "advance_days": 365})).json()["id"]
            for n in range(count)]
    members = [uuid.uuid4() for _ in range(count)]
    conn = await asyncpg.connect(database_url)
    try:
        for member in members:
            await store.upsert_eligibility(conn, ev.MembershipActivated(
                membership_id=uuid.uuid4(), member_id=member, plan_code="annual",
                plan_kind="annual", resource_kinds=["hot_desk"],
                period_start=date.today() - timedelta(days=1),
                period_end=date.today() + timedelta(days=300), price_cents=140000))
    finally:
        await conn.close()
    return desks, members


async def test_booking_killed_while_taking_bookings(infra, database_url, topic_prefix) -> None:
    """Each booking is written with its event in one statement: whatever instant the process
    dies at, a booking exists with its event or neither does, and the relay (also killed)
    publishes every event after the restart."""
    async with _booking_service(infra, database_url, topic_prefix) as booking:
        desks, members = await _desks_and_members(booking.port, database_url, 20)
        taking = asyncio.create_task(_take_bookings(booking.port,
                                                    _hourly_bookings(members, desks)))
        # mid-request, mid-relay-batch
        booked_at_kill = await booking.sigkill_mid_stream("SELECT count(*) FROM bookings", 100,
                                                          BOOKINGS)
        await booking.start()
        await taking

        booked = await _booking_ids(database_url)
        assert len(booked) > booked_at_kill
        await _one_event_each(infra.kafka_bootstrap, topic_prefix + topics.BOOKING_EVENTS,
                              ev.BookingConfirmed.event_type, booked)

async def test_booking_killed_while_marking_no_shows(infra, database_url, topic_prefix) -> None:
    """The durable scheduler's jobs run once each: the process dies in the middle of marking
    hundreds of no-shows (some jobs done, one maybe half-way in its transaction), and after
    the restart every booking is a no-show with exactly one `booking.no_show` event."""
    async with _booking_service(infra, database_url, topic_prefix) as booking:
        desks, members = await _desks_and_members(booking.port, database_url, 20)
        await _take_bookings(booking.port, _hourly_bookings(members, desks))
        assert await count(database_url, "SELECT count(*) FROM bookings") == BOOKINGS
        # Time passes: every booking's grace period is over. (The job's due time is the
        # scheduler's whole notion of time; the handler reads only the booking.)
        await count(database_url, "WITH due AS (UPDATE scheduled_jobs SET due_at = now() "
                                   "WHERE kind = 'booking.no_show' RETURNING 1) "
                                   "SELECT count(*) FROM due")
        await booking.sigkill_mid_stream(NO_SHOWS, 100, BOOKINGS)

        await booking.start()
        for _ in range(600):
            if await count(database_url, NO_SHOWS) == BOOKINGS:
                break
            await asyncio.sleep(0.1)
        assert await count(database_url, NO_SHOWS) == BOOKINGS
        assert await count(database_url, "SELECT count(*) FROM outbox "
                                          "WHERE type = 'cowork.booking.booking.no_show.v1'") \
            == BOOKINGS, "one event per no-show, none twice"
        await _one_event_each(infra.kafka_bootstrap, topic_prefix + topics.BOOKING_EVENTS,
                              ev.BookingNoShow.event_type, await _booking_ids(database_url))

def _hourly_bookings(members: list[uuid.UUID], desks: list[str]
                     ) -> list[tuple[uuid.UUID, str, datetime]]:
    """BOOKINGS requests for an hour each from the day after tomorrow, none overlapping."""
    first_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) \
        + timedelta(days=2)
    return [(members[i % len(members)], desks[i % len(desks)],
             first_day + timedelta(hours=i // len(desks))) for i in range(BOOKINGS)]


NO_SHOWS = "SELECT count(*) FROM bookings WHERE status = 'no_show'"


async def _take_bookings(port: int, requests: list[tuple[uuid.UUID, str, datetime]]) -> None:
    """Eight clients book an hour each; a request that meets a dead service is tried again
    once it is back (if the first try had been committed, the second is a clean 409)."""
    queue = list(reversed(requests))

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=STAFF,
                                     timeout=5) as client:
            while queue:
                member, desk, start = request = queue.pop()
                try:
                    await client.post("/v1/bookings", json={
                        "member_id": str(member), "resource_id": desk,
                        "start": start.isoformat(),
                        "end": (start + timedelta(hours=1)).isoformat()})
                except httpx.TransportError:
                    queue.append(request)
                    await asyncio.sleep(0.1)

    await asyncio.gather(*(client_loop() for _ in range(8)))


async def _one_event_each(bootstrap: str, topic: str, event_type: str, keys: set[str]) -> None:
    """On the topic, events of `event_type` exist for exactly `keys`, one event id each (the
    relay may send an event twice after a kill, but always under the same id)."""
    def covered(seen: list[SeenRecord]) -> bool:
        return {r.key for r in seen if r.envelope.type == event_type} >= keys

    await collect(bootstrap, topic, timeout=60, until=covered)
    await asyncio.sleep(1)  # then read it all again: anything published late must match too
    records = [r for r in await collect(bootstrap, topic, timeout=60, until=covered)
               if r.envelope.type == event_type]
    assert {r.key for r in records} == keys, "an event for every change, none without"
    event_ids: dict[str | None, set[uuid.UUID]] = {}
    for record in records:
        event_ids.setdefault(record.key, set()).add(record.envelope.id)
    assert all(len(ids) == 1 for ids in event_ids.values()), "one event per change"


async def _booking_ids(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {str(row["id"]) for row in await conn.fetch("SELECT id FROM bookings")}
    finally:
        await conn.close()
