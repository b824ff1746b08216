"""Benchmark: 1,000 concurrent registrations for a meeting of 100 seats, through community's
public API, against the raw limit measured in the same run — the same seat-taking written
straight through asyncpg.

The service runs as a real process (`python -m cowork.community serve`) on a fresh database and
topic prefix; an officer publishes one meeting of CAPACITY seats through the API; then
REGISTRATIONS citizens POST `/v1/meetings/{id}/registrations` at once (one connection each, as
browsers would). What must hold whatever the concurrency: every request answers 201, exactly
CAPACITY hold a seat (`pending_confirmation`) and the rest are `waitlisted`, each with its own
position. Throughput = REGISTRATIONS / (first request sent → last answer received); latency per
request.

The raw limit takes the seats the way any correct implementation must — one transaction (one
statement) per registration from a pool of CLIENTS connections: the seat counter moved under its
row lock only while seats are left (else a waiting-list position taken), the registration row,
the contact row and the event's outbox row written — with no HTTP, no validation and no rules.
Its schema is its own (scratch tables, not community's migrations), so the limit does not move
when the service's tables change. Measured first and last, the higher taken. Prints a table and a
`BENCH_JSON` line. Bounded: loopback only.

Needs the meetings feature (POST /v1/meetings, POST /v1/meetings/{id}/registrations); `make bench`
runs it with the others.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from cowork.devtools import Infra, free_port, start_infra
from cowork.shared.auth import issue_token
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

REGISTRATIONS = int(os.environ.get("BENCH_REGISTRATIONS", "1000"))
CAPACITY = int(os.environ.get("BENCH_CAPACITY", "100"))
CLIENTS = 10           # the raw path's pool: a service's default pool size (<SVC>_DB_POOL_MAX)
OFFICER = {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub="bench",
                                                    roles=["officer"])}
HELD, WAITLISTED = "pending_confirmation", "waitlisted"


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(sorted(samples_ms), n=100)
    return {"p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2), "p99_ms": round(q[98], 2)}


# ---------------------------------------------------------------- the raw limit

_SCHEMA = """
CREATE TABLE raw_meetings (id uuid PRIMARY KEY, capacity int NOT NULL, held int NOT NULL,
                           waiting int NOT NULL);
CREATE TABLE raw_registrations (id uuid PRIMARY KEY, meeting_id uuid NOT NULL, status text NOT NULL,
                                position int, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE raw_contacts (registration_id uuid PRIMARY KEY, full_name text, email text);
CREATE TABLE raw_outbox (id uuid PRIMARY KEY, aggregateid text, type text, payload jsonb);
"""
# One statement, so the meeting row's lock is held for no round trip: a seat while any is left,
# else the next waiting-list position (no cancellation here, so nobody waits while a seat is
# free: `waiting = 0` after the update means seated); the registration, its contact and its
# event in the outbox.
_REGISTER = """
WITH seat AS (
    UPDATE raw_meetings SET held = held + (held < capacity)::int,
                            waiting = waiting + (held >= capacity)::int
    WHERE id = $1 RETURNING waiting
), registration AS (
    INSERT INTO raw_registrations (id, meeting_id, status, position)
    SELECT $2, $1, CASE WHEN waiting = 0 THEN 'pending_confirmation' ELSE 'waitlisted' END,
           NULLIF(waiting, 0) FROM seat
    RETURNING status
), contact AS (
    INSERT INTO raw_contacts VALUES ($2, $3, $4)
), event AS (
    INSERT INTO raw_outbox SELECT $5, $1::text, 'cowork.community.registration.requested.v1',
        jsonb_build_object('registration_id', $2::uuid, 'meeting_id', $1::uuid,
                           'status', status) FROM registration
)
SELECT status FROM registration
"""


async def bench_raw(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(_SCHEMA)
        meeting = uuid.uuid4()
        await conn.execute("INSERT INTO raw_meetings VALUES ($1, $2, 0, 0)", meeting, CAPACITY)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=CLIENTS, max_size=CLIENTS)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()

    async def register(i: int) -> None:
        began = time.perf_counter()
        registration = uuid.uuid4()
        async with pool.acquire() as conn:
            status = await conn.fetchval(_REGISTER, meeting, registration, f"Cittadino {i}",
                                         f"c{i}@example.org", uuid.uuid4())
        statuses[status] += 1
        latencies.append((time.perf_counter() - began) * 1000)

    try:
        began = time.perf_counter()
        await asyncio.gather(*(register(i) for i in range(REGISTRATIONS)))
        elapsed = time.perf_counter() - began
    finally:
        await pool.close()
    assert statuses == {HELD: CAPACITY, WAITLISTED: REGISTRATIONS - CAPACITY}, statuses
    return {"per_s": round(REGISTRATIONS / elapsed, 1), **_percentiles(latencies)}


# ---------------------------------------------------------------- the service


class CommunityProcess:
    def __init__(self, database_url: str, bootstrap: str, prefix: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, "COMMUNITY_DATABASE_URL": database_url,
                    "COMMUNITY_KAFKA_BOOTSTRAP": bootstrap, "COWORK_TOPIC_PREFIX": prefix,
                    "COMMUNITY_HTTP_PORT": str(self.port), "COMMUNITY_LOG_LEVEL": "WARNING",
                    "COMMUNITY_DEMO_DATA": "false",
                    # Every citizen is this process: the per-client limits raised for them.
                    "COMMUNITY_REGISTRATION_LIMIT_PER_MEETING": str(REGISTRATIONS + 10),
                    "COMMUNITY_REGISTRATION_LIMIT_PER_CLIENT": str(REGISTRATIONS + 10)}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "cowork.community", "serve"],
                                        env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=None if os.environ.get("BENCH_VERBOSE")
                                        else subprocess.DEVNULL)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


async def _wait_ready(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise RuntimeError("the community service exited at start")
        await asyncio.sleep(0.1)
    raise RuntimeError("the community service never became ready")


async def _publish_meeting(client: httpx.AsyncClient) -> str:
    start = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    response = await client.post("/v1/meetings", headers=OFFICER, json={
        "title": {"it": "Incontro pubblico (benchmark)", "en": "Public meeting (benchmark)"},
        "description": {"it": "Chi userebbe il coworking?"},
        "address": "Biblioteca Civica, Via Marconi 36, Novi Ligure",
        "start": start.isoformat(), "end": (start + timedelta(hours=3)).isoformat(),
        "capacity": CAPACITY, "open_to": "everyone"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _post_json(port: int, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """One citizen's request on a connection of its own, all open at once (the concurrency is
    the point), HTTP/1.1 written and read here: httpx's pool, given a thousand connections,
    spent more CPU a request than the service (it scans every connection at each change, and
    looks for `sniffio` — not installed, so a search of sys.path — at each request), so the
    figures before 2026-12-08 02:00 measured the load generator."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        payload = json.dumps(body).encode()
        writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                     "Connection: close\r\n\r\n".encode() + payload)
        response = await asyncio.wait_for(reader.read(), timeout=120)  # the server closes
    finally:
        writer.close()
    head, _, content = response.partition(b"\r\n\r\n")
    assert b"chunked" not in head.lower(), head
    return int(head.split(b" ", 2)[1]), json.loads(content)


