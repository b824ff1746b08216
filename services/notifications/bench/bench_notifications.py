"""Benchmark: an event on Kafka → notifications (inbox + intent, dispatcher, template, .ics,
aiosmtplib) → accepted by an SMTP server, against raw aiosmtplib sending to the same server in
the same run.

The SMTP server is aiosmtpd in a process of its own, counting what it accepts. Events
are `booking.confirmed` (the heaviest mail: HTML + text + .ics) for members whose contact cards
were loaded first. Two runs each way:
- paced: RATE events/s for SECONDS seconds; latency per message from the moment its event was
  handed to Kafka (raw: from the moment the send was started) to the SMTP server's accept;
- burst: N events at once; throughput = N / (first publish → last accept).
Prints a table and a `BENCH_JSON` line.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from uuid import uuid4

import aiosmtplib
import asyncpg

from cowork.devtools import Infra, free_port, start_infra, unique_name
from cowork.notifications import domain
from cowork.notifications.app import NotificationsSettings, create_app
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev
from cowork.shared.kafka import reliable_producer

RATE = int(os.environ.get("BENCH_RATE", "200"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
BURST = int(os.environ.get("BENCH_BURST", "2000"))
MEMBERS = 200
CONCURRENCY = 32


SINK = """
import sys, time
from email.parser import BytesHeaderParser
from aiosmtpd.controller import Controller

class Counting:
    async def handle_DATA(self, server, session, envelope):
        headers = BytesHeaderParser().parsebytes(envelope.content)
        sys.stdout.write(f"{time.time():.6f} {str(headers['Message-ID']).strip()}\\n")
        sys.stdout.flush()
        return "250 OK"

