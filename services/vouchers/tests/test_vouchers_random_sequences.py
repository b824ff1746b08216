"""Random sequences of what happens to a programme — applications, bookings, cancellations
(in time and late), revocations, expiries — applied through the API, the event handlers and
the scheduler on real PostgreSQL: after every step the ledger replays to the balances, the
balances sum to the budget, committed is what the vouchers still hold and disbursed is what
the redemptions paid net of reversals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vouchers_support import OFFICER, Vouchers, assert_verify_clean

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]

BOOK = st.tuples(st.just("book"), st.integers(0, 5), st.integers(0, 90_000), st.integers(1, 60))
STEP = st.one_of(
    st.tuples(st.just("apply")), BOOK, BOOK,
    st.tuples(st.just("cancel"), st.integers(0, 30), st.booleans(), st.integers(0, 90_000)),
    st.tuples(st.just("revoke"), st.integers(0, 5)),
    st.tuples(st.just("days_pass"), st.integers(1, 200)),
)


def _sequences(count: int) -> list[list[tuple[Any, ...]]]:
    drawn: list[list[tuple[Any, ...]]] = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None)
    @given(st.lists(STEP, min_size=10, max_size=25))
    def draw(steps: list[tuple[Any, ...]]) -> None:
        drawn.append(steps)

    draw()
    return drawn


async def _invariants(svc: Vouchers, programme_id: str) -> None:
    await svc.ledger_is_balanced(programme_id)
    read = await svc.read_programme(programme_id)
    held = await svc.runtime.db.fetchval(
        "SELECT coalesce(sum(remaining_cents), 0) FROM vouchers WHERE programme_id = $1",
        UUID(programme_id))
    paid = await svc.runtime.db.fetchval(
        "SELECT coalesce(sum(subsidy_cents - reversed_cents), 0) FROM redemptions "
        "WHERE programme_id = $1", UUID(programme_id))
    assert read["committed_cents"] == held
    assert read["disbursed_cents"] == paid
    assert min(read["available_cents"], read["committed_cents"], read["disbursed_cents"]) >= 0
    await assert_verify_clean(svc.runtime.db)


async def test_random_sequences_keep_the_ledger_and_the_vouchers_in_step(svc: Vouchers
                                                                        ) -> None:
    space_id = await svc.space()
    for steps in _sequences(12):
        svc.clock.now = datetime(2027, 3, 1, 9, tzinfo=UTC)
        programme = await svc.programme(budget_cents=400_000, max_duration_months=3,
                                        eligibility={},
                                        kind_caps_cents={"fixed_desk": 60_000})
        members: list[UUID] = []
        vouchers: list[str] = []
        bookings: list[ev.BookingConfirmed] = []
        for step in steps:
            today = svc.clock().date()
            if step[0] == "apply":
                member_id, response = await _apply(svc, programme["id"])
                if response["status"] == "granted":
                    members.append(member_id)
                    vouchers.append(response["voucher_id"])
            elif step[0] == "book" and members:
                _, who, charge, days_ahead = step
                booking = svc.booking(members[who % len(members)], space_id,
                                      charged_cents=charge,
                                      day=today + timedelta(days=days_ahead),
                                      kind="fixed_desk" if charge % 2 else "hot_desk")
                bookings.append(booking)
                await svc.deliver(booking)
            elif step[0] == "cancel" and bookings:
                _, which, late, charge = step
                booking = bookings[which % len(bookings)]
                await svc.deliver(ev.BookingCancelled(
                    booking_id=booking.booking_id, member_id=booking.member_id,
                    cancelled_by="member", late=late, charged_cents=charge if late else 0,
                    cancelled_at=svc.clock()))
            elif step[0] == "revoke" and vouchers:
                await svc.client.post(f"/v1/vouchers/{vouchers[step[1] % len(vouchers)]}/revoke",
                                      json={"reason": "random"}, headers=OFFICER)
            elif step[0] == "days_pass":
                svc.clock.advance(days=step[1])
                await svc.run_jobs()
            await _invariants(svc, programme["id"])
        assert date(2027, 3, 1) <= svc.clock().date()
    kinds = {r["type"].split(".")[-2] for r in await svc.runtime.db.fetch(
        "SELECT DISTINCT type FROM outbox")}
    assert {"redeemed", "redemption_reversed", "expired", "revoked"} <= kinds  # all exercised


async def _apply(svc: Vouchers, programme_id: str) -> tuple[UUID, dict[str, Any]]:
    member_id = await svc.member()
    response = await svc.apply(programme_id, member_id)
    assert response.status_code in (201, 409), response.text
    return member_id, response.json() if response.status_code == 201 else {"status": "closed"}