async def bench_service(infra: Infra, dsn: str) -> dict[str, Any]:
    service = CommunityProcess(dsn, infra.kafka_bootstrap, f"bench{uuid.uuid4().hex[:8]}.")
    service.start()
    assert service.process is not None
    base = f"http://127.0.0.1:{service.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            await _wait_ready(client, service.process)
            meeting = await _publish_meeting(client)
            path = f"/v1/meetings/{meeting}/registrations"
            latencies: list[float] = []
            answers: list[dict[str, Any]] = []

            async def register(i: int) -> None:
                began = time.perf_counter()
                status, answer = await _post_json(service.port, path, {
                    "full_name": f"Cittadino {i}", "email": f"cittadino.{i}@example.org",
                    "consents": {"privacy": True}})
                latencies.append((time.perf_counter() - began) * 1000)
                assert status == 201, answer
                answers.append(answer)

            began = time.perf_counter()
            await asyncio.gather(*(register(i) for i in range(REGISTRATIONS)))
            elapsed = time.perf_counter() - began
            seats_left = (await client.get(f"/v1/meetings/{meeting}")).json().get("seats_left")
    finally:
        service.stop()
    statuses = Counter(a["status"] for a in answers)
    positions = [a.get("position") for a in answers if a["status"] == WAITLISTED]
    # Never over-booked, never under-booked, each waiting position given once.
    assert statuses == {HELD: CAPACITY, WAITLISTED: REGISTRATIONS - CAPACITY}, statuses
    assert len(set(positions)) == len(positions), "a waiting-list position given twice"
    assert seats_left in (0, None), seats_left
    return {"per_s": round(REGISTRATIONS / elapsed, 1), **_percentiles(latencies),
            "statuses": dict(statuses)}


# ---------------------------------------------------------------- the run


async def main(infra: Infra) -> None:
    admin = await asyncpg.connect(infra.pg_admin_url)
    names = [f"cowork_bench_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for name in names:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        # Raw first and last, the higher taken: the ratio should not flatter the service.
        first = await bench_raw(infra.database_url(names[0]))
        service = await bench_service(infra, infra.database_url(names[1]))
        last = await bench_raw(infra.database_url(names[2]))
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    raw = max(first, last, key=lambda r: r["per_s"])
    ratio = round(service["per_s"] / raw["per_s"], 3)
    print(f"\nRegistrations: {REGISTRATIONS} at once for {CAPACITY} seats; on {platform.node()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{'path':<58}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'raw asyncpg, 1 transaction each, ' + str(CLIENTS) + ' connections':<58}"
          f"{raw['per_s']:>8}{raw['p50_ms']:>9}{raw['p99_ms']:>9}  (first {first['per_s']}, "
          f"last {last['per_s']})")
    print(f"{'POST /v1/meetings/{id}/registrations, all at once':<58}"
          f"{service['per_s']:>8}{service['p50_ms']:>9}{service['p99_ms']:>9}")
    print(f"held {service['statuses'].get(HELD)}, waitlisted {service['statuses'].get(WAITLISTED)}"
          f"; ratio service / raw: {ratio}")
    print("BENCH_JSON " + json.dumps({
        "bench": "community_registrations", "registrations": REGISTRATIONS,
        "capacity": CAPACITY, "load_average": os.getloadavg(), "raw": raw,
        "raw_runs": [first, last], "service": service, "ratio": ratio}))


if __name__ == "__main__":
    asyncio.run(main(start_infra()))