controller = Controller(Counting(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("READY", flush=True)
sys.stdin.read()  # until the parent closes it
controller.stop()
"""


class CountingSink:
    """An aiosmtpd server in its own process (an SMTP server is another machine; here it at
    least gets its own interpreter), reporting the wall-clock time it accepted each Message-ID."""

    def __init__(self) -> None:
        self.accepted: dict[str, float] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, port: int) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SINK, str(port), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
        assert self._process.stdout is not None
        assert (await self._process.stdout.readline()).strip() == b"READY"
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for line in self._process.stdout:
            at, message_id = line.decode().split(" ", 1)
            self.accepted[message_id.strip()] = float(at)

    async def stop(self) -> None:
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()
            await self._process.wait()
        if self._reader is not None:
            await self._reader


def _percentiles(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(sorted(samples), n=100)
    return {"p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1)}


async def _wait_for(sink: CountingSink, ids: list[str], timeout: float) -> None:
    deadline = time.time() + timeout
    while not all(i in sink.accepted for i in ids):
        if time.time() > deadline:
            missing = sum(1 for i in ids if i not in sink.accepted)
            raise RuntimeError(f"{missing} of {len(ids)} messages never arrived")
        await asyncio.sleep(0.05)


async def bench_service(bootstrap: str, database_url: str, sink: CountingSink, port: int
                        ) -> dict[str, Any]:
    prefix = unique_name("bench") + "."
    settings = NotificationsSettings(
        database_url=database_url, kafka_bootstrap=bootstrap, topic_prefix=prefix,
        smtp_port=port, run_scheduler=False, log_json=True, log_level="WARNING",
        mail_concurrency=CONCURRENCY, db_pool_max=20, dispatch_poll_seconds=0.5)
    app = create_app(settings)
    members = [uuid4() for _ in range(MEMBERS)]
    async with app.router.lifespan_context(app):
        producer = reliable_producer(bootstrap, client_id="bench-notifications")
        await producer.start()
        try:
            for member in members:
                card = Envelope.wrap(ev.ContactCard(
                    member_id=member, full_name="Bench Member", email=f"{member.hex}@bench.local",
                    phone=None, language="it"), source="/cowork/membership")
                await producer.send(prefix + topics.MEMBERSHIP_CONTACTS, value=card.value(),
                                    key=card.subject.encode(), headers=card.kafka_headers())
            await producer.flush()
            conn = await asyncpg.connect(database_url)
            try:
                while await conn.fetchval("SELECT count(*) FROM contacts") < MEMBERS:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            finally:
                await conn.close()

            async def send_events(count: int, rate: float | None) -> tuple[list[str], dict[str, float]]:
                ids, started = [], {}
                begin = time.time()
                for i in range(count):
                    if rate is not None:
                        delay = begin + i / rate - time.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    member = members[i % MEMBERS]
                    event = ev.BookingConfirmed(
                        booking_id=uuid4(), member_id=member, space_id=uuid4(),
                        resource_id=uuid4(), resource_kind="hot_desk",
                        start=datetime.now(UTC) + timedelta(days=2),
                        end=datetime.now(UTC) + timedelta(days=2, hours=2), price_cents=600,
                        charged_cents=0)
                    envelope = Envelope.wrap(event, source="/cowork/booking")
                    message_id = domain.message_id(
                        domain.delivery_id(envelope.id, "email", str(member)),
                        settings.message_id_domain)
                    started[message_id] = time.time()
                    ids.append(message_id)
                    await producer.send(prefix + topics.BOOKING_EVENTS, value=envelope.value(),
                                        key=envelope.subject.encode(),
                                        headers=envelope.kafka_headers())
                await producer.flush()
                return ids, started

            ids, started = await send_events(RATE * SECONDS, RATE)
            await _wait_for(sink, ids, 120)
            paced = _percentiles([sink.accepted[i] - started[i] for i in ids])

            first = time.time()
            ids, _ = await send_events(BURST, None)
            await _wait_for(sink, ids, 300)
            burst_rate = BURST / (max(sink.accepted[i] for i in ids) - first)
        finally:
            await producer.stop()
    return {"paced": paced, "burst_per_s": round(burst_rate, 1)}


def _raw_message(i: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "noreply@cowork.localhost"
    message["To"] = f"m{i}@bench.local"
    message["Subject"] = "Prenotazione confermata"
    message["Message-ID"] = f"<raw-{uuid4()}@bench.local>"
    message.set_content("Ciao,\n\nla tua prenotazione è confermata.\n")
    message.add_alternative("<p>Ciao,</p><p>la tua prenotazione è confermata.</p>",
                            subtype="html")
    return message


async def bench_raw(sink: CountingSink, port: int) -> dict[str, Any]:
    slots = asyncio.Semaphore(CONCURRENCY)

    async def send(message: EmailMessage) -> None:
        async with slots:
            await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=10)

    async def run(count: int, rate: float | None) -> tuple[list[str], dict[str, float]]:
        ids, started, tasks = [], {}, []
        begin = time.time()
        for i in range(count):
            if rate is not None:
                delay = begin + i / rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            message = _raw_message(i)
            ids.append(message["Message-ID"])
            started[message["Message-ID"]] = time.time()
            tasks.append(asyncio.create_task(send(message)))
        await asyncio.gather(*tasks)
        return ids, started

    ids, started = await run(RATE * SECONDS, RATE)
    await _wait_for(sink, ids, 60)
    paced = _percentiles([sink.accepted[i] - started[i] for i in ids])
    first = time.time()
    ids, _ = await run(BURST, None)
    await _wait_for(sink, ids, 120)
    return {"paced": paced,
            "burst_per_s": round(BURST / (max(sink.accepted[i] for i in ids) - first), 1)}


async def main(infra: Infra) -> None:
    name = unique_name("cowork_bench_")
    admin = await asyncpg.connect(infra.pg_admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    sink, port = CountingSink(), free_port()
    await sink.start(port)
    try:
        raw = await bench_raw(sink, port)
        service = await bench_service(infra.kafka_bootstrap, infra.database_url(name), sink,
                                      port)
    finally:
        await sink.stop()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(f"\nnotifications: event on Kafka -> SMTP accept ({platform.machine()}, "
          f"{os.cpu_count()} cores; paced {RATE}/s for {SECONDS}s, burst {BURST})")
    print(f"{'path':<16}{'p50 ms':>10}{'p99 ms':>10}{'burst msg/s':>14}")
    for label, result in (("raw aiosmtplib", raw), ("notifications", service)):
        print(f"{label:<16}{result['paced']['p50_ms']:>10}{result['paced']['p99_ms']:>10}"
              f"{result['burst_per_s']:>14}")
    ratio = service["burst_per_s"] / raw["burst_per_s"]
    print(f"notifications / raw throughput: {ratio:.2f}")
    print("BENCH_JSON " + json.dumps({"bench": "notifications", "raw": raw, "service": service,
                                      "ratio": round(ratio, 3), "rate": RATE,
                                      "seconds": SECONDS, "burst": BURST}))


if __name__ == "__main__":
    asyncio.run(main(start_infra()))  # the stack is brought up outside the event loop
