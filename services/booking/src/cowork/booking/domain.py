"""Booking rules: pure functions over plain values, no I/O.

Times arrive and are stored in UTC; a space's timezone governs its opening hours, slot grid,
closures and days. Lengths are real elapsed time, so a booking across the October DST change
lasts exactly as long as the member asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from uuid import UUID
from zoneinfo import ZoneInfo

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ACTIVE = ("confirmed", "checked_in")


class RuleViolation(ValueError):
    """A request the rules refuse: `status` 422 (bad interval) or 403 (not allowed to)."""

    def __init__(self, code: str, message: str, field: str | None = None,
                 status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.status = status


@dataclass(frozen=True)
class Space:
    timezone: str
    opening_hours: dict[str, list[tuple[time, time]]]  # weekday -> ranges; end 00:00 = midnight
    closures: frozenset[date] = frozenset()              # one-off closed days
    yearly_closures: frozenset[tuple[int, int]] = frozenset()  # (month, day), e.g. patron saint

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Resource:
    kind: str
    price_per_hour_cents: int
    price_per_day_cents: int | None
    slot_minutes: int
    min_minutes: int
    max_minutes: int
    advance_days: int
    buffer_minutes: int = 0


@dataclass(frozen=True)
class Rights:
    """A member's booking rights, as the membership events told us."""

    status: str
    resource_kinds: frozenset[str]
    period_start: date
    period_end: date
    max_bookings_per_day: int | None = None
    max_bookings_per_week: int | None = None
    carnet_days: int | None = None
    meeting_room_minutes_per_month: int | None = None
    membership_id: UUID | None = None
    plan_code: str | None = None
    # What the plan includes free of charge (None: every kind it may book) and, per kind,
    # whether use beyond an allowance (carnet days, meeting-room minutes) is charged at the
    # tariff (overage) instead of refused.
    included_kinds: frozenset[str] | None = None
    overage_kinds: frozenset[str] = frozenset()

    def includes(self, resource_kind: str) -> bool:
        return self.included_kinds is None or resource_kind in self.included_kinds

    def spends_allowance_on(self, resource_kind: str) -> bool:
        return self.carnet_days is not None or (
            resource_kind == "meeting_room" and self.meeting_room_minutes_per_month is not None)


@dataclass(frozen=True)
class Usage:
    """What one membership has already been drawn on, for the booking's day/week/month."""

    bookings_that_day: int = 0
    bookings_that_week: int = 0
    carnet_days_used: int = 0
    books_a_new_carnet_day: bool = True
    meeting_room_minutes_that_month: int = 0


# ---------------------------------------------------------------- calendar


@lru_cache(maxsize=64)
def _italian_holidays(year: int) -> holidays.HolidayBase:
    return holidays.Italy(years=year)


def closed_reason(space: Space, day: date) -> str | None:
    if day in space.closures:
        return "the space is closed that day"
    if (day.month, day.day) in space.yearly_closures:
        return "the space is closed that day (local holiday)"
    name = _italian_holidays(day.year).get(day)
    if name:
        return f"the space is closed on public holidays ({name})"
    return None


def public_holidays(first: date, last: date) -> list[date]:
    """The Italian public holidays between two days (inclusive): the same calendar the rules
    close the space on."""
    return sorted(d for year in range(first.year, last.year + 1)
                  for d in _italian_holidays(year) if first <= d <= last)


def local(moment: datetime, space: Space) -> datetime:
    return moment.astimezone(space.tz)


def opening_ranges(space: Space, day: date) -> list[tuple[datetime, datetime]]:
    """The day's opening ranges as aware datetimes in the space's timezone ([] when closed)."""
    if closed_reason(space, day):
        return []
    out = []
    for opens, closes in space.opening_hours.get(WEEKDAYS[day.weekday()], []):
        start = datetime.combine(day, opens, tzinfo=space.tz)
        end_day = day + timedelta(days=1) if closes == time(0, 0) else day
        out.append((start, datetime.combine(end_day, closes, tzinfo=space.tz)))
    return out


# ---------------------------------------------------------------- the interval


def minutes_between(start: datetime, end: datetime) -> int:
    """Real elapsed minutes. Python subtracts two datetimes of the same zone as wall-clock
    times (three hours across the October change for four real ones), so go through UTC."""
    return int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() // 60)


