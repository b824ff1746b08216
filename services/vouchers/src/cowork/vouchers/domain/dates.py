"""Days and months as the subsidy rules count them: by the calendar of Europe/Rome."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ROME = ZoneInfo("Europe/Rome")


def rome_date(moment: datetime) -> date:
    return moment.astimezone(ROME).date()


def start_of_day(day: date) -> datetime:
    """Midnight of `day` in Rome: when a date-based deadline falls due."""
    return datetime.combine(day, time(0), tzinfo=ROME).astimezone(UTC)


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier); a day the month lacks becomes its last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def last_day_of_months(start: date, months: int) -> date:
    """The last day of `months` months beginning on `start` (inclusive): the day before the
    same day `months` later, or, when that month lacks the day, its last day (as membership's
    periods end: 31 January + 1 month ends on 28 February, 29 February 2028 + 12 on
    28 February 2029 — not a day short of a period begun on the 28th)."""
    later = add_months(start, months)
    return later if later.day < start.day else later - timedelta(days=1)


def in_utc(moment: datetime) -> datetime:
    """The same instant in UTC; a time without a timezone is refused, never guessed."""
    if moment.tzinfo is None:
        raise ValueError(f"a time without a timezone is ambiguous: {moment}")
    return moment.astimezone(UTC)
