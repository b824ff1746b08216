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
from cowork.shared.testing.kafka import collect, publish

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


async def test_booking_killed_while_taking_bookings(infra, database_url, topic_prefix) -> None:
    """Each booking is written with its event in one statement: whatever instant the process
    dies at, a booking exists with its event or neither does, and the relay (also killed)
    publishes every event after the restart."""
    booking = await asyncio.to_thread(_start_booking, database_url, infra.kafka_bootstrap,
                                      topic_prefix)
    port = booking.port  # type: ignore[attr-defined]
    staff = {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub="staff",
                                                      roles=["staff"])}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=staff,
                                 timeout=10) as client:
        space = (await client.post("/v1/spaces", json={
            "name": "Sala prove", "address": "Novi Ligure",
            "opening_hours": {d: [["00:00", "24:00"]] for d in
                              ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})).json()
        desks = [(await client.post(f"/v1/spaces/{space['id']}/resources", json={
            "name": f"Desk {n}", "kind": "hot_desk", "price_per_hour_cents": 300,
            "slot_minutes": 60, "min_minutes": 60, "advance_days": 365})).json()["id"]
            for n in range(20)]
    members = [uuid.uuid4() for _ in range(20)]
    conn = await asyncpg.connect(database_url)
    try:  # the replica as membership.activated writes it
        for member in members:
            await store.upsert_eligibility(conn, ev.MembershipActivated(
                membership_id=uuid.uuid4(), member_id=member, plan_code="annual",
                plan_kind="annual", resource_kinds=["hot_desk"],
                period_start=date.today() - timedelta(days=1),
                period_end=date.today() + timedelta(days=300), price_cents=140000))
    finally:
        await conn.close()
    first_day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) \
        + timedelta(days=2)
    requests = [(members[i % 20], desks[i % 20], first_day + timedelta(hours=i // 20))
                for i in range(BOOKINGS)]

    async def take_bookings() -> None:
        """Eight clients; a request that meets a dead service is tried again once it is back
        (if the first try had been committed, the second is a clean 409)."""
        queue = list(reversed(requests))

        async def client_loop() -> None:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=staff,
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

    try:
        taking = asyncio.create_task(take_bookings())
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
        records = await collect(
            infra.kafka_bootstrap, topic_prefix + topics.BOOKING_EVENTS, timeout=60,
            until=lambda seen: {r.key for r in seen
                                if r.envelope.type == ev.BookingConfirmed.event_type} >= booked)
        await asyncio.sleep(1)  # anything published late must still match
        confirmed = [r for r in records if r.envelope.type == ev.BookingConfirmed.event_type]
        assert {r.key for r in confirmed} == booked, "an event for every booking, none without"
        event_ids: dict[str | None, set[uuid.UUID]] = {}
        for record in confirmed:
            event_ids.setdefault(record.key, set()).add(record.envelope.id)
        assert all(len(ids) == 1 for ids in event_ids.values()), \
            "one event per booking (the relay may send it twice, under one id)"
    finally:
        if booking.poll() is None:
            booking.terminate()
            booking.wait(30)


async def _ids(dsn: str, sql: str) -> list[object]:
    conn = await asyncpg.connect(dsn)
    try:
        return [row[0] for row in await conn.fetch(sql)]
    finally:
        await conn.close()
