"""A data journalist's attacks on the open data: differencing what is published (month against
month, one count against another), forged periods. Each test states what the attacker must
not learn."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from urllib.parse import quote
from uuid import UUID, uuid4

import pytest
from stats_support import Stats, stats, token

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]
__all__ = ["stats"]

K = 5
MARCH = datetime(2027, 3, 10, 9, tzinfo=UTC)
APRIL = datetime(2027, 4, 10, 9, tzinfo=UTC)


async def _programme(stats: Stats) -> UUID:
    programme = uuid4()
    await stats.deliver(ev.ProgrammeOpened(
        programme_id=programme, name="Voucher 2027", budget_cents=10_000_000, coverage_pct=80,
        cap_per_beneficiary_cents=100_000, valid_from=date(2027, 1, 1),
        valid_until=date(2027, 12, 31), selection_mode="ranked"))
    return programme


async def _grant(stats: Stats, programme: UUID, cents: int, at: datetime) -> UUID:
    voucher = uuid4()
    await stats.deliver(ev.VoucherGranted(
        voucher_id=voucher, programme_id=programme, member_id=uuid4(), amount_cents=cents,
        valid_until=date(2027, 12, 31)), at=at)
    return voucher


async def _vouchers_row(stats: Stats, period: str, programme: UUID) -> dict[str, str]:
    response = await stats.client.get(f"/v1/open-data/vouchers/{period}.csv")
    assert response.status_code == 200, response.text
    [row] = [r for r in csv.DictReader(io.StringIO(response.text))
             if r["programme_id"] == str(programme)]
    return row


async def test_last_months_vouchers_do_not_give_a_new_beneficiarys_grant(stats: Stats) -> None:
    programme = await _programme(stats)
    for _ in range(7):
        await _grant(stats, programme, 100_000, MARCH)
    await _grant(stats, programme, 73_500, APRIL)  # the only one granted in April
    stats.clock.advance(days=40)  # May: both months are over
    assert (await stats.build("2027-03")).status_code == 201
    assert (await stats.build("2027-04")).status_code == 201
    march = await _vouchers_row(stats, "2027-03", programme)
    april = await _vouchers_row(stats, "2027-04", programme)
    assert march["granted_cents"] == "700000" and april["beneficiaries"] == "8"
    # The attack: April's figures minus March's, when they differ by fewer than K people.
    if march["granted_cents"] and april["granted_cents"] and march["beneficiaries"] \
            and april["beneficiaries"]:
        newcomers = int(april["beneficiaries"]) - int(march["beneficiaries"])
        assert not 0 < newcomers < K, (march, april)


async def test_the_beneficiaries_who_opened_no_partita_iva_are_not_a_small_difference(
        stats: Stats) -> None:
    programme = await _programme(stats)
    vouchers = [await _grant(stats, programme, 100_000, MARCH) for _ in range(7)]
    for voucher in vouchers[:6]:  # all but one opened a partita IVA
        await stats.deliver(ev.VoucherPartitaIvaDeclared(voucher_id=voucher, member_id=uuid4(),
                                                         at=MARCH))
    stats.clock.advance(days=40)
    assert (await stats.build("2027-03")).status_code == 201
    row = await _vouchers_row(stats, "2027-03", programme)
    assert row["beneficiaries"] == "7" and row["flag"] == "c"
    if row["beneficiaries"] and row["opened_partita_iva"]:
        assert not 0 < int(row["beneficiaries"]) - int(row["opened_partita_iva"]) < K, row


@pytest.mark.parametrize("period", ["\u0662\u0660\u0662\u0667-03", "2027-03\n"])
async def test_a_period_in_other_digits_or_with_a_newline_is_refused(stats: Stats,
                                                                      period: str) -> None:
    report = await stats.client.get(f"/v1/reports/{quote(period)}.pdf", headers=token("officer"))
    assert report.status_code == 422, report.status_code
    built = await stats.client.post("/v1/open-data/build", params={"period": period},
                                    headers=token("officer"))
    assert built.status_code == 422, built.text
    listing = (await stats.client.get("/v1/open-data")).json()
    assert listing["items"] == []


async def test_a_month_not_over_cannot_be_frozen_before_its_last_events(stats: Stats) -> None:
    """April 2nd: building April (or a later month) would freeze two days of it at its stable
    URL for good, and the night build after April ends would keep those bytes."""
    for period in ("2027-04", "2030-01"):
        early = await stats.build(period)
        assert early.status_code == 422 and early.json()["error"]["field"] == "period", period
    assert (await stats.client.get("/v1/open-data/members/2027-04.csv")).status_code == 404
    assert (await stats.build("2027-03")).status_code == 201  # March is over


async def test_an_erased_member_leaves_counts_but_no_row_keyed_by_their_id(stats: Stats) -> None:
    member, programme = uuid4(), await _programme(stats)
    await stats.deliver(ev.MemberRegistered(
        member_id=member, kind="person", language="it", residence_istat="006114",
        registered_at=MARCH, age_band="65+"))
    await stats.deliver(ev.VoucherGranted(
        voucher_id=uuid4(), programme_id=programme, member_id=member, amount_cents=50_000,
        valid_until=date(2027, 12, 31), status="unemployed"), at=MARCH)
    await stats.deliver(ev.MemberErased(member_id=member, erased_at=MARCH))
    db = stats.runtime.db
    for query in ("SELECT count(*) FROM stats_members WHERE member_id = $1",
                  "SELECT count(*) FROM stats_vouchers WHERE member_id = $1"):
        assert await db.fetchval(query, member) == 0, query
    # Still counted, still one person across both tables.
    assert await db.fetchval(
        "SELECT count(*) FROM stats_members m JOIN stats_vouchers v USING (member_id) "
        "WHERE m.status = 'unemployed' AND m.age_band = '65+'") == 1


async def test_a_voucher_read_before_its_members_registration_still_gives_the_status(
        stats: Stats) -> None:
    """Vouchers and membership are different topics: the grant may be read first."""
    programme = await _programme(stats)
    for _ in range(5):
        member = uuid4()
        await stats.deliver(ev.VoucherGranted(
            voucher_id=uuid4(), programme_id=programme, member_id=member, amount_cents=50_000,
            valid_until=date(2027, 12, 31), status="unemployed"), at=MARCH)
        await stats.deliver(ev.MemberRegistered(
            member_id=member, kind="person", language="it", residence_istat="006114",
            registered_at=MARCH, age_band="25-34"))
    assert (await stats.build("2027-03")).status_code == 201
    text = (await stats.client.get("/v1/open-data/members-status/2027-03.csv")).text
    rows = {r["status"]: r["members"] for r in csv.DictReader(io.StringIO(text))
            if r["measure"] == "members"}
    assert rows.get("unemployed") == "5", text