def check_interval(space: Space, resource: Resource, start: datetime, end: datetime,
                   now: datetime) -> None:
    """Every rule a requested interval must meet, each refused with the field to blame."""
    if start.tzinfo is None or end.tzinfo is None:
        raise RuleViolation("naive_time", "times need an offset (RFC 3339)", "start")
    # Compare instants, never wall-clock times of one zone (see minutes_between).
    start, end, now = start.astimezone(UTC), end.astimezone(UTC), now.astimezone(UTC)
    if end <= start:
        raise RuleViolation("end_before_start", "end must be after start", "end")
    if start < now:
        raise RuleViolation("in_the_past", "cannot book in the past", "start")
    if start > now + timedelta(days=resource.advance_days):
        raise RuleViolation("beyond_advance_window",
                            f"bookable at most {resource.advance_days} days ahead", "start")
    length = minutes_between(start, end)
    if length < resource.min_minutes:
        raise RuleViolation("too_short", f"at least {resource.min_minutes} minutes", "end")
    if length > resource.max_minutes:
        raise RuleViolation("too_long", f"at most {resource.max_minutes} minutes", "end")
    for name, moment in (("start", start), ("end", end)):
        lt = local(moment, space)
        if (lt.hour * 60 + lt.minute) % resource.slot_minutes or lt.second or lt.microsecond:
            raise RuleViolation("off_grid",
                                f"{name} must be on the {resource.slot_minutes}-minute grid", name)
    day = local(start, space).date()
    reason = closed_reason(space, day)
    if reason:
        raise RuleViolation("closed", reason, "start")
    if not within_opening_hours(space, start, end):
        raise RuleViolation("outside_opening_hours", "outside the space's opening hours", "start")


def within_opening_hours(space: Space, start: datetime, end: datetime) -> bool:
    """Inside one opening range of the start's local day (the day must be open)."""
    day = local(start, space).date()
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    return any(o.astimezone(UTC) <= start and end <= c.astimezone(UTC)
               for o, c in opening_ranges(space, day))


def price_cents(resource: Resource, start: datetime, end: datetime) -> int:
    """Hourly tariff pro rata, or the daily tariff when that is cheaper; rounded up to a cent."""
    hourly = math.ceil(minutes_between(start, end) * resource.price_per_hour_cents / 60)
    if resource.price_per_day_cents is not None:
        return min(hourly, resource.price_per_day_cents)
    return hourly


# ---------------------------------------------------------------- who may book


@dataclass(frozen=True)
class Tariff:
    """What the booking would cost at list price: the whole price, and the hourly rate for
    charging only the minutes beyond a meeting-room allowance."""

    price_cents: int = 0
    per_hour_cents: int = 0

    def for_minutes(self, minutes: int) -> int:
        return min(self.price_cents, math.ceil(minutes * self.per_hour_cents / 60))


def check_rights(rights: Rights | None, resource_kind: str, day: date, minutes: int,
                 usage: Usage, plans_allowed: frozenset[str] | None = None,
                 tariff: Tariff = Tariff()) -> int:
    """Refuses (RuleViolation, 403) what the membership does not allow; otherwise answers what
    the member is charged for the booking on it: 0 when the plan includes it within its
    allowances, the tariff for a kind the plan may book but does not include, and for use
    beyond an allowance when the plan charges overage for that kind (a carnet day beyond the
    carnet: the whole price; meeting-room minutes beyond the month's allowance: those minutes
    at the hourly rate). `plans_allowed`: the resource's own list of plans that may book it
    (None: any plan that includes its kind). Fair-use limits always refuse: they exist to stop
    hoarding, which paying does not cure."""
    def refuse(code: str, message: str) -> RuleViolation:
        return RuleViolation(code, message, "member_id", status=403)

    if rights is None:
        raise refuse("no_membership", "the member has no membership")
    if rights.status != "active":
        raise refuse("membership_not_active", f"the membership is {rights.status}")
    if not rights.period_start <= day <= rights.period_end:
        raise refuse("outside_membership_period",
                     f"the membership covers {rights.period_start} to {rights.period_end}")
    if resource_kind not in rights.resource_kinds:
        raise refuse("plan_excludes_resource", f"the plan does not include {resource_kind}")
    if plans_allowed is not None and rights.plan_code not in plans_allowed:
        raise refuse("resource_reserved_for_other_plans",
                     f"this resource is reserved for the plans {', '.join(sorted(plans_allowed))}")
    if rights.max_bookings_per_day is not None and \
            usage.bookings_that_day >= rights.max_bookings_per_day:
        raise refuse("fair_use_daily", f"at most {rights.max_bookings_per_day} bookings a day")
    if rights.max_bookings_per_week is not None and \
            usage.bookings_that_week >= rights.max_bookings_per_week:
        raise refuse("fair_use_weekly", f"at most {rights.max_bookings_per_week} bookings a week")
    if not rights.includes(resource_kind):
        return tariff.price_cents
    overage = resource_kind in rights.overage_kinds
    if rights.carnet_days is not None and usage.books_a_new_carnet_day and \
            usage.carnet_days_used >= rights.carnet_days:
        if overage:
            return tariff.price_cents
        raise refuse("carnet_used_up", f"all {rights.carnet_days} carnet days are used")
    if resource_kind == "meeting_room" and rights.meeting_room_minutes_per_month is not None and \
            usage.meeting_room_minutes_that_month + minutes > rights.meeting_room_minutes_per_month:
        left = max(rights.meeting_room_minutes_per_month - usage.meeting_room_minutes_that_month, 0)
        if overage:
            return tariff.for_minutes(minutes - left)
        raise refuse("meeting_room_allowance", f"{left} meeting-room minutes left this month")
    return 0


