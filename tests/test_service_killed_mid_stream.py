"""A real service process SIGKILLed while it consumes another service's events: after a
restart every event is applied exactly once."""

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
from datetime import date

import asyncpg
import pytest

from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev
from cowork.shared.testing.kafka import publish

pytestmark = [pytest.mark.infra, pytest.mark.slow]

EVENTS = 1500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_booking(database_url: str, bootstrap: str, prefix: str) -> subprocess.Popen[bytes]:
    port = _free_port()
    env = {**os.environ, "BOOKING_DATABASE_URL": database_url,
           "BOOKING_KAFKA_BOOTSTRAP": bootstrap, "COWORK_TOPIC_PREFIX": prefix,
           "BOOKING_HTTP_PORT": str(port), "BOOKING_CONSUMER_BATCH_SIZE": "20"}
    proc = subprocess.Popen([sys.executable, "-m", "cowork.booking", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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
