"""Membership rules: pure functions over plain values, no I/O."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from stdnum.exceptions import ValidationError as StdnumError
from stdnum.it import codicefiscale, iva

ROME = ZoneInfo("Europe/Rome")
EXPIRING_NOTICE_DAYS = 7
CARNET_VALIDITY_MONTHS = 6

MemberKind = Literal["person", "organisation"]
PlanKind = Literal["day_pass", "carnet", "monthly", "quarterly", "annual"]
Status = Literal["active", "suspended", "expired", "cancelled"]
Action = Literal["renew", "suspend", "reinstate", "cancel", "expire"]

# A member is told of an anonymous registration that used their tax code or e-mail at most once
# in this interval: repeated attempts must not become a way to spam them.
REGISTRATION_REPEATED_NOTICE_INTERVAL = timedelta(hours=1)

MONTHS_OF: dict[str, int] = {"monthly": 1, "quarterly": 3, "annual": 12,
                             "carnet": CARNET_VALIDITY_MONTHS}


class RuleViolation(ValueError):
    """A request that the rules refuse; `code` is stable for clients, `field` when one is to blame."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


# ---------------------------------------------------------------- tax codes


def normalise_tax_code(kind: MemberKind, tax_code: str) -> str:
    """A person's codice fiscale or an organisation's partita IVA, validated (check digit
    included) and in canonical form; raises RuleViolation naming `tax_code`."""
    try:
        if kind == "person":
            return str(codicefiscale.validate(tax_code))
        return str(iva.validate(tax_code))
    except StdnumError as exc:
        what = "codice fiscale" if kind == "person" else "partita IVA"
        raise RuleViolation("invalid_tax_code", f"not a valid {what}: {exc}", "tax_code") from exc


# ---------------------------------------------------------------- periods


def add_months_exclusive_end(start: date, months: int) -> date:
    """The last day of a period of `months` months starting on `start` (inclusive).

    The period ends the day before the same day of the month `months` later; when that day does
    not exist there (31 January + 1 month), it ends on the last day of that month instead: a
    monthly plan from 31 January ends on 28 or 29 February, one from 15 January on 14 February.
    """
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    if start.day > last_day:
        return date(year, month, last_day)
    return date(year, month, start.day) - timedelta(days=1)


def period_for(kind: PlanKind, start: date) -> tuple[date, date]:
    """(period_start, period_end), both inclusive. A day pass is its day; a carnet's days may be
    used within CARNET_VALIDITY_MONTHS."""
    if kind == "day_pass":
        return start, start
    return start, add_months_exclusive_end(start, MONTHS_OF[kind])


def renewed_period_end(kind: PlanKind, current_end: date) -> date:
    """A renewal continues without a gap from the day after the current period ends."""
    return period_for(kind, current_end + timedelta(days=1))[1]


def renewal_period(kind: PlanKind, current_end: date, today: date,
                   covered_from: date | None = None) -> tuple[date, date]:
    """The period a renewal pays for: from the day after the current period ends, or from
    today when that day is already over (a lapsed membership the expiry has not caught yet:
    days already over are never sold). Refused with `renewal_too_early` when it would start
    more than one period ahead of today — renewals do not stack: each is money paid (and
    subsidised) now for a period that must be near — or, given `covered_from` (the first day
    of the contiguous periods paid so far), when the last period paid has not begun yet: at a
    month's end the period begun today ends with the next one (31 January and 1 February both
    run to 28 February), so the first rule alone let a second renewal that day pay a period
    after one not begun."""
    start = max(current_end + timedelta(days=1), today)
    latest_start = period_for(kind, today)[1] + timedelta(days=1)
    last_paid = None if covered_from is None else last_period_start(kind, covered_from,
                                                                    current_end)
    if start > latest_start or (last_paid is not None and last_paid > today):
        raise RuleViolation(
            "renewal_too_early",
            f"the next period would start on {start.isoformat()}, more than one period "
            "ahead of today: renew once the current period is under way")
    return period_for(kind, start)


def last_period_start(kind: PlanKind, covered_from: date, current_end: date) -> date | None:
    """The first day of the last period paid, periods following each other from
    `covered_from` (an activation, then renewals without a gap); None when they do not end on
    `current_end` (a history these rules did not write)."""
    start = covered_from
    while (end := period_for(kind, start)[1]) < current_end:
        start = end + timedelta(days=1)
    return start if end == current_end else None


# ---------------------------------------------------------------- lifecycle

_ALLOWED: dict[Action, tuple[Status, ...]] = {
    "renew": ("active", "suspended"),
    "suspend": ("active",),
    "reinstate": ("suspended",),
    "cancel": ("active", "suspended"),
    "expire": ("active", "suspended"),
}
_RESULT: dict[Action, Status] = {
    "renew": "active", "suspend": "suspended", "reinstate": "active", "cancel": "cancelled",
    "expire": "expired",
}


def transition(status: Status, action: Action) -> Status:
    """The status after `action`, or RuleViolation when the action does not apply.
    A renewal keeps a suspended membership suspended: only staff lift a suspension."""
    if status not in _ALLOWED[action]:
        raise RuleViolation("invalid_transition",
                            f"a {status} membership cannot be {_PAST[action]}")
    if action == "renew":
        return status
    return _RESULT[action]


_PAST: dict[Action, str] = {"renew": "renewed", "suspend": "suspended",
                            "reinstate": "reinstated", "cancel": "cancelled", "expire": "expired"}


# ---------------------------------------------------------------- time-driven transitions


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ROME)


def expiry_due(period_end: date) -> datetime:
    """A membership expires when the day after its period starts, in Rome."""
    return local_midnight(period_end + timedelta(days=1))


def expiring_notice_due(period_start: date, period_end: date) -> datetime | None:
    """The 'expires in 7 days' notice, at the start of that day in Rome; none for a period too
    short to warn about (a day pass, a membership starting inside its last week)."""
    day = period_end - timedelta(days=EXPIRING_NOTICE_DAYS)
    if day <= period_start:
        return None
    return local_midnight(day)


def days_left(period_end: date, now: datetime) -> int:
    return (period_end - now.astimezone(ROME).date()).days


@dataclass(frozen=True)
class PlanRights:
    """What booking needs of a plan, carried on membership.activated."""

    resource_kinds: tuple[str, ...]
    max_bookings_per_day: int | None
    max_bookings_per_week: int | None
    carnet_days: int | None
    meeting_room_minutes_per_month: int | None
