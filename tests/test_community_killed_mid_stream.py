"""The community service as a real process, SIGKILLed while it takes registrations for a meeting
and consumes membership's events for its statistics, then started again. Afterwards every
registration exists once with one `registration.requested` and one contact card on Kafka (the
relay may send a record twice after the kill, always under the same id), the seats held are
exactly the confirmed and pending registrations and never more than the capacity, and the
statistics applied each membership event once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cowork.devtools.kafka import SeenRecord, collect, publish
from cowork.devtools.processes import ServiceProcess, count
from cowork.shared.auth import issue_token
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

pytestmark = [pytest.mark.infra, pytest.mark.slow]

CAPACITY = 60
REGISTRATIONS = 240
MEMBERS = 1500
OFFICER = {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub="officer",
                                                    roles=["officer"])}
HOLDING = "SELECT count(*) FROM meeting_registrations " \
          "WHERE status IN ('pending_confirmation', 'confirmed')"


class SlowStartingProcess(ServiceProcess):
    """Community imports its charts (matplotlib) at start: on a busy 2-core machine that
    alone can take longer than the 30 s `ServiceProcess` waits, so this waits three minutes."""

    def _start_and_wait(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", f"cowork.{self.service}", "serve"],
                                      env=self._env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1):
                    return
            except OSError:
                if self._proc.poll() is not None:
                    raise RuntimeError("the community service exited at start") from None
            time.sleep(0.1)
        raise RuntimeError("the community service never became ready")


async def _meeting(port: int) -> str:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=14)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        response = await client.post("/v1/meetings", headers=OFFICER, json={
            "title": {"it": "Incontro sotto carico", "en": "Meeting under load"},
            "description": {"it": "Prova di resistenza."}, "address": "Novi Ligure",
            "start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat(),
            "capacity": CAPACITY, "open_to": "everyone"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _register_everyone(port: int, meeting_id: str) -> dict[str, str]:
    """Eight clients register one address each; a request that meets a dead service is tried
    again once it is back (the same address gets the same registration, not a second one).
    Returns the registration id each address was given."""
    queue = [f"carico{n}@example.org" for n in range(REGISTRATIONS)]
    given: dict[str, str] = {}

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            while queue:
                email = queue.pop()
                try:
                    response = await client.post(
                        f"/v1/meetings/{meeting_id}/registrations",
                        json={"full_name": "Persona Carico", "email": email,
                              "consents": {"privacy": True}})
                except httpx.TransportError:
                    response = None
                if response is None or response.status_code >= 500:
                    queue.append(email)
                    await asyncio.sleep(0.1)
                    continue
                assert response.status_code == 201, response.text
                given[email] = response.json()["id"]

    await asyncio.gather(*(client_loop() for _ in range(8)))
    return given


def _members() -> list[Envelope]:
    return [Envelope.wrap(ev.MemberRegistered(
        member_id=uuid.uuid4(), kind="person", language="it", residence_istat="006114",
        registered_at=datetime.now(UTC)), source="/cowork/membership") for _ in range(MEMBERS)]


async def _one_record_each(bootstrap: str, topic: str, event_type: str,
                           registrations: set[str]) -> None:
    """On the topic, records of `event_type` for exactly these registrations, one id each."""
    def registration_of(record: SeenRecord) -> str:
        return str(getattr(record.envelope.data, "registration_id", record.key))

    def covered(seen: list[SeenRecord]) -> bool:
        return {registration_of(r) for r in seen if r.envelope.type == event_type
                and r.envelope.data is not None} >= registrations

    await collect(bootstrap, topic, timeout=60, until=covered)
    await asyncio.sleep(1)  # then read it all again: anything published late must match too
    records = [r for r in await collect(bootstrap, topic, timeout=60, until=covered)
               if r.envelope.type == event_type and r.envelope.data is not None]
    ids: dict[str, set[uuid.UUID]] = {}
    for record in records:
        ids.setdefault(registration_of(record), set()).add(record.envelope.id)
    assert set(ids) == registrations, "a record for every registration, none without"
    assert all(len(one) == 1 for one in ids.values()), "one event per registration"


async def test_community_killed_while_registering_and_counting(infra, database_url,
                                                               topic_prefix) -> None:
    dsn = database_url
    service = SlowStartingProcess("community", dsn, infra.kafka_bootstrap, topic_prefix,
                             CONSUMER_BATCH_SIZE="20", DEMO_DATA="false",
                             # One client registers them all: not what this test measures.
                             REGISTRATION_LIMIT_PER_MEETING="10000",
                             REGISTRATION_LIMIT_PER_CLIENT="10000")
    await service.start()
    try:
        meeting_id = await _meeting(service.port)
        # Published while the service consumes and registers, so the kill lands mid-stream.
        publishing = asyncio.create_task(publish(
            infra.kafka_bootstrap, topic_prefix + topics.MEMBERSHIP_EVENTS, _members()))
        registering = asyncio.create_task(_register_everyone(service.port, meeting_id))
        for _ in range(3000):
            if await count(dsn, "SELECT count(*) FROM stats_members") >= 20:
                break
            await asyncio.sleep(0.01)
        await service.sigkill_mid_stream("SELECT count(*) FROM meeting_registrations", 40,
                                         REGISTRATIONS)
        counted_at_kill = await count(dsn, "SELECT count(*) FROM stats_members")
        assert 0 < counted_at_kill < MEMBERS, "the kill must land mid-stream"
        await service.start()
        given = await registering
        await publishing

        for _ in range(900):
            if await count(dsn, "SELECT count(*) FROM stats_members") >= MEMBERS:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # a redelivered batch, if any, would be applied by now
        assert await count(dsn, "SELECT count(*) FROM stats_members") == MEMBERS
        assert await count(dsn, "SELECT count(*) FROM inbox WHERE event_type = $1",
                           ev.MemberRegistered.event_type) == MEMBERS

        ids = set(given.values())
        assert len(ids) == REGISTRATIONS, "one registration per address"
        assert await count(dsn, "SELECT count(*) FROM meeting_registrations") == REGISTRATIONS
        held = await count(dsn, "SELECT seats_held FROM meetings WHERE id = $1::uuid",
                           meeting_id)
        assert held == await count(dsn, HOLDING) == CAPACITY, "every seat held, none twice"
        assert await count(dsn, "SELECT count(*) FROM meeting_registrations "
                                "WHERE status = 'waitlisted'") == REGISTRATIONS - CAPACITY
        assert await count(dsn, "SELECT count(*) FROM outbox WHERE type = $1",
                           ev.RegistrationRequested.event_type) == REGISTRATIONS
        await _one_record_each(infra.kafka_bootstrap, topic_prefix + topics.COMMUNITY_EVENTS,
                               ev.RegistrationRequested.event_type, ids)
        await _one_record_each(infra.kafka_bootstrap, topic_prefix + topics.COMMUNITY_CONTACTS,
                               ev.CommunityContact.event_type, ids)
    finally:
        service.stop()
