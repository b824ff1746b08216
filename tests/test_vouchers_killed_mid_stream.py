"""The vouchers service SIGKILLed while it redeems a stream of booking events: between a
batch's database commit and its offset commit Kafka delivers the batch again after the
restart, and still every booking is redeemed exactly once — one ledger entry, one
`voucher.redeemed` in the outbox — and the ledger balances."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from cowork.shared.auth import issue_token
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET
from cowork.shared.testing import free_port
from cowork.shared.testing.kafka import publish

pytestmark = [pytest.mark.infra, pytest.mark.slow]

MEMBERS = 50
EVENTS = 800
OFFICER = {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub="officer",
                                                    roles=["officer"])}


class VouchersProcess:
    """A real vouchers service process on a fixed port, to be SIGKILLed and started again."""

    def __init__(self, database_url: str, bootstrap: str, prefix: str) -> None:
        self.database_url, self.port = database_url, free_port()
        self._env = {**os.environ, "VOUCHERS_DATABASE_URL": database_url,
                     "VOUCHERS_KAFKA_BOOTSTRAP": bootstrap, "COWORK_TOPIC_PREFIX": prefix,
                     "VOUCHERS_HTTP_PORT": str(self.port), "VOUCHERS_CONSUMER_BATCH_SIZE": "20",
                     "VOUCHERS_DEMO_DATA": "false"}
        self._proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self._start_and_wait)

    def _start_and_wait(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", "cowork.vouchers", "serve"],
                                      env=self._env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1):
                    return
            except OSError:
                if self._proc.poll() is not None:
                    raise RuntimeError("the vouchers service exited at start") from None
            time.sleep(0.1)
        raise RuntimeError("the vouchers service never became ready")

    def sigkill(self) -> None:
        """No shutdown, no offset commit, no flush."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGKILL)
        self._proc.wait(10)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(30)


async def _count(dsn: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def _members_with_vouchers(port: int) -> tuple[str, uuid.UUID, list[uuid.UUID]]:
    """A first-come programme valid from today, an accredited space, and members each holding
    a voucher large enough for every redemption of the test — all through the API."""
    today = datetime.now(UTC).date()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=OFFICER,
                                 timeout=30) as client:
        programme = (await client.post("/v1/programmes", json={
            "name": "Kill test", "budget_cents": 100_000_000, "coverage_pct": 50,
            "cap_per_beneficiary_cents": 1_000_000, "valid_from": today.isoformat(),
            "valid_until": (today + timedelta(days=400)).isoformat(),
            "selection_mode": "first_come", "subsidises": {"bookings": True}})).json()
        space_id = uuid.uuid4()
        accredited = await client.post("/v1/accredited-spaces", json={
            "space_id": str(space_id), "from": today.isoformat(), "reason": "kill test"})
        assert accredited.status_code == 201, accredited.text
        members = [uuid.uuid4() for _ in range(MEMBERS)]
        for member in members:
            granted = await client.post(f"/v1/programmes/{programme['id']}/applications",
                                        json={"member_id": str(member), "declarations": {}})
            assert granted.json()["status"] == "granted", granted.text
    return programme["id"], space_id, members


def _bookings(members: list[uuid.UUID], space_id: uuid.UUID) -> list[Envelope]:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    start = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=UTC)
    return [Envelope.wrap(ev.BookingConfirmed(
        booking_id=uuid.uuid4(), member_id=members[n % len(members)], space_id=space_id,
        resource_id=uuid.uuid4(), resource_kind="hot_desk", start=start,
        end=start + timedelta(hours=2), price_cents=600, charged_cents=600),
        source="/cowork/booking") for n in range(EVENTS)]


async def test_vouchers_killed_while_redeeming_booking_events(infra, database_url,
                                                              topic_prefix) -> None:
    service = VouchersProcess(database_url, infra.kafka_bootstrap, topic_prefix)
    await service.start()
    try:
        programme_id, space_id, members = await _members_with_vouchers(service.port)
        # Published while the service consumes, so the kill lands mid-stream.
        publishing = asyncio.create_task(publish(
            infra.kafka_bootstrap, topic_prefix + topics.BOOKING_EVENTS,
            _bookings(members, space_id)))
        for _ in range(3000):
            if await _count(database_url, "SELECT count(*) FROM redemptions") >= 30:
                break
            await asyncio.sleep(0.01)
        service.sigkill()
        at_kill = await _count(database_url, "SELECT count(*) FROM redemptions")
        assert 0 < at_kill < EVENTS, "the kill must land mid-stream"
        await publishing

        await service.start()
        for _ in range(900):
            if await _count(database_url, "SELECT count(*) FROM redemptions") >= EVENTS:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # a redelivered batch, if any, would be applied by now
        assert await _count(database_url, "SELECT count(*) FROM redemptions") == EVENTS
        assert await _count(database_url, "SELECT count(*) FROM ledger_transactions "
                                          "WHERE movement = 'redeem'") == EVENTS
        assert await _count(database_url, "SELECT count(*) FROM outbox WHERE type = $1",
                            ev.VoucherRedeemed.event_type) == EVENTS
        assert await _count(database_url, "SELECT disbursed_cents FROM programme_balances "
                                          "WHERE programme_id = $1::uuid", programme_id) == \
            EVENTS * 300
        assert await _count(database_url, "SELECT count(*) FROM (SELECT 1 FROM ledger_postings "
                                          "GROUP BY transaction_id "
                                          "HAVING sum(amount_cents) <> 0) t") == 0
    finally:
        service.stop()
