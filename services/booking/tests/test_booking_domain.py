"""Booking rules with plain values: grid, hours, DST, holidays, pricing, rights."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cowork.booking import domain
from cowork.booking.domain import Resource, RuleViolation, Space

ROME_OPEN = {d: [(time(8), time(19))] for d in ("mon", "tue", "wed", "thu", "fri")}
SPACE = Space("Europe/Rome", ROME_OPEN, frozenset({date(2027, 3, 10)}), frozenset({(8, 5)}))
ALL_DAY = Space("Europe/Rome", {d: [(time(0), time(0))] for d in domain.WEEKDAYS})
DESK = Resource("hot_desk", 300, 1500, 30, 60, 660, 60)
NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # Monday 08:00 in Rome


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=domain.ZoneInfo("Europe/Rome"))


def refused(start: datetime, end: datetime, *, space: Space = SPACE,
            resource: Resource = DESK, now: datetime = NOW) -> str:
    with pytest.raises(RuleViolation) as exc:
        domain.check_interval(space, resource, start, end, now)
    return exc.value.code


def test_a_good_interval_passes() -> None:
    domain.check_interval(SPACE, DESK, at(1, 9), at(1, 13), NOW)


def test_interval_rules() -> None:
    assert refused(at(1, 13), at(1, 9)) == "end_before_start"
    assert refused(at(1, 7), at(1, 9), now=NOW - timedelta(days=1)) == "outside_opening_hours"
    assert refused(at(1, 17), at(1, 20)) == "outside_opening_hours"
    assert refused(at(1, 9, 15), at(1, 11)) == "off_grid"
    assert refused(at(1, 9), at(1, 9, 30)) == "too_short"
    assert refused(at(1, 8), at(1, 19), resource=Resource("hot_desk", 300, None, 30, 60, 600, 60)) == "too_long"
    assert refused(at(1, 7, 30), at(1, 9), now=NOW + timedelta(hours=1)) == "in_the_past"
    assert refused(at(3, 9, month=5), at(3, 11, month=5)) == "beyond_advance_window"


@pytest.mark.parametrize(("day", "month", "why"), [
    (6, 3, "weekend"),        # Saturday: no opening hours
    (10, 3, "one-off closure"),
    (29, 3, "Easter Monday"),  # Italian public holiday from the holidays library
    (5, 8, "Madonna della Neve, 5 August"),
])
def test_closed_days(day: int, month: int, why: str) -> None:
    far = Resource("hot_desk", 300, None, 30, 60, 660, 365)
    assert refused(at(day, 9, month=month), at(day, 11, month=month), resource=far) in (
        "closed", "outside_opening_hours"), why


def test_public_holidays_are_named() -> None:
    assert "Easter" in (domain.closed_reason(SPACE, date(2027, 3, 29)) or "")
    assert domain.closed_reason(SPACE, date(2027, 3, 30)) is None


def test_a_booking_across_the_october_change_lasts_what_was_asked() -> None:
    # 31 October 2027: clocks go back from 03:00 CEST to 02:00 CET.
    start = datetime(2027, 10, 31, 0, 30, tzinfo=domain.ZoneInfo("Europe/Rome"))  # CEST
    end = datetime(2027, 10, 31, 3, 30, tzinfo=domain.ZoneInfo("Europe/Rome"))    # CET
    assert domain.minutes_between(start, end) == 240  # four real hours, not three
    night = Resource("hot_desk", 300, None, 30, 60, 660, 365)
    domain.check_interval(ALL_DAY, night, start, end, NOW)
    assert domain.price_cents(night, start, end) == 1200


def test_price_is_hourly_or_daily_when_cheaper() -> None:
    assert domain.price_cents(DESK, at(1, 9), at(1, 11)) == 600
    assert domain.price_cents(DESK, at(1, 9), at(1, 10, 30)) == 450
    assert domain.price_cents(DESK, at(1, 8), at(1, 19)) == 1500  # 11 h hourly = 3300
    room = Resource("meeting_room", 2500, None, 30, 30, 480, 90)
    assert domain.price_cents(room, at(1, 8), at(1, 16)) == 20000


@given(st.integers(min_value=1, max_value=22), st.integers(min_value=0, max_value=3))
def test_price_never_exceeds_the_daily_tariff_and_grows_with_length(slots: int, extra: int) -> None:
    start = at(2, 8)
    shorter = domain.price_cents(DESK, start, start + timedelta(minutes=30 * slots))
    longer = domain.price_cents(DESK, start, start + timedelta(minutes=30 * (slots + extra)))
    assert shorter <= longer <= 1500


@given(st.lists(st.tuples(st.integers(0, 21), st.integers(1, 4)), max_size=6))
def test_free_intervals_never_touch_what_is_taken(taken_slots: list[tuple[int, int]]) -> None:
    opens, closes = at(1, 8), at(1, 19)
    taken = [(opens + timedelta(minutes=30 * s), opens + timedelta(minutes=30 * (s + n)))
             for s, n in taken_slots]
    free = domain.free_intervals([(opens, closes)], taken)
    for f_start, f_end in free:
        assert opens <= f_start < f_end <= closes
        assert all(f_end <= t_start or f_start >= t_end for t_start, t_end in taken)
    covered = sum((e - s for s, e in free), timedelta()) + sum(
        (min(e, closes) - max(s, opens) for s, e in _merged(taken)), timedelta())
    assert covered == closes - opens


def _merged(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


RIGHTS = domain.Rights("active", frozenset({"hot_desk", "meeting_room"}), date(2027, 3, 1),
                       date(2027, 3, 31), max_bookings_per_day=2, carnet_days=None,
                       meeting_room_minutes_per_month=120)


def refused_rights(rights: domain.Rights | None, kind: str = "hot_desk", day: date = date(2027, 3, 2),
                   minutes: int = 60, usage: domain.Usage | None = None) -> str:
    with pytest.raises(RuleViolation) as exc:
        domain.check_rights(rights, kind, day, minutes, usage or domain.Usage())
    assert exc.value.status == 403
    return exc.value.code


def test_rights() -> None:
    domain.check_rights(RIGHTS, "hot_desk", date(2027, 3, 2), 60, domain.Usage())
    assert refused_rights(None) == "no_membership"
    assert refused_rights(domain.Rights(**{**RIGHTS.__dict__, "status": "suspended"})) == "membership_not_active"
    assert refused_rights(RIGHTS, kind="event_room") == "plan_excludes_resource"
    assert refused_rights(RIGHTS, day=date(2027, 4, 1)) == "outside_membership_period"
    assert refused_rights(RIGHTS, usage=domain.Usage(bookings_that_day=2)) == "fair_use_daily"
    assert refused_rights(RIGHTS, kind="meeting_room", minutes=90,
                          usage=domain.Usage(meeting_room_minutes_that_month=60)) == "meeting_room_allowance"
    carnet = domain.Rights(**{**RIGHTS.__dict__, "carnet_days": 2})
    assert refused_rights(carnet, usage=domain.Usage(carnet_days_used=2)) == "carnet_used_up"
    # Another booking on a day already counted uses no new carnet day.
    domain.check_rights(carnet, "hot_desk", date(2027, 3, 2), 60,
                        domain.Usage(bookings_that_day=1, carnet_days_used=2,
                                     books_a_new_carnet_day=False))


ANNUAL = domain.Rights("active", frozenset({"hot_desk"}), date(2027, 1, 1), date(2027, 12, 31),
                      max_bookings_per_day=1, membership_id=uuid.UUID(int=1))
ROOM_CARNET = domain.Rights("active", frozenset({"hot_desk", "meeting_room"}), date(2027, 3, 1),
                           date(2027, 5, 31), carnet_days=2, membership_id=uuid.UUID(int=2))


def test_a_booking_draws_on_the_membership_that_spends_no_allowance_first() -> None:
    both = [(ROOM_CARNET, domain.Usage()), (ANNUAL, domain.Usage())]
    assert domain.choose_membership(both, "hot_desk", date(2027, 3, 2), 60) is ANNUAL
    assert domain.choose_membership(both, "meeting_room", date(2027, 3, 2), 60) is ROOM_CARNET
    # The annual plan's daily limit is reached: the carnet takes the desk booking.
    busy = [(ROOM_CARNET, domain.Usage()), (ANNUAL, domain.Usage(bookings_that_day=1))]
    assert domain.choose_membership(busy, "hot_desk", date(2027, 3, 2), 60) is ROOM_CARNET


def test_a_resource_reserved_for_some_plans() -> None:
    annual = domain.Rights(**{**ANNUAL.__dict__, "plan_code": "annual"})
    monthly = domain.Rights(**{**ANNUAL.__dict__, "plan_code": "monthly"})
    domain.check_rights(annual, "hot_desk", date(2027, 3, 2), 60, domain.Usage(),
                        frozenset({"annual"}))
    with pytest.raises(RuleViolation) as exc:
        domain.check_rights(monthly, "hot_desk", date(2027, 3, 2), 60, domain.Usage(),
                            frozenset({"annual"}))
    assert (exc.value.code, exc.value.status) == ("resource_reserved_for_other_plans", 403)
    assert domain.choose_membership([(monthly, domain.Usage()), (annual, domain.Usage())],
                                    "hot_desk", date(2027, 3, 2), 60,
                                    frozenset({"annual"})) is annual


def test_when_no_membership_allows_it_the_closest_refusal_is_told() -> None:
    used_up = [(ROOM_CARNET, domain.Usage(carnet_days_used=2)), (ANNUAL, domain.Usage())]
    with pytest.raises(RuleViolation) as exc:
        domain.choose_membership(used_up, "meeting_room", date(2027, 3, 2), 60)
    assert exc.value.code == "carnet_used_up"  # not the annual's "plan_excludes_resource"
    with pytest.raises(RuleViolation) as exc:
        domain.choose_membership([], "hot_desk", date(2027, 3, 2), 60)
    assert exc.value.code == "no_membership"


@given(st.lists(st.tuples(st.sampled_from(["active", "suspended", "expired"]),
                          st.sets(st.sampled_from(["hot_desk", "meeting_room", "phone_booth"])),
                          st.none() | st.integers(0, 3), st.integers(0, 3)), max_size=4),
       st.sampled_from(["hot_desk", "meeting_room", "phone_booth"]))
def test_a_booking_is_allowed_exactly_when_one_membership_allows_it_and_none_is_suspended(
        held: list[tuple[str, set[str], int | None, int]], kind: str) -> None:
    options = [(domain.Rights(status, frozenset(kinds), date(2027, 3, 1), date(2027, 3, 31),
                              carnet_days=carnet, membership_id=uuid.UUID(int=n)),
                domain.Usage(carnet_days_used=used))
               for n, (status, kinds, carnet, used) in enumerate(held)]

    def allows(rights: domain.Rights, usage: domain.Usage) -> bool:
        try:
            domain.check_rights(rights, kind, date(2027, 3, 2), 60, usage)
        except RuleViolation:
            return False
        return True

    suspended = any(r.status == "suspended" for r, _ in options)
    try:
        chosen = domain.choose_membership(options, kind, date(2027, 3, 2), 60)
    except RuleViolation as refusal:
        assert refusal.status == 403
        assert suspended or not any(allows(r, u) for r, u in options)
    else:
        assert not suspended, "a suspended member books nothing"
        assert any(r is chosen and allows(r, u) for r, u in options)


def test_cancellation_charge_and_check_in_window() -> None:
    start = at(3, 9)
    cutoff = timedelta(hours=24)
    assert domain.cancellation_charge(600, start, start - timedelta(hours=25), cutoff) == (False, 0)
    assert domain.cancellation_charge(600, start, start - timedelta(hours=2), cutoff) == (True, 600)
    early, grace = timedelta(minutes=15), timedelta(minutes=30)
    assert not domain.check_in_allowed(start, start - timedelta(minutes=16), early, grace)
    assert domain.check_in_allowed(start, start - timedelta(minutes=15), early, grace)
    assert domain.check_in_allowed(start, start + timedelta(minutes=30), early, grace)
    assert not domain.check_in_allowed(start, start + timedelta(minutes=31), early, grace)


# ---------------------------------------------------------------- what the member is charged

DESK_TARIFF = domain.Tariff(price_cents=600, per_hour_cents=300)
ROOM_TARIFF = domain.Tariff(price_cents=5000, per_hour_cents=2500)  # two hours of the room


def test_use_the_plan_includes_is_charged_nothing() -> None:
    assert domain.check_rights(RIGHTS, "hot_desk", date(2027, 3, 2), 120, domain.Usage(),
                               tariff=DESK_TARIFF) == 0
    assert domain.check_rights(RIGHTS, "meeting_room", date(2027, 3, 2), 120, domain.Usage(),
                               tariff=ROOM_TARIFF) == 0


def test_a_kind_the_plan_may_book_but_does_not_include_is_charged_the_tariff() -> None:
    desks_at_tariff = domain.Rights("active", frozenset({"hot_desk", "meeting_room"}),
                                    date(2027, 3, 1), date(2027, 3, 31),
                                    included_kinds=frozenset({"meeting_room"}))
    assert domain.check_rights(desks_at_tariff, "hot_desk", date(2027, 3, 2), 120,
                               domain.Usage(), tariff=DESK_TARIFF) == 600


def test_beyond_an_allowance_overage_charges_and_refuse_refuses() -> None:
    used = domain.Usage(meeting_room_minutes_that_month=60)  # 60 of 120 minutes left
    with pytest.raises(RuleViolation) as exc:
        domain.check_rights(RIGHTS, "meeting_room", date(2027, 3, 2), 120, used,
                            tariff=ROOM_TARIFF)
    assert exc.value.code == "meeting_room_allowance" and exc.value.status == 403
    overage = domain.Rights("active", frozenset({"hot_desk", "meeting_room"}), date(2027, 3, 1),
                            date(2027, 3, 31), meeting_room_minutes_per_month=120,
                            overage_kinds=frozenset({"meeting_room"}))
    # Only the 60 minutes beyond the allowance are charged, at the hourly rate.
    assert domain.check_rights(overage, "meeting_room", date(2027, 3, 2), 120, used,
                               tariff=ROOM_TARIFF) == 2500
    all_used = domain.Usage(meeting_room_minutes_that_month=180)
    assert domain.check_rights(overage, "meeting_room", date(2027, 3, 2), 120, all_used,
                               tariff=ROOM_TARIFF) == 5000
    carnet = domain.Rights("active", frozenset({"hot_desk"}), date(2027, 3, 1), date(2027, 8, 31),
                           carnet_days=1, overage_kinds=frozenset({"hot_desk"}))
    spent = domain.Usage(carnet_days_used=1)
    assert domain.check_rights(carnet, "hot_desk", date(2027, 3, 2), 120, spent,
                               tariff=DESK_TARIFF) == 600
    same_day = domain.Usage(carnet_days_used=1, books_a_new_carnet_day=False)
    assert domain.check_rights(carnet, "hot_desk", date(2027, 3, 2), 120, same_day,
                               tariff=DESK_TARIFF) == 0, "a carnet day already used is paid"


def test_fair_use_limits_refuse_even_with_overage() -> None:
    overage = domain.Rights("active", frozenset({"hot_desk"}), date(2027, 3, 1), date(2027, 3, 31),
                            max_bookings_per_day=1, overage_kinds=frozenset({"hot_desk"}))
    assert refused_rights(overage, usage=domain.Usage(bookings_that_day=1)) == "fair_use_daily"


def test_decide_draws_on_the_membership_that_charges_least() -> None:
    at_tariff = domain.Rights("active", frozenset({"hot_desk"}), date(2027, 3, 1),
                              date(2027, 3, 5), included_kinds=frozenset(),
                              membership_id=uuid.uuid4())
    included = domain.Rights("active", frozenset({"hot_desk"}), date(2027, 3, 1),
                             date(2027, 12, 31), membership_id=uuid.uuid4())
    decision = domain.decide([(at_tariff, domain.Usage()), (included, domain.Usage())],
                             "hot_desk", date(2027, 3, 2), 120, tariff=DESK_TARIFF)
    assert decision == domain.Decision(included, 0)


def test_pay_per_use() -> None:
    """Without a plan covering the kind, a known member pays the tariff where the resource
    allows it; an unknown id or a suspended member gets nothing."""
    decision = domain.decide([], "meeting_room", date(2027, 3, 2), 120, tariff=ROOM_TARIFF,
                             pay_per_use=True, known_member=True)
    assert decision == domain.Decision(None, 5000)
    desks_only = domain.Rights("active", frozenset({"hot_desk"}), date(2027, 3, 1),
                               date(2027, 3, 31))
    assert domain.decide([(desks_only, domain.Usage())], "meeting_room", date(2027, 3, 2), 120,
                         tariff=ROOM_TARIFF, pay_per_use=True).charged_cents == 5000
    with pytest.raises(RuleViolation) as exc:
        domain.decide([], "meeting_room", date(2027, 3, 2), 120, tariff=ROOM_TARIFF,
                      pay_per_use=True, known_member=False)
    assert exc.value.code == "no_membership"
    suspended = domain.Rights("suspended", frozenset({"hot_desk"}), date(2027, 3, 1),
                              date(2027, 3, 31))
    with pytest.raises(RuleViolation) as exc:
        domain.decide([(suspended, domain.Usage())], "meeting_room", date(2027, 3, 2), 120,
                      tariff=ROOM_TARIFF, pay_per_use=True, known_member=True)
    assert exc.value.code == "membership_not_active"
    with pytest.raises(RuleViolation) as exc:  # not open to pay-per-use: the plan's refusal
        domain.decide([(desks_only, domain.Usage())], "meeting_room", date(2027, 3, 2), 120,
                      tariff=ROOM_TARIFF)
    assert exc.value.code == "plan_excludes_resource"


@given(st.integers(0, 100_000), st.integers(0, 2000), st.integers(0, 1440))
def test_the_charge_never_exceeds_the_price(price: int, per_hour: int, minutes: int) -> None:
    assert 0 <= domain.Tariff(price, per_hour).for_minutes(minutes) <= price
