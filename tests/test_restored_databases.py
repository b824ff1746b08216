"""A service's database restored from a backup, for real (pg_dump and pg_restore of the
server's own version), with traffic before and after, while the other services keep running:
every effect is there exactly once afterwards (docs/operations.md, "Restoring a database").

- membership restored (a producer): its keys are numbered again from the backup; the next
  renewal is still applied by vouchers and booking, not taken for a late replay.
- vouchers restored (a consumer): it resumes from the positions in its own database, not from
  its group's offsets in Kafka, and applies the day's redemptions again, each once.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from cowork.booking.app import BookingSettings
from cowork.booking.app import create_app as booking_app
from cowork.devtools.services import bearer, eventually, running
from cowork.membership.app import MembershipSettings
from cowork.membership.app import create_app as membership_app
from cowork.vouchers.app import VouchersSettings
from cowork.vouchers.app import create_app as vouchers_app
from cowork.vouchers.cli import describe, verify_database

pytestmark = [pytest.mark.infra]

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
STAFF, OFFICER = bearer("staff", "front-desk"), bearer("officer", "comune")
VOUCHER = 150_000
HALF_A_MONTH = 7_500  # the programme pays half of the 150 € monthly plan


def stale_events(service: str) -> float:
    """Events a service's consumers did not apply as older than what they hold."""
    return sum(s.value for m in REGISTRY.collect() if m.name == "cowork_events_stale"
               for s in m.samples
               if s.name == "cowork_events_stale_total" and s.labels["service"] == service)


