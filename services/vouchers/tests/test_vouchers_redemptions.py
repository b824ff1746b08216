"""Redemptions and reversals from booking and membership events, applied through the real
handlers on real PostgreSQL: the Milan, Tuscany-free and Puglia rules, once per event."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from vouchers_support import OFFICER, Vouchers

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def test_a_booking_redeems_half_its_charge_once_however_often_it_arrives(
        svc: Vouchers) -> None:
    programme = await svc.programme()
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    booking = svc.booking(member_id, space_id, charged_cents=1_501)
    envelope = await svc.deliver(booking)
    await svc.deliver(booking, envelope_id=envelope.id)  # the same event, delivered again
    voucher = await svc.voucher(voucher_id)
    assert voucher["remaining_cents"] == 150_000 - 750  # 50% of 15.01 EUR, rounded down
    [redeemed] = await svc.outbox(ev.VoucherRedeemed)
    assert (redeemed["subsidy_cents"], redeemed["price_cents"], redeemed["remaining_cents"],
            redeemed["source_type"], redeemed["source_id"]) == \
        (750, 1_501, 149_250, "booking", str(booking.booking_id))
    programme_now = await svc.read_programme(programme["id"])
    assert (programme_now["committed_cents"], programme_now["disbursed_cents"]) == \
        (149_250, 750)
    await svc.ledger_is_balanced(programme["id"])


async def test_nothing_is_paid_without_a_known_charge_or_outside_the_rules(
        svc: Vouchers) -> None:
    programme = await svc.programme()
    accredited = await svc.space()
    late_accredited = await svc.space(accredited_from="2027-06-01")
    small = await svc.space(desks=9)
    unlisted = await svc.space(accredited_from=None)
    member_id, voucher_id = await svc.granted(programme["id"])
    for event in (
        svc.booking(member_id, accredited, charged_cents=None),  # an old record
        svc.booking(member_id, accredited, charged_cents=0),  # the plan includes it
        svc.booking(member_id, accredited, charged_cents=2_000, kind="meeting_room"),
        svc.booking(member_id, late_accredited, charged_cents=2_000),
        svc.booking(member_id, small, charged_cents=2_000),
        svc.booking(member_id, unlisted, charged_cents=2_000),
        svc.booking(member_id, accredited, charged_cents=2_000, day=date(2028, 3, 1)),
        svc.booking(uuid4(), accredited, charged_cents=2_000),  # no voucher
    ):
        await svc.deliver(event)
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000
    assert await svc.outbox(ev.VoucherRedeemed) == []


async def test_milan_pays_at_most_1500_euro_a_year_and_the_minimum_cost(svc: Vouchers) -> None:
    programme = await svc.programme(min_eligible_cost_cents=100_000,
                                    cap_per_beneficiary_cents=300_000, max_duration_months=24)
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=99_999))  # under €1,000
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 300_000
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=400_000))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000  # the year's cap
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=200_000))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=200_000,
                                  day=date(2028, 1, 10)))  # a new calendar year
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 50_000
    await svc.ledger_is_balanced(programme["id"])


async def test_puglia_sub_caps_by_desk_type(svc: Vouchers) -> None:
    programme = await svc.programme(
        name="Puglia 2020", coverage_pct=100, cap_per_beneficiary_cents=300_000,
        cap_per_year_cents=None, kind_caps_cents={"meeting_room": 200_000,
                                                  "fixed_desk": 150_000, "hot_desk": 100_000},
        subsidises={"bookings": True, "memberships": False, "resource_kinds": []})
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=120_000))
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=10_000))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 200_000  # shared desk: €1,000
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=200_000,
                                  kind="fixed_desk"))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 50_000  # reserved: €1,500
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=80_000,
                                  kind="meeting_room"))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 0  # the voucher's balance
    await svc.ledger_is_balanced(programme["id"])


async def test_a_membership_purchase_is_subsidised_when_the_programme_says_so(
        svc: Vouchers) -> None:
    programme = await svc.programme()
    member_id, voucher_id = await svc.granted(programme["id"])
    activated = ev.MembershipActivated(
        membership_id=uuid4(), member_id=member_id, plan_code="monthly", plan_kind="monthly",
        resource_kinds=["hot_desk"], period_start=date(2027, 3, 5),
        period_end=date(2027, 4, 4), price_cents=15_000)
    await svc.deliver(activated)
    await svc.deliver(ev.MembershipRenewed(membership_id=activated.membership_id,
                                           member_id=member_id,
                                           period_start=date(2027, 4, 5),
                                           period_end=date(2027, 5, 4), price_cents=15_000))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000 - 2 * 7_500
    assert [r["source_type"] for r in await svc.outbox(ev.VoucherRedeemed)] == \
        ["membership", "membership"]


async def test_cancellation_reverses_in_full_or_keeps_the_late_charges_share(
        svc: Vouchers) -> None:
    programme = await svc.programme()
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    early = svc.booking(member_id, space_id, charged_cents=2_000)
    late = svc.booking(member_id, space_id, charged_cents=3_000)
    await svc.deliver(early)
    await svc.deliver(late)
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000 - 2_500
    at = datetime(2027, 3, 1, 12, tzinfo=UTC)
    cancelled = ev.BookingCancelled(booking_id=early.booking_id, member_id=member_id,
                                    cancelled_by="member", late=False, charged_cents=0,
                                    cancelled_at=at)
    envelope = await svc.deliver(cancelled)
    await svc.deliver(cancelled, envelope_id=envelope.id)
    await svc.deliver(ev.BookingCancelled(booking_id=late.booking_id, member_id=member_id,
                                          cancelled_by="member", late=True, charged_cents=1_000,
                                          cancelled_at=at))
    # early: all 1,000 back; late: the member still pays 10 EUR, whose 5 EUR subsidy stays.
    reversals = await svc.outbox(ev.VoucherRedemptionReversed)
    assert [r["reversed_cents"] for r in reversals] == [1_000, 1_000]
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000 - 500
    programme_now = await svc.read_programme(programme["id"])
    assert programme_now["disbursed_cents"] == 500
    await svc.ledger_is_balanced(programme["id"])


async def test_thresholds_are_emitted_once_each(svc: Vouchers) -> None:
    programme = await svc.programme(budget_cents=300_000)
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=250_000))  # 125,000 = 83%
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=10_000))
    [voucher_80] = await svc.outbox(ev.VoucherThresholdReached)
    assert (voucher_80["voucher_id"], voucher_80["remaining_cents"]) == (voucher_id, 25_000)
    assert await svc.outbox(ev.BudgetThresholdReached) == []  # 50% committed
    await svc.granted(programme["id"])  # 100% committed: 80 and 100 crossed together
    assert [t["threshold_pct"] for t in await svc.outbox(ev.BudgetThresholdReached)] == [80, 100]
    revoked = await svc.client.post(f"/v1/vouchers/{voucher_id}/revoke",
                                    json={"reason": "other"}, headers=OFFICER)
    assert revoked.status_code == 200
    assert len(await svc.outbox(ev.BudgetThresholdReached)) == 2


async def test_a_late_charge_on_a_booking_the_plan_included_is_subsidised(
        svc: Vouchers) -> None:
    programme = await svc.programme()
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    included = svc.booking(member_id, space_id, charged_cents=0)
    in_time = svc.booking(member_id, space_id, charged_cents=0)
    await svc.deliver(included)
    await svc.deliver(in_time)
    assert await svc.outbox(ev.VoucherRedeemed) == []
    at = datetime(2027, 3, 1, 12, tzinfo=UTC)
    await svc.deliver(ev.BookingCancelled(booking_id=in_time.booking_id, member_id=member_id,
                                          cancelled_by="member", late=False, charged_cents=0,
                                          cancelled_at=at))
    cancelled = ev.BookingCancelled(booking_id=included.booking_id, member_id=member_id,
                                    cancelled_by="member", late=True, charged_cents=1_500,
                                    cancelled_at=at)
    envelope = await svc.deliver(cancelled)
    await svc.deliver(cancelled, envelope_id=envelope.id)
    [redeemed] = await svc.outbox(ev.VoucherRedeemed)
    assert (redeemed["source_id"], redeemed["price_cents"], redeemed["subsidy_cents"]) == \
        (str(included.booking_id), 1_500, 750)
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000 - 750
    await svc.ledger_is_balanced(programme["id"])


async def test_a_batch_of_bookings_pays_as_the_same_bookings_one_by_one(svc: Vouchers) -> None:
    programme = await svc.programme(
        coverage_pct=100, cap_per_beneficiary_cents=300_000, cap_per_year_cents=None,
        kind_caps_cents={"hot_desk": 100_000},
        subsidises={"bookings": True, "memberships": False, "resource_kinds": []})
    space_id = await svc.space()
    one_by_one, voucher_a = await svc.granted(programme["id"])
    batched, voucher_b = await svc.granted(programme["id"])

    def day_of(member_id, n: int, charge: int, kind: str) -> ev.BookingConfirmed:  # type: ignore[no-untyped-def]
        return svc.booking(member_id, space_id, charged_cents=charge, kind=kind,
                           day=date(2027, 3, 2 + n))

    plan = [(60_000, "hot_desk"), (60_000, "hot_desk"), (150_000, "fixed_desk"),
            (90_000, "fixed_desk"), (10_000, "hot_desk")]
    for n, (charge, kind) in enumerate(plan):
        await svc.deliver(day_of(one_by_one, n, charge, kind))
    batch = [day_of(batched, n, charge, kind) for n, (charge, kind) in enumerate(plan)]
    again = batch[0].model_copy(update={"resource_id": uuid4()})  # the same booking, re-sent
    await svc.deliver_batch([*batch, again])
    a, b = await svc.voucher(voucher_a), await svc.voucher(voucher_b)
    assert a["remaining_cents"] == b["remaining_cents"] == 300_000 - 100_000 - 150_000 - 50_000
    paid = await svc.outbox(ev.VoucherRedeemed)
    assert [p["subsidy_cents"] for p in paid if p["voucher_id"] == voucher_b] == \
        [60_000, 40_000, 150_000, 50_000]
    await svc.ledger_is_balanced(programme["id"])


async def test_a_batch_announces_80_percent_once_right_after_the_redemption_crossing_it(
        svc: Vouchers) -> None:
    programme = await svc.programme(coverage_pct=100, cap_per_beneficiary_cents=100_000,
                                    cap_per_year_cents=None)
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])

    def day(n: int, charge: int) -> ev.BookingConfirmed:
        return svc.booking(member_id, space_id, charged_cents=charge, day=date(2027, 3, 2 + n))

    # 70,000 then 15,000 (85 %: crossed) then 5,000 in one batch; 5,000 more in the next.
    await svc.deliver_batch([day(0, 70_000), day(1, 15_000), day(2, 5_000)])
    await svc.deliver_batch([day(3, 5_000)])
    rows = await svc.runtime.db.fetch(
        "SELECT type, payload FROM outbox WHERE type = ANY($1::text[]) ORDER BY seq",
        [ev.VoucherRedeemed.event_type, ev.VoucherThresholdReached.event_type])
    assert [(r["type"] == ev.VoucherThresholdReached.event_type, r["payload"]["remaining_cents"])
            for r in rows] == [(False, 30_000), (False, 15_000), (True, 15_000), (False, 10_000),
                               (False, 5_000)]
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 5_000
    sums = await svc.ledger_is_balanced(programme["id"])
    assert sums["disbursed"] == 95_000
