"""Request bodies of the booking API (docs/api/): bounded, strict, checked before a use case
runs."""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at runtime.

import re
from datetime import date
from functools import cache
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, available_timezones

from pydantic import ConfigDict, Field, field_validator

from cowork.shared.api import ApiDate, ApiDateTime, Cents, Code, LongText, Strict, Text
from cowork.shared.http import invalid

Kind = Literal["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_OPENS = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_CLOSES = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")
_CLOSURE = re.compile(r"^(\d{4}-)?(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
Closure = Annotated[str, Field(max_length=10)]
# A space's day of opening: a few ranges, each ["HH:MM" opens, "HH:MM" closes].
DayRanges = Annotated[list[Annotated[list[Annotated[str, Field(max_length=5)]],
                                     Field(min_length=2, max_length=2)]],
                      Field(max_length=8)]


@cache
def _iana_zones() -> frozenset[str]:
    # Not `localtime`/`posixrules`: they name the server's own zone, not a place.
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def check_day_ranges(day: str, ranges: list[list[str]]) -> None:
    """Each range opens before it closes (24:00 only closes), and the ranges of a day are in
    order without overlapping: an availability over them must be computable."""
    previous_close = ""
    for opens, closes in ranges:
        if not _OPENS.match(opens):
            raise ValueError(f"{day}: a range opens at HH:MM between 00:00 and 23:59, "
                             f"not {opens!r}")
        if not _CLOSES.match(closes):
            raise ValueError(f"{day}: a range closes at HH:MM between 00:01 and 24:00, "
                             f"not {closes!r}")
        if closes <= opens:
            raise ValueError(f"{day}: {opens}-{closes} closes before it opens")
        if opens < previous_close:
            raise ValueError(f"{day}: the ranges overlap or are out of order at {opens}")
        previous_close = closes


class NewSpace(Strict):
    name: Text
    address: Text
    timezone: Annotated[str, Field(max_length=64, description="an IANA zone, e.g. Europe/Rome")
                        ] = "Europe/Rome"
    opening_hours: dict[Weekday, DayRanges]
    closures: Annotated[list[Closure], Field(max_length=400)] = Field(
        default_factory=list, description="'YYYY-MM-DD' once, or 'MM-DD' every year")

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, value: str) -> str:
        if value not in _iana_zones():
            raise ValueError(f"unknown timezone {value!r}; use an IANA zone such as Europe/Rome")
        ZoneInfo(value)
        return value

    @field_validator("opening_hours")
    @classmethod
    def ranges_are_times(cls, hours: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
        for day, ranges in hours.items():
            check_day_ranges(day, ranges)
        return hours

    @field_validator("closures")
    @classmethod
    def closures_are_dates(cls, closures: list[str]) -> list[str]:
        for closure in closures:
            if not _CLOSURE.match(closure):
                raise ValueError(f"{closure!r} is neither YYYY-MM-DD nor MM-DD")
            if len(closure) == 10:
                day = date.fromisoformat(closure)
                if not 1900 <= day.year <= 2199:
                    raise ValueError(f"{closure!r} is out of range")
        return closures


class NewResource(Strict):
    name: Text
    kind: Kind
    seats: Annotated[int, Field(ge=1, le=1000)] = 1
    # At most 10,000 euros an hour / a day: a week's booking still fits an `integer` of cents.
    price_per_hour_cents: Annotated[Cents, Field(le=1_000_000)]
    price_per_day_cents: Annotated[Cents, Field(le=1_000_000)] | None = None
    slot_minutes: Annotated[int, Field(ge=5, le=1440)] = 30
    min_minutes: Annotated[int, Field(ge=5, le=7 * 1440)] = 30
    max_minutes: Annotated[int, Field(ge=5, le=7 * 1440)] = 600
    advance_days: Annotated[int, Field(ge=0, le=730)] = 60
    buffer_minutes: Annotated[int, Field(ge=0, le=240)] = 0
    plan_codes: Annotated[list[Code], Field(min_length=1, max_length=50)] | None = Field(
        None, description="only members on these plans may book it (absent: any plan that "
                          "includes its kind)")
    pay_per_use: bool = Field(False, description="members whose plan does not cover it may "
                                                 "book it at the tariff")

    @field_validator("plan_codes")
    @classmethod
    def distinct_plans(cls, codes: list[str] | None) -> list[str] | None:
        if codes is not None and len(set(codes)) != len(codes):
            raise ValueError("plan codes repeat")
        return codes


class SpaceChanges(Strict):
    """Any field of creation; what is absent stays as it is."""

    name: Text | None = None
    address: Text | None = None
    timezone: Annotated[str, Field(max_length=64, description="an IANA zone, e.g. Europe/Rome")
                        ] | None = None
    opening_hours: dict[Weekday, DayRanges] | None = None
    closures: Annotated[list[Closure], Field(max_length=400)] | None = None

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, value: str | None) -> str | None:
        return None if value is None else NewSpace.known_timezone(value)

    @field_validator("opening_hours")
    @classmethod
    def ranges_are_times(cls, hours: dict[str, list[list[str]]] | None
                         ) -> dict[str, list[list[str]]] | None:
        return None if hours is None else NewSpace.ranges_are_times(hours)

    @field_validator("closures")
    @classmethod
    def closures_are_dates(cls, closures: list[str] | None) -> list[str] | None:
        return None if closures is None else NewSpace.closures_are_dates(closures)