# Refusals in the order check_rights tries them: the later a membership failed, the closer it
# came to allowing the booking, so its reason is the one worth telling the member.
_REFUSAL_DEPTH = ("no_membership", "membership_not_active", "outside_membership_period",
                  "plan_excludes_resource", "resource_reserved_for_other_plans", "fair_use_daily",
                  "fair_use_weekly", "carnet_used_up", "meeting_room_allowance")


@dataclass(frozen=True)
class Decision:
    """Which membership a booking draws on (None: pay-per-use) and what the member is charged."""

    rights: Rights | None
    charged_cents: int


def decide(options: list[tuple[Rights, Usage]], resource_kind: str, day: date, minutes: int,
           plans_allowed: frozenset[str] | None = None, tariff: Tariff = Tariff(),
           pay_per_use: bool = False, known_member: bool = False) -> Decision:
    """The membership a booking draws on when a member holds several (a stackable plan beside
    a base plan): the one that charges least, then one that spends no carnet day or
    meeting-room minutes, then the one ending soonest. Each membership's limits count only the
    bookings drawn on it. When none allows the booking, a resource open to pay-per-use is
    booked at its tariff by a member the service knows; otherwise the refusal of the
    membership that came closest. A suspension anywhere refuses everything."""
    if any(rights.status == "suspended" for rights, _ in options):
        # Staff suspend a member for what they did (no-shows, say): nothing is booked for them,
        # on any membership or paying, until staff reinstate them.
        raise RuleViolation("membership_not_active", "the membership is suspended", "member_id",
                            status=403)
    ordered = sorted(options, key=lambda o: (o[0].spends_allowance_on(resource_kind),
                                              o[0].period_end, str(o[0].membership_id)))
    refusals: list[RuleViolation] = []
    allowed: list[Decision] = []
    for rights, usage in ordered:
        try:
            charged = check_rights(rights, resource_kind, day, minutes, usage, plans_allowed,
                                   tariff)
        except RuleViolation as refusal:
            refusals.append(refusal)
        else:
            allowed.append(Decision(rights, charged))
    if allowed:
        return min(allowed, key=lambda d: d.charged_cents)  # stable: ties keep the order above
    if pay_per_use and (known_member or options):
        return Decision(None, tariff.price_cents)
    if not refusals:
        check_rights(None, resource_kind, day, minutes, Usage())
    raise max(refusals, key=lambda r: _REFUSAL_DEPTH.index(r.code))


def choose_membership(options: list[tuple[Rights, Usage]], resource_kind: str, day: date,
                      minutes: int, plans_allowed: frozenset[str] | None = None) -> Rights:
    """The membership a booking of a member-only resource draws on (see decide)."""
    rights = decide(options, resource_kind, day, minutes, plans_allowed).rights
    assert rights is not None  # no pay-per-use asked for
    return rights


# ---------------------------------------------------------------- cancellation and check-in


def cancellation_charge(charged: int, start: datetime, now: datetime,
                        cutoff: timedelta) -> tuple[bool, int]:
    """(late, charged_cents): free before the cut-off; after it, what the member was charged
    for the booking (its charge, never the list price: a late cancellation of use the plan
    includes costs nothing more than the plan)."""
    late = now > start - cutoff
    return late, charged if late else 0


def check_in_allowed(start: datetime, now: datetime, early: timedelta, grace: timedelta) -> bool:
    return start - early <= now <= start + grace


# ---------------------------------------------------------------- availability


def free_intervals(ranges: list[tuple[datetime, datetime]],
                   taken: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Opening ranges minus the taken intervals (already widened by the buffer)."""
    free: list[tuple[datetime, datetime]] = []
    for opens, closes in ranges:
        cursor = opens
        for t_start, t_end in sorted(taken):
            if t_end <= cursor or t_start >= closes:
                continue
            if t_start > cursor:
                free.append((cursor, t_start))
            cursor = max(cursor, t_end)
        if cursor < closes:
            free.append((cursor, closes))
    return free


def week_bounds(day: date) -> tuple[date, date]:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt - timedelta(days=1)
