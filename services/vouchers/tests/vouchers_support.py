"""The vouchers service on real PostgreSQL and Kafka, driven through its HTTP API, with the
clock in the test's hands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from cowork.devtools import Infra, ManualClock
from cowork.shared.auth import issue_token
from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev
from cowork.shared.scheduler import Scheduler
from cowork.shared.service import ServiceRuntime
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET
from cowork.vouchers import commands, handlers
from cowork.vouchers.app import VouchersSettings, create_app

# Monday 1 March 2027, 10:00 in Rome (CET, UTC+1).
MARCH_1ST = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

MILAN_2013: dict[str, Any] = {
    "name": "Voucher coworking Milano 2013", "budget_cents": 29_824_000, "coverage_pct": 50,
    "cap_per_beneficiary_cents": 150_000, "cap_per_year_cents": 150_000,
    "valid_from": "2027-03-01", "valid_until": "2028-12-31", "max_duration_months": 12,
    "selection_mode": "first_come",
    "eligibility": {"member_kinds": ["person"], "min_age": 18},
    "subsidises": {"memberships": True, "bookings": True,
                   "resource_kinds": ["hot_desk", "fixed_desk"]},
    "min_desks": 10,
}

ADULT = {"birth_date": "1990-05-17", "residence_istat": "015146", "status": "unemployed"}


def token(sub: str, *roles: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub=sub,
                                                     roles=list(roles))}


OFFICER = token("officer-1", "officer")


def member_token(member_id: UUID | str) -> dict[str, str]:
    return token(str(member_id), "member")


@dataclass
class Vouchers:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    clock: ManualClock
    topic_prefix: str
    bootstrap: str

    async def programme(self, **change: Any) -> dict[str, Any]:
        response = await self.client.post("/v1/programmes", json={**MILAN_2013, **change},
                                          headers=OFFICER)
        assert response.status_code == 201, response.text
        return response.json()

    async def read_programme(self, programme_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/programmes/{programme_id}", headers=OFFICER)
        assert response.status_code == 200, response.text
        return response.json()

    async def apply(self, programme_id: str, member_id: UUID, **declarations: Any
                    ) -> httpx.Response:
        return await self.client.post(
            f"/v1/programmes/{programme_id}/applications",
            json={"member_id": str(member_id), "declarations": {**ADULT, **declarations}},
            headers=member_token(member_id))

    async def deliver(self, event: ev.DomainEvent, envelope_id: UUID | None = None) -> Envelope:
        """Apply an event through the real handler, in a transaction, as the consumer does."""
        envelope = Envelope.wrap(event, source="/cowork/test")
        if envelope_id is not None:
            envelope = Envelope(type=envelope.type, source=envelope.source,
                                subject=envelope.subject, data=event, id=envelope_id)
        handler: Any = handlers.handlers(self.clock)[event.event_type]
        async with self.runtime.db.acquire() as conn, conn.transaction():
            if getattr(handler, "applies_batches", False):
                await handler(conn, [envelope])
            else:
                await handler(conn, envelope)
        return envelope

    async def deliver_batch(self, events: list[ev.BookingConfirmed]) -> None:
        """Consecutive booking.confirmed events in one transaction, as the consumer hands a
        batch to the batch handler."""
        handler: Any = handlers.handlers(self.clock)[ev.BookingConfirmed.event_type]
        async with self.runtime.db.acquire() as conn, conn.transaction():
            await handler(conn, [Envelope.wrap(e, source="/cowork/test") for e in events])

    async def member(self, kind: str = "person", residence_istat: str | None = "015146"
                     ) -> UUID:
        member_id = uuid4()
        await self.deliver(ev.MemberRegistered(member_id=member_id, kind=kind,  # type: ignore[arg-type]
                                               language="it", residence_istat=residence_istat,
                                               registered_at=self.clock()))
        return member_id

    async def space(self, desks: int = 10, *, accredited_from: str | None = "2027-01-01"
                    ) -> UUID:
        space_id = uuid4()
        for n in range(desks):
            await self.deliver(ev.ResourcePublished(
                resource_id=uuid4(), space_id=space_id, name=f"Desk {n}",
                kind="hot_desk" if n % 5 else "fixed_desk", seats=1, price_per_hour_cents=300))
        if accredited_from is not None:
            response = await self.client.post("/v1/accredited-spaces", json={
                "space_id": str(space_id), "from": accredited_from, "reason": "listed"},
                headers=OFFICER)
            assert response.status_code == 201, response.text
        return space_id

    async def granted(self, programme_id: str, **declarations: Any) -> tuple[UUID, str]:
        """A new member with a voucher of the programme: (member id, voucher id)."""
        member_id = await self.member()
        response = await self.apply(programme_id, member_id, **declarations)
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "granted", response.json()
        return member_id, response.json()["voucher_id"]

    async def voucher(self, voucher_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/vouchers/{voucher_id}", headers=OFFICER)
        assert response.status_code == 200, response.text
        return response.json()

    def booking(self, member_id: UUID, space_id: UUID, *, charged_cents: int | None,
                day: date = date(2027, 3, 2), kind: str = "hot_desk",
                booking_id: UUID | None = None) -> ev.BookingConfirmed:
        start = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
        return ev.BookingConfirmed(
            booking_id=booking_id or uuid4(), member_id=member_id, space_id=space_id,
            resource_id=uuid4(), resource_kind=kind, start=start,  # type: ignore[arg-type]
            end=start.replace(hour=16), price_cents=charged_cents or 1500,
            charged_cents=charged_cents)

    async def outbox(self, event_type: type[ev.DomainEvent]) -> list[dict[str, Any]]:
        """The payloads of one type the service wrote to its outbox, in order."""
        rows = await self.runtime.db.fetch("SELECT payload FROM outbox WHERE type = $1 "
                                           "ORDER BY seq", event_type.event_type)
        return [r["payload"] for r in rows]

    async def run_jobs(self) -> int:
        scheduler = Scheduler(self.runtime.db, commands.JOBS, clock=self.clock)
        return await scheduler.run_due()

    async def ledger_is_balanced(self, programme_id: str) -> dict[str, int]:
        """The auditor's check: postings summed per account equal the balances row, every
        transaction sums to zero and available + committed + disbursed = budget."""
        from cowork.vouchers.store.ledger import account_sums

        async with self.runtime.db.acquire() as conn:
            sums = await account_sums(conn, UUID(programme_id))
            unbalanced = await conn.fetchval(
                "SELECT count(*) FROM (SELECT transaction_id FROM ledger_postings "
                "GROUP BY transaction_id HAVING sum(amount_cents) <> 0) t")
        programme = await self.read_programme(programme_id)
        assert unbalanced == 0
        assert sums.get("available", 0) == programme["available_cents"]
        assert sums.get("committed", 0) == programme["committed_cents"]
        assert sums.get("disbursed", 0) == programme["disbursed_cents"]
        assert sums["funding"] == -programme["budget_cents"]
        assert (programme["available_cents"] + programme["committed_cents"]
                + programme["disbursed_cents"]) == programme["budget_cents"]
        await assert_verify_clean(self.runtime.db)  # and everything beside the ledger agrees
        return sums


async def assert_verify_clean(pool: asyncpg.Pool) -> None:
    """The auditor's verify (cowork-vouchers verify) over the whole database finds nothing:
    called at the end of every test that moves money."""
    from cowork.vouchers.cli import describe
    from cowork.vouchers.verify import verify

    async with pool.acquire() as conn:
        report = await verify(conn)
    assert report.clean, describe(report)


@pytest.fixture(params=[False], ids=["api"])
async def svc(request: pytest.FixtureRequest, infra: Infra, database_url: str,
              topic_prefix: str) -> AsyncIterator[Vouchers]:
    """The service without its consumers (tests deliver events through the handlers), or with
    them on real Kafka when a test parametrizes `svc` indirectly with True."""
    clock = ManualClock(MARCH_1ST)
    settings = VouchersSettings(database_url=database_url, kafka_bootstrap=infra.kafka_bootstrap,
                                topic_prefix=topic_prefix, run_scheduler=False,
                                run_consumers=request.param, outbox_poll_seconds=0.2,
                                log_json=False, db_pool_max=20)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://vouchers") as client:
            yield Vouchers(client, app.state.runtime, clock, topic_prefix, infra.kafka_bootstrap)
