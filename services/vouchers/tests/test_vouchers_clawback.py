"""Clawback (issue 19, case 2): subsidies are decided at booking.confirmed for days that may be
weeks ahead, so ending a voucher (revocation) or a space's accreditation reverses, in the same
transaction, every subsidy already paid for use after the end — back to the programme, with
ledger entries and statement lines in the current month and `voucher.redemption_reversed`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from vouchers_support import OFFICER, Vouchers

from cowork.shared.events import Envelope
from cowork.shared.events import contracts as ev
from cowork.vouchers import commands, handlers

pytestmark = [pytest.mark.infra]

MARCH_1ST = date(2027, 3, 1)


async def _thirty_days_booked(svc: Vouchers, member_id: UUID, space_id: UUID
                              ) -> list[ev.BookingConfirmed]:
    """One subsidised day a day from 1 March (€20 charged, €10 paid by the voucher)."""
    bookings = [svc.booking(member_id, space_id, charged_cents=2_000,
                            day=MARCH_1ST + timedelta(days=n)) for n in range(30)]
    for booking in bookings:
        await svc.deliver(booking)
    return bookings


async def _statement(svc: Vouchers, programme_id: str, period: str = "2027-03") -> dict[str, Any]:
    response = await svc.client.get(f"/v1/programmes/{programme_id}/statements/{period}",
                                    headers=OFFICER)
    assert response.status_code == 200, response.text
    return response.json()


async def test_revocation_reverses_every_subsidy_for_use_after_it(svc: Vouchers) -> None:
    programme = await svc.programme()
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    bookings = await _thirty_days_booked(svc, member_id, space_id)
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000 - 30_000

    revoked = await svc.client.post(f"/v1/vouchers/{voucher_id}/revoke",
                                    json={"reason": "false_declaration"}, headers=OFFICER)
    assert revoked.status_code == 200, revoked.text
    voucher = revoked.json()
    # Today's use stays paid; the 29 days ahead are given back, and released with the rest.
    assert (voucher["status"], voucher["used_cents"], voucher["released_cents"]) == \
        ("revoked", 1_000, 149_000)
    reversals = await svc.outbox(ev.VoucherRedemptionReversed)
    assert sorted(r["source_id"] for r in reversals) == \
        sorted(str(b.booking_id) for b in bookings[1:])
    assert {r["reversed_cents"] for r in reversals} == {1_000}
    [ended] = await svc.outbox(ev.VoucherRevoked)
    assert ended["released_cents"] == 149_000
    after = await svc.read_programme(programme["id"])
    assert (after["disbursed_cents"], after["committed_cents"]) == (1_000, 0)
    assert after["available_cents"] == after["budget_cents"] - 1_000
    statement = await _statement(svc, programme["id"])
    assert (statement["redeemed_cents"], statement["reversed_cents"], statement["net_cents"]) \
        == (30_000, 29_000, 1_000)
    await svc.ledger_is_balanced(programme["id"])

    # The member cancels one of those days later: nothing is reversed twice.
    await svc.deliver(ev.BookingCancelled(
        booking_id=bookings[5].booking_id, member_id=member_id, cancelled_by="member",
        late=False, charged_cents=0, cancelled_at=datetime(2027, 3, 2, 9, tzinfo=UTC)))
    assert len(await svc.outbox(ev.VoucherRedemptionReversed)) == 29
    assert (await svc.read_programme(programme["id"]))["disbursed_cents"] == 1_000
    await svc.ledger_is_balanced(programme["id"])


async def test_revocation_reverses_a_renewal_paid_for_a_period_after_it(svc: Vouchers) -> None:
    programme = await svc.programme()
    member_id, voucher_id = await svc.granted(programme["id"])
    renewed = ev.MembershipRenewed(membership_id=UUID(int=7), member_id=member_id,
                                   period_start=date(2027, 4, 1), period_end=date(2027, 4, 30),
                                   price_cents=15_000)
    await svc.deliver(renewed)
    revoked = await svc.client.post(f"/v1/vouchers/{voucher_id}/revoke", headers=OFFICER)
    assert revoked.json()["used_cents"] == 0
    [reversal] = await svc.outbox(ev.VoucherRedemptionReversed)
    assert (reversal["source_type"], reversal["reversed_cents"]) == ("membership", 7_500)
    await svc.ledger_is_balanced(programme["id"])


async def test_the_end_of_an_accreditation_reverses_the_use_after_it_at_that_space(
        svc: Vouchers) -> None:
    programme = await svc.programme()
    space_id = await svc.space()
    elsewhere = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    bookings = await _thirty_days_booked(svc, member_id, space_id)
    await svc.deliver(svc.booking(member_id, elsewhere, charged_cents=2_000,
                                  day=date(2027, 3, 20)))
    svc.clock.now = datetime(2027, 3, 2, 9, tzinfo=UTC)
    ended = await svc.client.delete(f"/v1/accredited-spaces/{space_id}", headers=OFFICER)
    assert ended.status_code == 200 and ended.json()["until"] == "2027-03-02"
    # 1 March stays paid; 2 to 30 March (29 days) are given back to the voucher, which is
    # still active and may pay elsewhere; the other space's booking stays paid.
    reversals = await svc.outbox(ev.VoucherRedemptionReversed)
    assert sorted(r["source_id"] for r in reversals) == \
        sorted(str(b.booking_id) for b in bookings[1:])
    voucher = await svc.voucher(voucher_id)
    assert (voucher["status"], voucher["remaining_cents"]) == ("active", 150_000 - 2_000)
    after = await svc.read_programme(programme["id"])
    assert (after["disbursed_cents"], after["committed_cents"]) == (2_000, 148_000)
    statement = await _statement(svc, programme["id"])
    assert (statement["reversed_cents"], statement["net_cents"]) == (29_000, 2_000)
    await svc.ledger_is_balanced(programme["id"])


async def _confirm(conn: Any, svc: Vouchers, booking: ev.BookingConfirmed) -> None:
    handler: Any = handlers.handlers(svc.clock)[ev.BookingConfirmed.event_type]
    await handler(conn, [Envelope.wrap(booking, source="/cowork/test")])


async def _someone_waits_for_a_lock(svc: Vouchers) -> None:
    """Until a session of this database waits for a lock (at most 3 s: with no lock to wait
    for, the outcome shows it)."""
    for _ in range(30):
        if await svc.runtime.db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"):
            return
        await asyncio.sleep(0.1)


async def _race(svc: Vouchers, booking: ev.BookingConfirmed,
                end: Callable[[Any], Awaitable[object]], *, end_first: bool) -> int:
    """Two connections: the booking.confirmed is redeemed while `end` (a revocation, the end
    of an accreditation) is being committed, in the order asked: the first step holds its
    transaction open until the second waits for its lock. Returns what stays paid."""

    async def redeem(conn: Any) -> None:
        await _confirm(conn, svc, booking)

    first_step, second_step = (end, redeem) if end_first else (redeem, end)
    async with svc.runtime.db.acquire() as first_conn, svc.runtime.db.acquire() as second_conn:
        holding = first_conn.transaction()
        await holding.start()
        await first_step(first_conn)

        async def the_other() -> None:
            async with second_conn.transaction():
                await second_step(second_conn)

        other = asyncio.create_task(the_other())
        await _someone_waits_for_a_lock(svc)
        await holding.commit()
        await other
    return int(await svc.runtime.db.fetchval(
        "SELECT coalesce(sum(subsidy_cents - reversed_cents), 0) FROM redemptions "
        "WHERE source_id = $1", booking.booking_id))


@pytest.mark.parametrize("first", ["accreditation_end", "redemption"])
async def test_a_redemption_racing_the_end_of_an_accreditation_does_not_stay_paid(
        svc: Vouchers, first: str) -> None:
    """The booking.confirmed of a day after the end is redeemed while the end is being
    committed, in either order. Whichever commits first, that day is not paid."""
    programme = await svc.programme()
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    booking = svc.booking(member_id, space_id, charged_cents=2_000, day=date(2027, 3, 3))
    now = svc.clock()

    async def end_accreditation(conn: Any) -> None:
        await commands.end_accreditation(conn, space_id, now)

    paid = await _race(svc, booking, end_accreditation, end_first=first == "accreditation_end")
    assert paid == 0, "a day after the accreditation's end stayed subsidised"
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000
    await svc.ledger_is_balanced(programme["id"])


@pytest.mark.parametrize("first", ["revocation", "redemption"])
async def test_a_redemption_racing_a_revocation_does_not_stay_paid(svc: Vouchers,
                                                                    first: str) -> None:
    programme = await svc.programme()
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    booking = svc.booking(member_id, space_id, charged_cents=2_000, day=date(2027, 3, 3))
    now = svc.clock()

    async def revoke(conn: Any) -> None:
        await commands.revoke(conn, UUID(voucher_id), None, now)

    paid = await _race(svc, booking, revoke, end_first=first == "revocation")
    assert paid == 0, "a day after the revocation stayed subsidised"
    assert (await svc.voucher(voucher_id))["used_cents"] == 0
    await svc.ledger_is_balanced(programme["id"])
