"""A membership renewal is subsidised for the period it pays for (issue 19, case 1): dated by
the period's start — not by the day the event is processed — only inside the voucher's
validity, and counted against the cap of the year the period starts in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from vouchers_support import Vouchers

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


def renewal(member_id: UUID, period_start: date, *, membership_id: UUID | None = None,
            price_cents: int = 15_000) -> ev.MembershipRenewed:
    return ev.MembershipRenewed(
        membership_id=membership_id or uuid4(), member_id=member_id, price_cents=price_cents,
        period_start=period_start, period_end=period_start + timedelta(days=29))


async def _used_on(svc: Vouchers, voucher_id: str) -> list[date]:
    rows = await svc.runtime.db.fetch(
        "SELECT used_on FROM redemptions WHERE voucher_id = $1 ORDER BY used_on",
        UUID(voucher_id))
    return [r["used_on"] for r in rows]


async def test_a_renewal_paid_ahead_is_subsidised_on_its_period_start(svc: Vouchers) -> None:
    programme = await svc.programme()
    member_id, voucher_id = await svc.granted(programme["id"])
    await svc.deliver(renewal(member_id, date(2027, 4, 1)))  # processed on 1 March
    assert await _used_on(svc, voucher_id) == [date(2027, 4, 1)]
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000 - 7_500
    await svc.ledger_is_balanced(programme["id"])


async def test_a_renewal_for_a_period_outside_the_vouchers_validity_is_not_subsidised(
        svc: Vouchers) -> None:
    programme = await svc.programme()
    member_id, voucher_id = await svc.granted(programme["id"])
    valid_until = date.fromisoformat((await svc.voucher(voucher_id))["valid_until"])
    await svc.deliver(renewal(member_id, valid_until + timedelta(days=1)))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000
    assert await svc.outbox(ev.VoucherRedeemed) == []


async def test_the_year_cap_is_the_one_of_the_year_the_period_starts_in(svc: Vouchers) -> None:
    programme = await svc.programme(cap_per_beneficiary_cents=300_000, max_duration_months=24)
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    svc.clock.now = datetime(2027, 12, 20, 9, tzinfo=UTC)
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=300_000,
                                  day=date(2027, 12, 21)))  # 2027's €1,500 spent
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000
    # Paid in December for January: 2028's cap, untouched, pays it.
    await svc.deliver(renewal(member_id, date(2028, 1, 1)))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000 - 7_500
    # Processed in 2028 for a period starting in 2027: 2027's cap, spent, pays nothing.
    svc.clock.now = datetime(2028, 1, 2, 9, tzinfo=UTC)
    await svc.deliver(renewal(member_id, date(2027, 12, 30)))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000 - 7_500
    await svc.ledger_is_balanced(programme["id"])


async def test_a_renewal_record_without_its_period_is_not_subsidised(svc: Vouchers) -> None:
    """A record written before membership said which period it pays for: never dated by
    the day it happens to be processed (that is how renewals drained vouchers)."""
    programme = await svc.programme()
    member_id, voucher_id = await svc.granted(programme["id"])
    await svc.deliver(ev.MembershipRenewed(membership_id=uuid4(), member_id=member_id,
                                           period_end=date(2027, 4, 30), price_cents=15_000))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000


async def test_a_voucher_granted_on_a_leap_day_pays_for_28_february_a_year_later(
        svc: Vouchers) -> None:
    """12 months from 29 February 2028 run to 28 February 2029 (membership's annual period
    from that day ends then too): the renewal for the period starting that day is paid, and
    verify agrees."""
    programme = await svc.programme(valid_from="2028-01-01", valid_until="2029-12-31")
    svc.clock.now = datetime(2028, 2, 29, 9, tzinfo=UTC)
    member_id, voucher_id = await svc.granted(programme["id"])
    assert (await svc.voucher(voucher_id))["valid_until"] == "2029-02-28"
    svc.clock.now = datetime(2029, 2, 1, 9, tzinfo=UTC)
    await svc.deliver(renewal(member_id, date(2029, 2, 28)))
    assert await _used_on(svc, voucher_id) == [date(2029, 2, 28)]
    await svc.ledger_is_balanced(programme["id"])
