"""Thresholds with plain values: each crossed once, upwards."""

from __future__ import annotations

import itertools
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from cowork.vouchers.domain.thresholds import (
    budget_thresholds_crossed,
    voucher_expiry_notice_due,
    voucher_threshold_crossed,
)

EUR = 100  # cents


def test_budget_thresholds_crossed_once_each() -> None:
    budget = 1_000
    assert budget_thresholds_crossed(budget, 0, 799) == []
    assert budget_thresholds_crossed(budget, 799, 800) == [80]
    assert budget_thresholds_crossed(budget, 800, 999) == []
    assert budget_thresholds_crossed(budget, 999, 1_000) == [100]
    assert budget_thresholds_crossed(budget, 0, 1_000) == [80, 100]
    assert budget_thresholds_crossed(budget, 1_000, 700) == []  # going down: nothing
    # 80% of 3 cents is 2.4 cents: 2 cents is not yet there, 3 is
    assert budget_thresholds_crossed(3, 0, 2) == []
    assert budget_thresholds_crossed(3, 2, 3) == [80, 100]


@given(st.integers(1, 10**9), st.lists(st.integers(0, 10**9), max_size=30))
def test_rising_use_crosses_each_budget_threshold_exactly_once(budget: int,
                                                               steps: list[int]) -> None:
    used = [0]
    for step in steps:
        used.append(min(budget, used[-1] + step))
    crossed = [pct for before, after in itertools.pairwise(used)
               for pct in budget_thresholds_crossed(budget, before, after)]
    assert crossed == [pct for pct in (80, 100) if used[-1] * 100 >= budget * pct]


def test_voucher_80_percent_used() -> None:
    amount = 1_500 * EUR
    assert not voucher_threshold_crossed(amount, 0, 1_199 * EUR)
    assert voucher_threshold_crossed(amount, 1_199 * EUR, 1_200 * EUR)
    assert not voucher_threshold_crossed(amount, 1_200 * EUR, 1_500 * EUR)
    assert voucher_threshold_crossed(amount, 0, 1_500 * EUR)
    assert not voucher_threshold_crossed(0, 0, 0)


def test_voucher_expiry_notice_from_14_days_before() -> None:
    until = date(2027, 6, 30)
    assert not voucher_expiry_notice_due(until, date(2027, 6, 15))
    assert voucher_expiry_notice_due(until, date(2027, 6, 16))
    assert voucher_expiry_notice_due(until, until)
    assert not voucher_expiry_notice_due(until, date(2027, 7, 1))
