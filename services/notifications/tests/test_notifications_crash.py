"""The notifications service SIGKILLed while it is sending: after a restart every mail has
gone out, each under its one Message-ID, and the only repeats are mails that were in flight at
the kill (the window docs/notifications.md describes) — never more than the dispatcher's
concurrency."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from notifications_support import booking_confirmed, wrap

from cowork.devtools import Infra, free_port
from cowork.devtools.kafka import publish
from cowork.notifications import domain
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra, pytest.mark.slow]

MAILS = 120
CONCURRENCY = 8


class SlowSink:
    """An SMTP server that takes 200 ms to accept each message, so a kill lands mid-stream."""

    def __init__(self) -> None:
        self.message_ids: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.2)
        for line in envelope.content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                self.message_ids.append(line.split(b":", 1)[1].strip().decode())
        return "250 OK"


def start(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "cowork.notifications", "serve"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("the notifications service exited at start") from None
        time.sleep(0.1)
    raise RuntimeError("the notifications service never became ready")


async def test_a_kill_while_sending_loses_nothing_and_repeats_only_what_was_in_flight(
        infra: Infra, database_url: str, topic_prefix: str) -> None:
    sink, smtp_port, http_port = SlowSink(), free_port(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = {**os.environ, "NOTIFICATIONS_DATABASE_URL": database_url,
           "NOTIFICATIONS_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
           "COWORK_TOPIC_PREFIX": topic_prefix, "NOTIFICATIONS_HTTP_PORT": str(http_port),
           "NOTIFICATIONS_SMTP_PORT": str(smtp_port), "NOTIFICATIONS_SMTP_TIMEOUT_SECONDS": "1",
           "NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS": "1",
           "NOTIFICATIONS_MAIL_CONCURRENCY": str(CONCURRENCY),
           "NOTIFICATIONS_DELIVERY_RETRY_BASE_SECONDS": "0.2",
           "NOTIFICATIONS_DELIVERY_RETRY_MAX_SECONDS": "2",
           "NOTIFICATIONS_DISPATCH_POLL_SECONDS": "0.2", "NOTIFICATIONS_LOG_JSON": "true"}
    process = await asyncio.to_thread(start, env, http_port)
    conn = await asyncpg.connect(database_url)
    try:
        members = [uuid4() for _ in range(MAILS)]
        cards = [wrap(ev.ContactCard(member_id=m, full_name="M", email=f"{m.hex}@example.org",
                                     phone=None, language="it")) for m in members]
        await publish(infra.kafka_bootstrap, topic_prefix + "cowork.membership.contacts", cards)
        while await conn.fetchval("SELECT count(*) FROM contacts") < MAILS:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        start_at = datetime.now(UTC) + timedelta(days=2)
        events: list[Envelope] = [wrap(booking_confirmed(m, start_at)) for m in members]
        await publish(infra.kafka_bootstrap, topic_prefix + "cowork.booking.events", events)
        # Kill once a quarter went out, at a moment when some are in flight.
        while len(sink.message_ids) < MAILS // 4 or not await conn.fetchval(  # noqa: ASYNC110
                "SELECT count(*) FROM deliveries WHERE status = 'sending'"):
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        in_flight = await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'sending'")
        assert len(sink.message_ids) < MAILS, "the kill must land mid-stream"
        assert in_flight > 0, "the kill must land while mails are being sent"

        # Restarted: the rows left `sending` are claimed again when their lease runs out.
        process = await asyncio.to_thread(start, env, http_port)
        deadline = time.monotonic() + 120
        while await conn.fetchval("SELECT count(*) FROM deliveries WHERE status = 'sent'") < MAILS:
            assert time.monotonic() < deadline, "not every mail went out after the restart"
            await asyncio.sleep(0.2)
        assert await conn.fetchval("SELECT count(*) FROM deliveries") == MAILS
    finally:
        await conn.close()
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        controller.stop()

    expected = {domain.message_id(domain.delivery_id(e.id, "email", str(member)),
                                  "notifications.cowork.localhost")
                for e, member in zip(events, members, strict=True)}
    seen = Counter(sink.message_ids)
    assert set(seen) == expected, "every mail went out, under its own Message-ID"
    repeats = sum(n - 1 for n in seen.values())
    assert repeats <= CONCURRENCY, f"{repeats} repeats: more than could have been in flight"
