"""Membership rules with plain values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cowork.membership import domain
from cowork.membership.domain import RuleViolation


@pytest.mark.parametrize(("start", "kind", "end"), [
    (date(2027, 1, 31), "monthly", date(2027, 2, 28)),    # no 31 February: end of February
    (date(2028, 1, 31), "monthly", date(2028, 2, 29)),    # leap year
    (date(2028, 1, 30), "monthly", date(2028, 2, 29)),    # 30 February does not exist either
    (date(2027, 1, 15), "monthly", date(2027, 2, 14)),
    (date(2027, 1, 1), "monthly", date(2027, 1, 31)),
    (date(2027, 3, 31), "monthly", date(2027, 4, 30)),
    (date(2027, 11, 30), "quarterly", date(2028, 2, 29)),
    (date(2027, 12, 1), "quarterly", date(2028, 2, 29)),
    (date(2028, 2, 29), "annual", date(2029, 2, 28)),
    (date(2027, 1, 1), "annual", date(2027, 12, 31)),
    (date(2027, 6, 5), "day_pass", date(2027, 6, 5)),
    (date(2027, 1, 10), "carnet", date(2027, 7, 9)),     # six months to use the days
])
def test_period_end(start: date, kind: domain.PlanKind, end: date) -> None:
    assert domain.period_for(kind, start) == (start, end)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
       st.sampled_from(["monthly", "quarterly", "annual", "carnet"]))
def test_a_period_lasts_its_months_give_or_take_month_lengths(start: date, kind: str) -> None:
    _, end = domain.period_for(kind, start)  # type: ignore[arg-type]
    months = domain.MONTHS_OF[kind]
    assert 28 * months - 3 <= (end - start).days + 1 <= 31 * months + 1
    assert end >= start


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
       st.sampled_from(["day_pass", "monthly", "quarterly", "annual"]),
       st.integers(min_value=1, max_value=6))
def test_renewals_follow_each_other_without_gap_or_overlap(start: date, kind: str,
                                                          renewals: int) -> None:
    _, end = domain.period_for(kind, start)  # type: ignore[arg-type]
    for _ in range(renewals):
        new_end = domain.renewed_period_end(kind, end)  # type: ignore[arg-type]
        assert new_end >= end + timedelta(days=1)
        assert domain.period_for(kind, end + timedelta(days=1))[1] == new_end  # type: ignore[arg-type]
        end = new_end


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
       st.sampled_from(["day_pass", "monthly", "quarterly", "annual", "carnet"]),
       st.integers(min_value=-400, max_value=400))
def test_a_renewal_never_starts_more_than_a_period_ahead_nor_in_the_past(
        today: date, kind: str, offset: int) -> None:
    current_end = today + timedelta(days=offset)
    limit = domain.period_for(kind, today)[1] + timedelta(days=1)  # type: ignore[arg-type]
    try:
        start, end = domain.renewal_period(kind, current_end, today)  # type: ignore[arg-type]
    except RuleViolation as exc:
        assert exc.code == "renewal_too_early"
        assert current_end + timedelta(days=1) > limit
        return
    assert today <= start <= limit
    assert start == max(current_end + timedelta(days=1), today)
    assert (start, end) == domain.period_for(kind, start)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "action", "after"), [
    ("active", "suspend", "suspended"), ("suspended", "reinstate", "active"),
    ("active", "cancel", "cancelled"), ("suspended", "cancel", "cancelled"),
    ("active", "renew", "active"), ("suspended", "renew", "suspended"),
    ("active", "expire", "expired"), ("suspended", "expire", "expired"),
])
def test_allowed_transitions(status: domain.Status, action: domain.Action,
                             after: domain.Status) -> None:
    assert domain.transition(status, action) == after


@pytest.mark.parametrize(("status", "action"), [
    ("suspended", "suspend"), ("active", "reinstate"), ("expired", "renew"),
    ("cancelled", "renew"), ("cancelled", "cancel"), ("expired", "suspend"),
    ("cancelled", "expire"),
])
def test_refused_transitions(status: domain.Status, action: domain.Action) -> None:
    with pytest.raises(RuleViolation, match="cannot be"):
        domain.transition(status, action)


def test_tax_codes_are_validated_with_their_check_digit() -> None:
    assert domain.normalise_tax_code("person", "bncgli90a41f965d") == "BNCGLI90A41F965D"
    assert domain.normalise_tax_code("organisation", "02114050061") == "02114050061"
    with pytest.raises(RuleViolation) as wrong_digit:
        domain.normalise_tax_code("person", "BNCGLI90A41F965X")
    assert wrong_digit.value.field == "tax_code"
    with pytest.raises(RuleViolation):
        domain.normalise_tax_code("organisation", "02114050062")
    with pytest.raises(RuleViolation):  # a person's code is not a partita IVA
        domain.normalise_tax_code("organisation", "BNCGLI90A41F965D")


def test_expiry_is_at_midnight_in_rome_after_the_last_day() -> None:
    due = domain.expiry_due(date(2027, 7, 31))
    assert due.astimezone(UTC) == datetime(2027, 7, 31, 22, 0, tzinfo=UTC)  # CEST, UTC+2
    winter = domain.expiry_due(date(2027, 1, 31))
    assert winter.astimezone(UTC) == datetime(2027, 1, 31, 23, 0, tzinfo=UTC)


def test_expiring_notice_seven_days_before_and_none_for_short_periods() -> None:
    notice = domain.expiring_notice_due(date(2027, 1, 1), date(2027, 1, 31))
    assert notice is not None and notice.date() == date(2027, 1, 24)
    assert domain.expiring_notice_due(date(2027, 6, 5), date(2027, 6, 5)) is None
    assert domain.expiring_notice_due(date(2027, 1, 25), date(2027, 1, 31)) is None
    assert domain.days_left(date(2027, 1, 31), notice) == 7


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)),
       st.sampled_from(["day_pass", "monthly", "quarterly", "annual", "carnet"]),
       st.integers(min_value=0, max_value=400))
def test_renewing_until_refused_never_pays_two_periods_not_begun(
        starts_on: date, kind: str, days_later: int) -> None:
    """However often a member renews on one day (a month's end, a leap day included), at
    most one period paid is still to begin."""
    today = starts_on + timedelta(days=days_later)
    start, end = domain.period_for(kind, starts_on)  # type: ignore[arg-type]
    if end < today:
        return  # lapsed: expired (or renewed from today), another case
    starts = [start]
    for _ in range(5):
        try:
            start, end = domain.renewal_period(kind, end, today,  # type: ignore[arg-type]
                                               covered_from=starts_on)
        except RuleViolation as exc:
            assert exc.code == "renewal_too_early"
            break
        starts.append(start)
    assert len([s for s in starts if s > today]) <= 1, starts