async def after_restore(service: str, database_url: str) -> str:
    """The runbook's step: `python -m cowork.<service> after-restore`, as an operator runs it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"cowork.{service}", "after-restore",
        env={**os.environ, f"{service.upper()}_DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def subsidised_member(people: Any, desks: Any, comune: Any) -> dict[str, str]:
    """A space of ten desks accredited, a programme paying half, a member granted a voucher
    who buys the monthly plan (the voucher pays 75 €): the ids the test goes on with."""
    space = (await desks.post("/v1/spaces", json={
        "name": "Biblioteca Civica", "address": "Via Marconi 36, Novi Ligure",
        "opening_hours": {"mon": [["08:00", "19:00"]]}}, headers=STAFF)).json()
    for n in range(10):
        await desks.post(f"/v1/spaces/{space['id']}/resources", json={
            "name": f"Hot desk {n}", "kind": "hot_desk", "price_per_hour_cents": 300},
            headers=STAFF)

    async def accredited():  # type: ignore[no-untyped-def]
        response = await comune.post("/v1/accredited-spaces", json={
            "space_id": space["id"], "from": "2027-03-01", "reason": "listed",
            "min_desks": 10}, headers=OFFICER)
        return response if response.status_code == 201 else None

    await eventually(accredited)
    programme = (await comune.post("/v1/programmes", json={
        "name": "Milano 2013", "budget_cents": 29_824_000, "coverage_pct": 50,
        "cap_per_beneficiary_cents": VOUCHER, "cap_per_year_cents": VOUCHER,
        "valid_from": "2027-03-01", "valid_until": "2028-12-31", "max_duration_months": 12,
        "selection_mode": "first_come", "min_desks": 10,
        "eligibility": {"member_kinds": ["person"], "residence_istat": ["006114"]},
        "subsidises": {"memberships": True, "bookings": True}}, headers=OFFICER)).json()
    plan = {"code": "monthly", "name": "Monthly", "kind": "monthly", "price_cents": 15000,
            "resource_kinds": ["hot_desk"]}
    assert (await people.post("/v1/plans", json=plan, headers=STAFF)).status_code == 201
    member = (await people.post("/v1/members", json={
        "kind": "person", "full_name": "Giulia Bianchi", "email": "giulia@example.org",
        "tax_code": "BNCGLI90A41F965D", "residence_istat": "006114",
        "consents": {"privacy": True}}, headers=STAFF)).json()
    me = bearer("member", member["id"])

    async def granted():  # type: ignore[no-untyped-def]
        response = await comune.post(
            f"/v1/programmes/{programme['id']}/applications",
            json={"member_id": member["id"], "declarations": {"birth_date": "1990-01-01"}},
            headers=me)
        return response.json() if response.json().get("status") == "granted" else None

    voucher_id = (await eventually(granted))["voucher_id"]
    membership = (await people.post(f"/v1/members/{member['id']}/memberships", json={
        "plan_code": "monthly", "starts_on": "2027-03-01"}, headers=me)).json()
    ids = {"member": member["id"], "voucher": voucher_id, "membership": membership["id"]}
    await voucher_reaches(comune, ids, VOUCHER - HALF_A_MONTH)
    return ids


async def voucher_reaches(comune: Any, ids: dict[str, str], remaining: int) -> None:
    me = bearer("member", ids["member"])

    async def there():  # type: ignore[no-untyped-def]
        voucher = (await comune.get(f"/v1/vouchers/{ids['voucher']}", headers=me)).json()
        return voucher if voucher["remaining_cents"] == remaining else None

    await eventually(there)


async def test_membership_restored_its_next_renewal_is_still_applied_by_vouchers_and_booking(
        infra, new_database, topic_prefix) -> None:
    common = {"kafka_bootstrap": infra.kafka_bootstrap, "topic_prefix": topic_prefix,
              "outbox_poll_seconds": 0.2, "log_json": False}
    membership_db = await new_database()

    def membership() -> FastAPI:  # a new process of the service on the same database
        return membership_app(MembershipSettings(database_url=membership_db, **common),
                              clock=lambda: NOW)

    booking = booking_app(BookingSettings(database_url=await new_database(), **common),
                          clock=lambda: NOW)
    vouchers = vouchers_app(VouchersSettings(database_url=await new_database(), **common),
                            clock=lambda: NOW)
    booking_db = booking.state.runtime.settings.database_url.get_secret_value()
    stale_before = stale_events("vouchers") + stale_events("booking")
    async with running(booking) as desks, running(vouchers) as comune:
        async with running(membership()) as people:
            ids = await subsidised_member(people, desks, comune)
            backup = await infra.dump_database(membership_db)
            renewed = await people.post(f"/v1/memberships/{ids['membership']}/renew",
                                        headers=STAFF)
            assert renewed.status_code == 200, renewed.text
            await voucher_reaches(comune, ids, VOUCHER - 2 * HALF_A_MONTH)

        # Last night's backup back in place; the renewal since is gone from membership.
        await infra.restore_database(membership_db, backup)
        assert "outbox epoch redrawn" in await after_restore("membership", membership_db)
        async with running(membership()) as people:
            again = await people.post(f"/v1/memberships/{ids['membership']}/renew",
                                      headers=STAFF)
            assert again.status_code == 200, again.text
            await voucher_reaches(comune, ids, VOUCHER - 3 * HALF_A_MONTH)
            period_end = again.json()["period_end"]

            async def eligible_until() -> Any:
                import asyncpg

                conn = await asyncpg.connect(booking_db)
                try:
                    row = await conn.fetchrow(
                        "SELECT period_end, (SELECT count(*) FROM inbox WHERE event_type = "
                        "'cowork.membership.membership.renewed.v1') AS renewals "
                        "FROM eligibility WHERE membership_id = $1::uuid", ids["membership"])
                finally:
                    await conn.close()
                return row if row is not None and row["renewals"] == 2 else None

            row = await eventually(eligible_until)
            assert str(row["period_end"]) == period_end
    assert stale_events("vouchers") + stale_events("booking") == stale_before, \
        "an event of the restored membership was taken for a late replay"


async def test_vouchers_restored_the_days_redemptions_are_applied_again_once(
        infra, new_database, topic_prefix) -> None:
    common = {"kafka_bootstrap": infra.kafka_bootstrap, "topic_prefix": topic_prefix,
              "outbox_poll_seconds": 0.2, "log_json": False}
    vouchers_db = await new_database()

    def vouchers() -> FastAPI:  # a new process of the service on the same database
        return vouchers_app(VouchersSettings(database_url=vouchers_db, **common),
                            clock=lambda: NOW)

    # A renewal goes at most one period ahead of today: the day's renewals are each made a
    # month after the last (membership's clock moves; vouchers' stays on the backup's day).
    today = [NOW]
    membership = membership_app(MembershipSettings(database_url=await new_database(),
                                                   **common), clock=lambda: today[0])
    booking = booking_app(BookingSettings(database_url=await new_database(), **common),
                          clock=lambda: NOW)

    async def redemptions(membership_id: str) -> list[Any]:
        import asyncpg

        conn = await asyncpg.connect(vouchers_db)
        try:
            return list(await conn.fetch(
                "SELECT source_event_id, count(*) AS n FROM redemptions WHERE source_id = "
                "$1::uuid GROUP BY 1", membership_id))
        finally:
            await conn.close()

    async def redeemed_ids(membership_id: str) -> set[Any]:
        """The ids of the `voucher.redeemed` events vouchers wrote for the membership."""
        import asyncpg

        conn = await asyncpg.connect(vouchers_db)
        try:
            return {r["id"] for r in await conn.fetch(
                "SELECT id FROM outbox WHERE type = 'cowork.vouchers.voucher.redeemed.v1' "
                "AND payload->>'source_id' = $1", membership_id)}
        finally:
            await conn.close()

    async with running(membership) as people, running(booking) as desks:
        async with running(vouchers()) as comune:
            ids = await subsidised_member(people, desks, comune)
            backup = await infra.dump_database(vouchers_db)  # last night's backup
            for n in (2, 3):  # the day's renewals, each paid half by the voucher
                today[0] = NOW.replace(month=NOW.month + n - 2)
                renewed = await people.post(f"/v1/memberships/{ids['membership']}/renew",
                                            headers=STAFF)
                assert renewed.status_code == 200, renewed.text
                await voucher_reaches(comune, ids, VOUCHER - n * HALF_A_MONTH)
            first_ids = await redeemed_ids(ids["membership"])
            assert len(first_ids) == 3, first_ids

        await infra.restore_database(vouchers_db, backup)
        assert len(await redemptions(ids["membership"])) == 1, "the day's redemptions are gone"
        await after_restore("vouchers", vouchers_db)
        async with running(vouchers()) as comune:
            await voucher_reaches(comune, ids, VOUCHER - 3 * HALF_A_MONTH)
            today[0] = NOW.replace(month=NOW.month + 2)
            renewed = await people.post(f"/v1/memberships/{ids['membership']}/renew",
                                        headers=STAFF)
            assert renewed.status_code == 200, renewed.text
            await voucher_reaches(comune, ids, VOUCHER - 4 * HALF_A_MONTH)
            applied = await redemptions(ids["membership"])
            assert len(applied) == 4 and all(r["n"] == 1 for r in applied), applied
            # The redemptions applied again are announced under the ids they had the first
            # time, so notifications' inbox drops the repeat: no second mail to the member.
            again_ids = await redeemed_ids(ids["membership"])
            assert first_ids <= again_ids and len(again_ids) == 4, (first_ids, again_ids)
            # The auditor's check passes on the restored and caught-up database.
            report = await verify_database(vouchers_db)
            assert report.clean, describe(report)
