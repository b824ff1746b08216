"""What a voucher pays, with plain values: the real programmes' amounts, rounding in favour
of the public purse, every cap, and what a cancellation gives back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cowork.vouchers.domain.ledger import share_of
from cowork.vouchers.domain.redemptions import SubsidyRules, Usage, reversal_for, subsidy_for

EUR = 100  # cents
MILAN_2013 = SubsidyRules(coverage_pct=50, cap_per_beneficiary_cents=1_500 * EUR,
                          cap_per_year_cents=1_500 * EUR)
MILAN_2015 = SubsidyRules(coverage_pct=50, cap_per_beneficiary_cents=1_500 * EUR,
                          cap_per_year_cents=1_500 * EUR, min_eligible_cost_cents=1_000 * EUR)
TUSCANY_SUBSIDY = SubsidyRules(coverage_pct=100, cap_per_beneficiary_cents=2_000 * EUR)
# Puglia pays the cost up to the caps; its sub-caps by desk type, in this product's resource kinds
PUGLIA_SUBSIDY = SubsidyRules(
    coverage_pct=100, cap_per_beneficiary_cents=3_000 * EUR,
    kind_caps_cents={"meeting_room": 2_000 * EUR,   # private room
                     "fixed_desk": 1_500 * EUR,     # reserved desk
                     "hot_desk": 1_000 * EUR})      # shared desk


def fresh_voucher(amount_cents: int) -> Usage:
    return Usage(remaining_cents=amount_cents)


def after(usage: Usage, subsidy: int, kind: str | None) -> Usage:
    """What the voucher has paid once `subsidy` is redeemed (the store's job, done by hand)."""
    by_kind = dict(usage.by_kind_cents)
    if kind is not None:
        by_kind[kind] = by_kind.get(kind, 0) + subsidy
    return Usage(usage.remaining_cents - subsidy, by_kind, usage.this_year_cents + subsidy)


@pytest.mark.parametrize(("spent", "subsidy"), [
    (3_000 * EUR, 1_500 * EUR),   # the reported example: spend 3,000 -> 1,500
    (800 * EUR, 400 * EUR),       # spend 800 -> 400
    (1 * EUR, 50),
    (1, 0),                        # half a cent rounds down, in favour of the public purse
    (333, 166),
])
def test_milan_2013_pays_half_up_to_1500_a_year(spent: int, subsidy: int) -> None:
    assert subsidy_for(MILAN_2013, spent, None, fresh_voucher(1_500 * EUR)) == subsidy


def test_milan_2013_twelve_months_of_desk_rent_stop_at_the_yearly_cap() -> None:
    usage = fresh_voucher(1_500 * EUR)
    paid = []
    for _ in range(14):  # EUR 300 a month: EUR 150 a month until the cap is reached
        subsidy = subsidy_for(MILAN_2013, 300 * EUR, "hot_desk", usage)
        paid.append(subsidy)
        usage = after(usage, subsidy, "hot_desk")
    assert paid == [150 * EUR] * 10 + [0] * 4
    assert usage.remaining_cents == 0


def test_milan_the_yearly_cap_binds_even_with_balance_left() -> None:
    usage = Usage(remaining_cents=1_000 * EUR, this_year_cents=1_400 * EUR)
    assert subsidy_for(MILAN_2013, 800 * EUR, None, usage) == 100 * EUR
    assert subsidy_for(MILAN_2013, 800 * EUR, None,
                       Usage(1_000 * EUR, this_year_cents=1_500 * EUR)) == 0


@pytest.mark.parametrize(("cost", "subsidy"), [
    (999_99, 0),                   # under EUR 1,000: not counted at all
    (1_000 * EUR, 500 * EUR),
    (1_000 * EUR + 1, 500 * EUR),  # 50,000.5 cents rounds down
    (4_000 * EUR, 1_500 * EUR),
])
def test_milan_2015_counts_only_costs_of_at_least_1000(cost: int, subsidy: int) -> None:
    assert subsidy_for(MILAN_2015, cost, None, fresh_voucher(1_500 * EUR)) == subsidy


def test_tuscany_pays_up_to_2000() -> None:
    usage = fresh_voucher(2_000 * EUR)
    first = subsidy_for(TUSCANY_SUBSIDY, 1_200 * EUR, "fixed_desk", usage)
    second = subsidy_for(TUSCANY_SUBSIDY, 1_200 * EUR, "fixed_desk",
                         after(usage, first, "fixed_desk"))
    assert (first, second) == (1_200 * EUR, 800 * EUR)


def test_puglia_sub_caps_by_desk_type() -> None:
    usage = fresh_voucher(3_000 * EUR)
    shared = subsidy_for(PUGLIA_SUBSIDY, 1_200 * EUR, "hot_desk", usage)
    assert shared == 1_000 * EUR                      # shared desk capped at 1,000
    usage = after(usage, shared, "hot_desk")
    assert subsidy_for(PUGLIA_SUBSIDY, 100 * EUR, "hot_desk", usage) == 0
    reserved = subsidy_for(PUGLIA_SUBSIDY, 1_800 * EUR, "fixed_desk", usage)
    assert reserved == 1_500 * EUR                    # reserved desk capped at 1,500
    usage = after(usage, reserved, "fixed_desk")
    room = subsidy_for(PUGLIA_SUBSIDY, 2_000 * EUR, "meeting_room", usage)
    assert room == 500 * EUR                          # private room: only the 3,000 left over
    assert subsidy_for(PUGLIA_SUBSIDY, 400 * EUR, "phone_booth",
                       fresh_voucher(3_000 * EUR)) == 400 * EUR  # no sub-cap for it
    assert subsidy_for(PUGLIA_SUBSIDY, 2_500 * EUR, "meeting_room",
                       fresh_voucher(3_000 * EUR)) == 2_000 * EUR


@given(st.integers(0, 10**9), st.integers(0, 100), st.integers(-10**6, 10**8),
       st.integers(0, 10**8), st.integers(0, 10**8), st.integers(0, 10**6))
def test_a_subsidy_never_exceeds_any_of_its_limits(charged: int, pct: int, remaining: int,
                                                   year_used: int, kind_used: int,
                                                   minimum: int) -> None:
    rules = SubsidyRules(pct, 10**8, cap_per_year_cents=5 * 10**7,
                         kind_caps_cents={"hot_desk": 3 * 10**7}, min_eligible_cost_cents=minimum)
    usage = Usage(remaining, {"hot_desk": kind_used}, year_used)
    subsidy = subsidy_for(rules, charged, "hot_desk", usage)
    assert 0 <= subsidy <= share_of(charged, pct)
    assert subsidy <= max(0, remaining)
    assert subsidy <= max(0, 5 * 10**7 - year_used)
    assert subsidy <= max(0, 3 * 10**7 - kind_used)
    if charged < minimum:
        assert subsidy == 0


def test_a_cancellation_in_time_reverses_the_whole_subsidy() -> None:
    assert reversal_for(400 * EUR, 50, late=False, late_charge_cents=0) == 400 * EUR


def test_a_late_cancellation_keeps_the_subsidy_on_the_charged_part() -> None:
    # EUR 80 desk, 50% = EUR 40 subsidised; cancelled late, the member still pays EUR 30:
    # the subsidy on that (EUR 15) stays, EUR 25 goes back.
    assert reversal_for(40 * EUR, 50, late=True, late_charge_cents=30 * EUR) == 25 * EUR
    # A late charge of the whole price keeps the whole subsidy.
    assert reversal_for(40 * EUR, 50, late=True, late_charge_cents=80 * EUR) == 0
    # A capped subsidy is never kept beyond what was paid.
    assert reversal_for(10 * EUR, 50, late=True, late_charge_cents=80 * EUR) == 0


@given(st.integers(0, 10**8), st.integers(0, 100), st.booleans(), st.integers(0, 10**8))
def test_a_reversal_is_never_more_than_the_subsidy(subsidy: int, pct: int, late: bool,
                                                   charge: int) -> None:
    reversed_ = reversal_for(subsidy, pct, late, charge)
    assert 0 <= reversed_ <= subsidy
    if late:
        assert subsidy - reversed_ <= share_of(charge, pct)
