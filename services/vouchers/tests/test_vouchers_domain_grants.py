"""Grants with plain values: the cap reduced to fit the budget and de minimis, a voucher's
validity, and the transparency threshold."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cowork.vouchers.domain.grants import (
    DE_MINIMIS_CEILING_CENTS,
    GrantDecision,
    de_minimis_headroom,
    de_minimis_window_start,
    grant_amount,
    needs_publication,
    undertaking_key,
    voucher_valid_until,
    voucher_validity,
)

EUR = 100  # cents


def test_milan_voucher_lasts_at_most_12_months_within_the_programme() -> None:
    assert voucher_valid_until(date(2013, 3, 10), 12, date(2014, 12, 31)) == date(2014, 3, 9)
    assert voucher_valid_until(date(2014, 6, 1), 12, date(2014, 12, 31)) == date(2014, 12, 31)
    assert voucher_valid_until(date(2014, 6, 1), None, date(2014, 12, 31)) == date(2014, 12, 31)


def test_de_minimis_counts_a_rolling_three_years() -> None:
    on = date(2027, 3, 10)
    grants = [(date(2024, 3, 10), 100_000 * EUR),   # three years ago to the day: out
              (date(2024, 3, 11), 120_000 * EUR),   # first day of the window: in
              (date(2027, 3, 10), 50_000 * EUR),    # the same day: in
              (date(2027, 3, 11), 90_000 * EUR)]    # later: not yet
    assert de_minimis_headroom(grants, on) == 130_000 * EUR
    # A day earlier the 2024-03-10 grant is still in the window and the later one is not yet.
    assert de_minimis_headroom(grants, date(2027, 3, 9)) == 80_000 * EUR
    assert de_minimis_headroom([(date(2024, 3, 10), 100_000 * EUR)],
                               date(2027, 3, 9)) == 200_000 * EUR
    assert de_minimis_headroom([(date(2024, 3, 10), 400_000 * EUR)],
                               date(2027, 3, 9)) == 0   # never negative
    assert de_minimis_headroom([], on) == DE_MINIMIS_CEILING_CENTS
    assert de_minimis_headroom([(date(2026, 1, 1), 10)], on, ceiling_cents=25) == 15


@given(st.lists(st.tuples(st.dates(date(2022, 1, 1), date(2027, 12, 31)),
                          st.integers(1, 15_000_000)), max_size=12),
       st.dates(date(2025, 1, 1), date(2027, 12, 31)), st.integers(1, 30_000_000))
def test_a_grant_reduced_to_fit_never_takes_an_undertaking_over_the_ceiling(
        previous: list[tuple[date, int]], on: date, cap: int) -> None:
    decision = grant_amount(cap, 10**12, de_minimis_headroom(previous, on))
    after = [*previous, (on, decision.amount_cents)]
    in_window = sum(amount for day, amount in after
                    if de_minimis_window_start(on) <= day <= on)
    already = in_window - decision.amount_cents
    # Within the ceiling after the grant, unless it was already over before (then refused).
    assert in_window <= max(DE_MINIMIS_CEILING_CENTS, already)
    if already >= DE_MINIMIS_CEILING_CENTS:
        assert decision == GrantDecision(0, ("de_minimis_exceeded",))
    elif already + cap > DE_MINIMIS_CEILING_CENTS:
        assert decision.amount_cents == DE_MINIMIS_CEILING_CENTS - already
        assert decision.reasons == ("de_minimis_reduced",)
    else:
        assert decision == GrantDecision(cap, ())


def test_de_minimis_window_of_a_leap_day() -> None:
    assert de_minimis_window_start(date(2028, 2, 29)) == date(2025, 3, 1)
    assert de_minimis_window_start(date(2027, 3, 10)) == date(2024, 3, 11)


def test_a_grant_is_the_cap_reduced_to_fit_or_refused() -> None:
    cap = 1_500 * EUR
    assert grant_amount(cap, 10_000 * EUR, 300_000 * EUR) == GrantDecision(cap, ())
    assert grant_amount(cap, 10_000 * EUR, 600 * EUR) == GrantDecision(
        600 * EUR, ("de_minimis_reduced",))
    assert grant_amount(cap, 900 * EUR, 300_000 * EUR) == GrantDecision(
        900 * EUR, ("budget_reduced",))
    assert grant_amount(cap, 10_000 * EUR, 0) == GrantDecision(
        0, ("de_minimis_exceeded",))
    assert grant_amount(cap, 0, 300_000 * EUR) == GrantDecision(
        0, ("budget_exhausted",))
    assert grant_amount(cap, 0, 0) == GrantDecision(
        0, ("budget_exhausted", "de_minimis_exceeded"))


@given(st.integers(-10**6, 10**9), st.integers(-10**6, 10**9), st.integers(-10**6, 10**9))
def test_a_grant_never_exceeds_cap_budget_or_headroom(cap: int, available: int,
                                                      headroom: int) -> None:
    decision = grant_amount(cap, available, headroom)
    assert 0 <= decision.amount_cents <= max(0, min(cap, available, headroom))
    assert (decision.amount_cents == 0) == (min(cap, available, headroom) <= 0)
    assert (decision.reasons == ()) == (cap > 0 and decision.amount_cents == cap)


def test_transparency_flags_grants_above_1000_a_year() -> None:
    assert not needs_publication(1_000 * EUR)
    assert needs_publication(1_000 * EUR + 1)
    assert not needs_publication(0)


def test_a_voucher_is_valid_from_the_grant_for_at_most_its_months() -> None:
    starts, ends = date(2027, 1, 1), date(2028, 12, 31)
    assert voucher_validity(date(2027, 3, 10), starts, ends, 12) == (
        date(2027, 3, 10), date(2028, 3, 9))
    # granted before the programme starts: valid from its start
    assert voucher_validity(date(2026, 12, 1), starts, ends, 12) == (starts, date(2027, 12, 31))
    assert voucher_validity(date(2028, 6, 1), starts, ends, 12) == (date(2028, 6, 1), ends)
    for no_limit in (None, 0):
        assert voucher_validity(date(2027, 3, 10), starts, ends, no_limit) == (
            date(2027, 3, 10), ends)


@pytest.mark.parametrize(("granted_on", "months", "last_day"), [
    (date(2028, 2, 29), 12, date(2029, 2, 28)),  # a leap day: the whole of 28 February 2029
    (date(2028, 2, 28), 12, date(2029, 2, 27)),
    (date(2027, 1, 31), 1, date(2027, 2, 28)),   # as membership's monthly from 31 January
    (date(2027, 1, 28), 1, date(2027, 2, 27)),
    (date(2027, 12, 31), 6, date(2028, 6, 30)),
    (date(2027, 3, 10), 12, date(2028, 3, 9)),
])
def test_a_voucher_granted_on_a_day_its_last_month_lacks_runs_to_that_months_end(
        granted_on: date, months: int, last_day: date) -> None:
    """Validity ends the day before the same day `months` later; when that month has no such
    day (29 February, 31 January + 1), on its last day: a voucher granted on 29 February is
    not a day shorter than one granted on the 28th (both ended on 27 February 2029)."""
    far = date(2040, 12, 31)
    assert voucher_validity(granted_on, date(2027, 1, 1), far, months) == (granted_on, last_day)
    assert voucher_valid_until(granted_on, months, far) == last_day


def test_one_undertaking_is_one_key_and_the_register_holds_no_tax_code() -> None:
    member, other = uuid.UUID(int=1), uuid.UUID(int=2)
    key = undertaking_key(member, "RSSMRA80A01H501U")
    assert key == undertaking_key(other, " rssmra80a01h501u ")  # same undertaking, any member
    assert key.startswith("tax:") and "RSSMRA" not in key.upper()
    assert undertaking_key(member, None) == undertaking_key(member, "") == f"member:{member}"
    assert undertaking_key(member, "RSSMRA80A01H501U") != undertaking_key(member, "VRDLGU80A01H501X")