class ResourceChanges(Strict):
    """Any field of creation, and `in_service`; what is absent stays as it is."""

    name: Text | None = None
    kind: Kind | None = None
    seats: Annotated[int, Field(ge=1, le=1000)] | None = None
    price_per_hour_cents: Annotated[Cents, Field(le=1_000_000)] | None = None
    price_per_day_cents: Annotated[Cents, Field(le=1_000_000)] | None = None
    slot_minutes: Annotated[int, Field(ge=5, le=1440)] | None = None
    min_minutes: Annotated[int, Field(ge=5, le=7 * 1440)] | None = None
    max_minutes: Annotated[int, Field(ge=5, le=7 * 1440)] | None = None
    advance_days: Annotated[int, Field(ge=0, le=730)] | None = None
    buffer_minutes: Annotated[int, Field(ge=0, le=240)] | None = None
    plan_codes: Annotated[list[Code], Field(min_length=1, max_length=50)] | None = None
    pay_per_use: bool | None = None
    in_service: bool | None = None

    @field_validator("plan_codes")
    @classmethod
    def distinct_plans(cls, codes: list[str] | None) -> list[str] | None:
        return NewResource.distinct_plans(codes)


NULLABLE_RESOURCE_FIELDS = frozenset({"price_per_day_cents", "plan_codes"})


class NewClosure(Strict):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    from_: ApiDate = Field(alias="from")
    to: ApiDate
    # Free text a person reads on the booking it cancelled: no NUL or hidden characters.
    reason: Annotated[LongText, Field(min_length=3, max_length=500)]


class NewBooking(Strict):
    member_id: UUID
    resource_id: UUID | None = None
    space_id: UUID | None = Field(None, description="with resource_kind: any free resource")
    resource_kind: Kind | None = None
    start: ApiDateTime
    end: ApiDateTime


MAX_SERIES_WEEKS = 52


class NewSeries(Strict):
    member_id: UUID
    resource_id: UUID
    start: ApiDateTime
    end: ApiDateTime
    # The weekly recurrence, said one way of three: how many weeks (`weeks`, or `count` as
    # RFC 5545 names it), or the last local day an occurrence may fall on (`until`).
    weeks: Annotated[int | None, Field(ge=1, le=MAX_SERIES_WEEKS, description=(
        "how many weekly occurrences, the first included"))] = None
    count: Annotated[int | None, Field(ge=1, le=MAX_SERIES_WEEKS, description=(
        "the same as weeks"))] = None
    until: ApiDate | None = Field(None, description="the last day (in the start's own offset) "
                                  "an occurrence may fall on, instead of weeks")
    recurrence: Literal["weekly"] = Field("weekly", description="only weekly series exist")
    mode: Literal["all_or_nothing", "skip_conflicts"] = "all_or_nothing"

    def occurrences(self) -> int:
        """How many weeks the series spans; exactly one of weeks, count and until is given."""
        given = [name for name in ("weeks", "count", "until") if getattr(self, name) is not None]
        if len(given) != 1:
            raise invalid(given[1] if given else "weeks",
                          "give the series' length once: weeks, count or until")
        if self.until is None:
            return int(self.weeks or self.count or 0)
        days = (self.until - self.start.date()).days
        if days < 0 or days // 7 + 1 > MAX_SERIES_WEEKS:
            raise invalid("until", f"must fall between the first occurrence's day and "
                                   f"{MAX_SERIES_WEEKS} weeks after it")
        return days // 7 + 1


class SeriesCancellation(Strict):
    from_: ApiDate | None = Field(None, alias="from", description="the first local day to cancel "
                               "(absent: every occurrence not yet started)")
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DeskCheckIn(Strict):
    member_id: UUID


class NewWaitlistEntry(Strict):
    member_id: UUID
    resource_id: UUID
    start: ApiDateTime
    end: ApiDateTime

