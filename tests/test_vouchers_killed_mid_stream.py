"""The vouchers service SIGKILLed while it redeems a stream of booking events: between a
batch's database commit and its offset commit Kafka delivers the batch again after the
restart, and still every booking is redeemed exactly once — one ledger entry, one
`voucher.redeemed` in the outbox — and the ledger balances."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cowork.devtools.kafka import publish
from cowork.devtools.processes import ServiceProcess, count
from cowork.shared.auth import issue_token
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET
from cowork.vouchers.cli import describe, verify_database

pytestmark = [pytest.mark.infra, pytest.mark.slow]

MEMBERS = 50
EVENTS = 800
OFFICER = {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub="officer",
                                                    roles=["officer"])}


async def _members_with_vouchers(port: int, bootstrap: str, topic_prefix: str,
                                 database_url: str) -> tuple[str, uuid.UUID, list[uuid.UUID]]:
    """A first-come programme valid from today, an accredited space, and members (registered
    by membership's events: vouchers applies only for members it knows) each holding a voucher
    large enough for every redemption of the test — all through the API."""
    today = datetime.now(UTC).date()
    members = [uuid.uuid4() for _ in range(MEMBERS)]
    await publish(bootstrap, topic_prefix + topics.MEMBERSHIP_EVENTS, [Envelope.wrap(
        ev.MemberRegistered(member_id=member, kind="person", language="it",
                            residence_istat=None, registered_at=datetime.now(UTC)),
        source="/cowork/membership") for member in members])
    for _ in range(3000):
        if await count(database_url, "SELECT count(*) FROM members") >= MEMBERS:
            break
        await asyncio.sleep(0.01)
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
    service = ServiceProcess("vouchers", database_url, infra.kafka_bootstrap, topic_prefix,
                             CONSUMER_BATCH_SIZE="20", DEMO_DATA="false")
    await service.start()
    try:
        programme_id, space_id, members = await _members_with_vouchers(
            service.port, infra.kafka_bootstrap, topic_prefix, database_url)
        # Published while the service consumes, so the kill lands mid-stream.
        publishing = asyncio.create_task(publish(
            infra.kafka_bootstrap, topic_prefix + topics.BOOKING_EVENTS,
            _bookings(members, space_id)))
        for _ in range(3000):
            if await count(database_url, "SELECT count(*) FROM redemptions") >= 30:
                break
            await asyncio.sleep(0.01)
        service.sigkill()
        at_kill = await count(database_url, "SELECT count(*) FROM redemptions")
        assert 0 < at_kill < EVENTS, "the kill must land mid-stream"
        await publishing

        await service.start()
        for _ in range(900):
            if await count(database_url, "SELECT count(*) FROM redemptions") >= EVENTS:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # a redelivered batch, if any, would be applied by now
        assert await count(database_url, "SELECT count(*) FROM redemptions") == EVENTS
        assert await count(database_url, "SELECT count(*) FROM ledger_transactions "
                                          "WHERE movement = 'redeem'") == EVENTS
        assert await count(database_url, "SELECT count(*) FROM outbox WHERE type = $1",
                            ev.VoucherRedeemed.event_type) == EVENTS
        assert await count(database_url, "SELECT disbursed_cents FROM programme_balances "
                                          "WHERE programme_id = $1::uuid", programme_id) == \
            EVENTS * 300
        assert await count(database_url, "SELECT count(*) FROM (SELECT 1 FROM ledger_postings "
                                          "GROUP BY transaction_id "
                                          "HAVING sum(amount_cents) <> 0) t") == 0
        # The auditor's verify: the ledger, vouchers and redemptions agree after the kill.
        report = await verify_database(database_url)
        assert report.clean, describe(report)
    finally:
        service.stop()
