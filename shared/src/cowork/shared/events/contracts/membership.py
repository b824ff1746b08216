"""Events the membership service publishes: members and memberships on
cowork.membership.events; the contact card on the compacted cowork.membership.contacts, the
only place with personal data."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from cowork.shared.events import topics
from cowork.shared.events.contracts.base import (
    Cents,
    DomainEvent,
    Language,
    MemberKind,
    PlanKind,
    ResourceKind,
)

# The reason of a suspension or reinstatement: a code, never free text (the desk's note stays
# in membership). A string, not an enum, so a code added later breaks no consumer.
STATUS_REASON = "a code: non_payment | conduct | request | other (never free text)"


class _MembershipEvent(DomainEvent):
    topic: ClassVar[str] = topics.MEMBERSHIP_EVENTS
    key_field: ClassVar[str] = "member_id"


# The age bands of the statistics (community's open data): wide enough that a band says
# nothing about a person's birth date.
AGE_BANDS = ("0-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AgeBand = Literal["0-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def age_band(birth_date: date, on: date) -> AgeBand:
    """The band of someone born on `birth_date`, on the day `on`."""
    age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    for band, low in (("65+", 65), ("55-64", 55), ("45-54", 45), ("35-44", 35),
                      ("25-34", 25), ("18-24", 18)):
        if age >= low:
            return band  # type: ignore[return-value]
    return "0-17"


class MemberRegistered(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.member.registered.v1"
    member_id: UUID
    kind: MemberKind
    language: Language
    residence_istat: str | None
    registered_at: AwareDatetime
    # Optional addition to v1: the age band on the registration day, from the birth date the
    # codice fiscale encodes; None for an organisation (and on records from before it).
    age_band: AgeBand | None = None


class MemberUpdated(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.member.updated.v1"
    member_id: UUID
    language: Language
    residence_istat: str | None


class MemberErased(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.member.erased.v1"
    member_id: UUID
    erased_at: AwareDatetime


class MemberRegistrationRepeated(_MembershipEvent):
    """Someone tried to register again with this member's tax code or e-mail (at most one an hour).

    Addition to v1 (a new type). An anonymous self-registration that collides with a member is
    answered as if it had succeeded (telling the caller would disclose that the tax code or
    e-mail is registered) and saves nothing; this event lets the member learn of it, by mail to
    their own address. It carries no personal data: not the address, name or tax code that was
    submitted, only which of the member's own details matched."""

    event_type: ClassVar[str] = "cowork.membership.member.registration_repeated.v1"
    member_id: UUID
    at: AwareDatetime
    # Which of the member's details the attempt used; optional, so a record of
    # {member_id, at} alone is valid too.
    matched: list[Literal["tax_code", "email"]] | None = None


class MembershipActivated(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.membership.activated.v1"
    membership_id: UUID
    member_id: UUID
    plan_code: str
    plan_kind: PlanKind
    resource_kinds: list[ResourceKind]
    period_start: date
    period_end: date
    price_cents: Cents = Field(ge=0)
    # Optional additions to v1 (consumers built on the first v1 ignore them): the plan's
    # fair-use limits and allowances, so booking can enforce them from events alone.
    max_bookings_per_day: int | None = None
    max_bookings_per_week: int | None = None
    carnet_days: int | None = None
    meeting_room_minutes_per_month: int | None = None
    # Optional additions to v1: what the plan includes free of charge (absent: every kind in
    # resource_kinds) and, per kind, what happens beyond an allowance (carnet days,
    # meeting-room minutes): `refuse` (absent kinds too) or `charge` at the tariff (overage).
    included_kinds: list[ResourceKind] | None = None
    overage: dict[ResourceKind, Literal["refuse", "charge"]] | None = None


class MembershipRenewed(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.membership.renewed.v1"
    membership_id: UUID
    member_id: UUID
    period_end: date
    price_cents: Cents = Field(ge=0)
    # The first day of the period this renewal pays for (its last is period_end): a subsidy
    # is dated by it, never by when the event is processed. None only on records written
    # before membership said it.
    period_start: date | None = None


class MembershipSuspended(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.membership.suspended.v1"
    membership_id: UUID
    member_id: UUID
    reason: str = Field(description=STATUS_REASON)


class MembershipReinstated(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.membership.reinstated.v1"
    membership_id: UUID
    member_id: UUID
    reason: str = Field(description=STATUS_REASON)


class MembershipExpiring(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.membership.expiring.v1"
    membership_id: UUID
    member_id: UUID
    period_end: date
    days_left: int


class MembershipExpired(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.membership.expired.v1"
    membership_id: UUID
    member_id: UUID
    at: AwareDatetime


class MembershipCancelled(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.membership.cancelled.v1"
    membership_id: UUID
    member_id: UUID
    at: AwareDatetime


class ContactCard(DomainEvent):
    """The current contact card on the compacted contacts topic; erasure publishes a tombstone."""

    event_type: ClassVar[str] = "cowork.membership.contact_card.v1"
    topic: ClassVar[str] = topics.MEMBERSHIP_CONTACTS
    key_field: ClassVar[str] = "member_id"
    member_id: UUID
    full_name: str
    email: str
    phone: str | None
    language: Language
