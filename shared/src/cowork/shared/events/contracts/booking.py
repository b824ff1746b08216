"""Events the booking service publishes on cowork.booking.events: resources and bookings."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from cowork.shared.events import topics
from cowork.shared.events.contracts.base import Cents, DomainEvent, ResourceKind


class _BookingEvent(DomainEvent):
    topic: ClassVar[str] = topics.BOOKING_EVENTS
    key_field: ClassVar[str] = "booking_id"


class ResourcePublished(DomainEvent):
    event_type: ClassVar[str] = "cowork.booking.resource.published.v1"
    topic: ClassVar[str] = topics.BOOKING_EVENTS
    key_field: ClassVar[str] = "resource_id"
    resource_id: UUID
    space_id: UUID
    name: str
    kind: ResourceKind
    seats: int = Field(ge=0)
    price_per_hour_cents: Cents = Field(ge=0)
    # Optional additions to v1, re-published whenever staff change the resource: whether it
    # can be booked at all (false: taken out of service), and by members whose plan does not
    # cover it, at the tariff.
    in_service: bool | None = None
    pay_per_use: bool | None = None


class BookingConfirmed(_BookingEvent):
    event_type: ClassVar[str] = "cowork.booking.booking.confirmed.v1"
    booking_id: UUID
    member_id: UUID
    space_id: UUID
    resource_id: UUID
    resource_kind: ResourceKind
    start: AwareDatetime
    end: AwareDatetime
    price_cents: Cents = Field(ge=0)
    series_id: UUID | None = None
    via_waitlist: bool = False
    # Optional addition to v1: what the member owes for this booking (0 when their plan
    # includes it; the tariff for pay-per-use or overage). Vouchers subsidise this, never
    # price_cents. None only on records produced before the field existed: consumers must not
    # read it as "charged at the tariff".
    charged_cents: Cents | None = Field(default=None, ge=0)


class BookingCancelled(_BookingEvent):
    event_type: ClassVar[str] = "cowork.booking.booking.cancelled.v1"
    booking_id: UUID
    member_id: UUID
    cancelled_by: Literal["member", "staff", "system"]
    late: bool
    charged_cents: Cents = Field(ge=0)
    cancelled_at: AwareDatetime
    # Optional addition to v1: why the system cancelled (a code: membership_cancelled,
    # membership_expired, member_erased, space_closed, resource_out_of_service, ...); None
    # when a member or staff cancelled.
    reason: str | None = None


class BookingCheckedIn(_BookingEvent):
    event_type: ClassVar[str] = "cowork.booking.booking.checked_in.v1"
    booking_id: UUID
    member_id: UUID
    at: AwareDatetime


class BookingCompleted(_BookingEvent):
    event_type: ClassVar[str] = "cowork.booking.booking.completed.v1"
    booking_id: UUID
    member_id: UUID
    at: AwareDatetime


class BookingNoShow(_BookingEvent):
    event_type: ClassVar[str] = "cowork.booking.booking.no_show.v1"
    booking_id: UUID
    member_id: UUID
    at: AwareDatetime
