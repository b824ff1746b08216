"""A real service process SIGKILLed mid-stream: while it consumes another service's events
(after a restart every event is applied exactly once), and while it takes bookings (every
booking that exists has its event on Kafka, and no event exists without its booking)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
import httpx
import pytest

from cowork.booking import store
from cowork.shared.auth import issue_token
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET
from cowork.shared.testing.kafka import SeenRecord, collect, publish

pytestmark = [pytest.mark.infra, pytest.mark.slow]

EVENTS = 1500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_booking(database_url: str, bootstrap: str, prefix: str,
                   port: int | None = None) -> subprocess.Popen[bytes]:
    port = port or _free_port()
    env = {**os.environ, "BOOKING_DATABASE_URL": database_url,
           "BOOKING_KAFKA_BOOTSTRAP": bootstrap, "COWORK_TOPIC_PREFIX": prefix,
           "BOOKING_HTTP_PORT": str(port), "BOOKING_CONSUMER_BATCH_SIZE": "20"}
    proc = subprocess.Popen([sys.executable, "-m", "cowork.booking", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.port = port  # type: ignore[attr-defined]
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the booking service exited at start") from None
        time.sleep(0.1)
    raise RuntimeError("the booking service never became ready")


async def _count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


async def test_booking_killed_while_replicating_membership_events(infra, database_url,
                                                                 topic_prefix) -> None:
    activations = [Envelope.wrap(ev.MembershipActivated(
        membership_id=uuid.uuid4(), member_id=uuid.uuid4(), plan_code="monthly",
        plan_kind="monthly", resource_kinds=["hot_desk"], period_start=date(2027, 3, 1),
        period_end=date(2027, 3, 31), price_cents=15000), source="/cowork/membership")
        for _ in range(EVENTS)]
    booking = await asyncio.to_thread(_start_booking, database_url, infra.kafka_bootstrap,
                                      topic_prefix)
    try:
        # Published one by one while the service consumes, so the kill lands mid-stream.
        publishing = asyncio.create_task(publish(
            infra.kafka_bootstrap, topic_prefix + topics.MEMBERSHIP_EVENTS, activations))
        for _ in range(1500):
            if await _count(database_url, "SELECT count(*) FROM eligibility") >= 20:
                break
            await asyncio.sleep(0.02)
        booking.send_signal(signal.SIGKILL)  # no shutdown, no offset commit, no flush
        booking.wait(10)
        applied_at_kill = await _count(database_url, "SELECT count(*) FROM eligibility")
        assert 0 < applied_at_kill < EVENTS, "the kill must land mid-stream"
        await publishing

        booking = await asyncio.to_thread(_start_booking, database_url, infra.kafka_bootstrap,
                                          topic_prefix)
        for _ in range(600):
            if await _count(database_url, "SELECT count(*) FROM inbox") >= EVENTS:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        assert await _count(database_url, "SELECT count(*) FROM eligibility") == EVENTS
        assert await _count(database_url, "SELECT count(*) FROM inbox") == EVENTS
    finally:
        if booking.poll() is None:
            booking.terminate()
            booking.wait(30)


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
    booking = await asyncio.to_thread(_start_booking, database_url, infra.kafka_bootstrap,
                                      topic_prefix)
    port = booking.port  # type: ignore[attr-defined]
    desks, members = await _desks_and_members(port, database_url, 20)
    first_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) \
        + timedelta(days=2)
    requests = [(members[i % 20], desks[i % 20], first_day + timedelta(hours=i // 20))
                for i in range(BOOKINGS)]

    try:
        taking = asyncio.create_task(_take_bookings(port, requests))
        for _ in range(1500):
            if await _count(database_url, "SELECT count(*) FROM bookings") >= 100:
                break
            await asyncio.sleep(0.01)
        booking.send_signal(signal.SIGKILL)  # mid-request, mid-relay-batch
        booking.wait(10)
        booked_at_kill = await _count(database_url, "SELECT count(*) FROM bookings")
        assert 0 < booked_at_kill < BOOKINGS, "the kill must land mid-stream"
        booking = await asyncio.to_thread(_start_booking, database_url, infra.kafka_bootstrap,
                                          topic_prefix, port)
        await taking

        booked = {str(row_id) for row_id in await _ids(database_url, "SELECT id FROM bookings")}
        assert len(booked) > booked_at_kill
        await _one_event_each(infra.kafka_bootstrap, topic_prefix + topics.BOOKING_EVENTS,
                              ev.BookingConfirmed.event_type, booked)
    finally:
        if booking.poll() is None:
            booking.terminate()
            booking.wait(30)


async def test_booking_killed_while_marking_no_shows(infra, database_url, topic_prefix) -> None:
    """The durable scheduler's jobs run once each: the process dies in the middle of marking
    hundreds of no-shows (some jobs done, one maybe half-way in its transaction), and after
    the restart every booking is a no-show with exactly one `booking.no_show` event."""
    booking = await asyncio.to_thread(_start_booking, database_url, infra.kafka_bootstrap,
                                      topic_prefix)
    port = booking.port  # type: ignore[attr-defined]
    try:
        desks, members = await _desks_and_members(port, database_url, 20)
        first_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) \
            + timedelta(days=2)
        await _take_bookings(port, [(members[i % 20], desks[i % 20],
                                     first_day + timedelta(hours=i // 20))
                                    for i in range(BOOKINGS)])
        assert await _count(database_url, "SELECT count(*) FROM bookings") == BOOKINGS
        # Time passes: every booking's grace period is over. (The job's due time is the
        # scheduler's whole notion of time; the handler reads only the booking.)
        await _count(database_url, "WITH due AS (UPDATE scheduled_jobs SET due_at = now() "
                                   "WHERE kind = 'booking.no_show' RETURNING 1) "
                                   "SELECT count(*) FROM due")
        for _ in range(1500):
            if await _count(database_url, NO_SHOWS) >= 100:
                break
            await asyncio.sleep(0.01)
        booking.send_signal(signal.SIGKILL)
        booking.wait(10)
        marked_at_kill = await _count(database_url, NO_SHOWS)
        assert 0 < marked_at_kill < BOOKINGS, "the kill must land mid-stream"

        booking = await asyncio.to_thread(_start_booking, database_url, infra.kafka_bootstrap,
                                          topic_prefix, port)
        for _ in range(600):
            if await _count(database_url, NO_SHOWS) == BOOKINGS:
                break
            await asyncio.sleep(0.1)
        booked = {str(row_id) for row_id in await _ids(database_url, "SELECT id FROM bookings")}
        assert await _count(database_url, NO_SHOWS) == BOOKINGS
        assert await _count(database_url, "SELECT count(*) FROM outbox "
                                          "WHERE type = 'cowork.booking.booking.no_show.v1'") \
            == BOOKINGS, "one event per no-show, none twice"
        await _one_event_each(infra.kafka_bootstrap, topic_prefix + topics.BOOKING_EVENTS,
                              ev.BookingNoShow.event_type, booked)
    finally:
        if booking.poll() is None:
            booking.terminate()
            booking.wait(30)


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


async def _ids(dsn: str, sql: str) -> list[object]:
    conn = await asyncpg.connect(dsn)
    try:
        return [row[0] for row in await conn.fetch(sql)]
    finally:
        await conn.close()
