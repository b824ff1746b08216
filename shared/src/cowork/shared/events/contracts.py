"""Every v1 event of EVENTS.md as a pydantic model: the single source of the published schemas.

Each model names its CloudEvents type, its topic and which field is the record key. Payloads are
frozen and ignore unknown fields, so a consumer built against v1 keeps working when a producer
adds optional fields. Personal data appears only in `ContactCard` (compacted contacts topic).
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from cowork.shared.events import topics


class DomainEvent(BaseModel):
    """Base of every event's data. Subclasses set the three class variables."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[str]
    key_field: ClassVar[str]

    def key(self) -> str:
        return str(getattr(self, self.key_field))


Cents = int
MemberKind = Literal["person", "organisation"]
Language = Literal["it", "en"]
PlanKind = Literal["day_pass", "carnet", "monthly", "quarterly", "annual"]
ResourceKind = Literal["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]
SourceType = Literal["booking", "membership"]


# ------------------------------------------------------------------ membership


class _MembershipEvent(DomainEvent):
    topic: ClassVar[str] = topics.MEMBERSHIP_EVENTS
    key_field: ClassVar[str] = "member_id"


class MemberRegistered(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.member.registered.v1"
    member_id: UUID
    kind: MemberKind
    language: Language
    residence_istat: str | None
    registered_at: AwareDatetime


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


class MembershipSuspended(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.membership.suspended.v1"
    membership_id: UUID
    member_id: UUID
    reason: str


class MembershipReinstated(_MembershipEvent):
    event_type: ClassVar[str] = "cowork.membership.membership.reinstated.v1"
    membership_id: UUID
    member_id: UUID
    reason: str


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


# ------------------------------------------------------------------ booking


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


# ------------------------------------------------------------------ vouchers


class _VoucherEvent(DomainEvent):
    topic: ClassVar[str] = topics.VOUCHERS_EVENTS
    key_field: ClassVar[str] = "voucher_id"


class _ProgrammeEvent(DomainEvent):
    topic: ClassVar[str] = topics.VOUCHERS_EVENTS
    key_field: ClassVar[str] = "programme_id"


class ProgrammeOpened(_ProgrammeEvent):
    event_type: ClassVar[str] = "cowork.vouchers.programme.opened.v1"
    programme_id: UUID
    name: str
    budget_cents: Cents = Field(ge=0)
    coverage_pct: int = Field(ge=0, le=100)
    cap_per_beneficiary_cents: Cents = Field(ge=0)
    valid_from: date
    valid_until: date
    selection_mode: Literal["first_come", "ranked"]


class ProgrammeClosed(_ProgrammeEvent):
    event_type: ClassVar[str] = "cowork.vouchers.programme.closed.v1"
    programme_id: UUID
    at: AwareDatetime


class BudgetThresholdReached(_ProgrammeEvent):
    event_type: ClassVar[str] = "cowork.vouchers.programme.budget_threshold_reached.v1"
    programme_id: UUID
    threshold_pct: Literal[80, 100]
    available_cents: Cents


class StatementIssued(_ProgrammeEvent):
    event_type: ClassVar[str] = "cowork.vouchers.statement.issued.v1"
    statement_id: UUID
    programme_id: UUID
    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    redeemed_cents: Cents
    reversed_cents: Cents
    net_cents: Cents
    lines: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ApplicationRejected(DomainEvent):
    event_type: ClassVar[str] = "cowork.vouchers.application.rejected.v1"
    topic: ClassVar[str] = topics.VOUCHERS_EVENTS
    key_field: ClassVar[str] = "application_id"
    application_id: UUID
    programme_id: UUID
    member_id: UUID
    reasons: list[str]


class VoucherGranted(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.granted.v1"
    voucher_id: UUID
    programme_id: UUID
    member_id: UUID
    amount_cents: Cents = Field(ge=0)
    valid_until: date


class VoucherRedeemed(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.redeemed.v1"
    voucher_id: UUID
    member_id: UUID
    source_type: SourceType
    source_id: UUID
    price_cents: Cents = Field(ge=0)
    subsidy_cents: Cents = Field(ge=0)
    remaining_cents: Cents = Field(ge=0)


class VoucherRedemptionReversed(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.redemption_reversed.v1"
    voucher_id: UUID
    member_id: UUID
    source_type: SourceType
    source_id: UUID
    reversed_cents: Cents = Field(ge=0)
    remaining_cents: Cents = Field(ge=0)


class VoucherExpiring(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.expiring.v1"
    voucher_id: UUID
    member_id: UUID
    valid_until: date
    remaining_cents: Cents = Field(ge=0)


class VoucherThresholdReached(_VoucherEvent):
    """Addition to v1 (a new type): a voucher's use reached 80% of its amount, once."""

    event_type: ClassVar[str] = "cowork.vouchers.voucher.threshold_reached.v1"
    voucher_id: UUID
    member_id: UUID
    threshold_pct: Literal[80]
    remaining_cents: Cents = Field(ge=0)


class VoucherExpired(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.expired.v1"
    voucher_id: UUID
    member_id: UUID
    released_cents: Cents = Field(ge=0)
    reason: str | None = None


class VoucherRevoked(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.revoked.v1"
    voucher_id: UUID
    member_id: UUID
    released_cents: Cents = Field(ge=0)
    reason: str | None = None


# ------------------------------------------------------------------ notifications


class _NotificationEvent(DomainEvent):
    topic: ClassVar[str] = topics.NOTIFICATIONS_EVENTS
    key_field: ClassVar[str] = "notification_id"
    notification_id: UUID
    channel: Literal["email", "webhook"]
    template: str
    cause_event_id: UUID
    recipient_ref: str  # a member id or a subscription id, never an address
    attempts: int = Field(ge=0)


class NotificationSent(_NotificationEvent):
    event_type: ClassVar[str] = "cowork.notifications.notification.sent.v1"


class NotificationFailed(_NotificationEvent):
    event_type: ClassVar[str] = "cowork.notifications.notification.failed.v1"


ALL_EVENTS: tuple[type[DomainEvent], ...] = (
    MemberRegistered, MemberUpdated, MemberErased, MemberRegistrationRepeated,
    MembershipActivated, MembershipRenewed,
    MembershipSuspended, MembershipReinstated, MembershipExpiring, MembershipExpired,
    MembershipCancelled, ContactCard,
    ResourcePublished, BookingConfirmed, BookingCancelled, BookingCheckedIn, BookingCompleted,
    BookingNoShow,
    ProgrammeOpened, ProgrammeClosed, BudgetThresholdReached, StatementIssued,
    ApplicationRejected, VoucherGranted, VoucherRedeemed, VoucherRedemptionReversed,
    VoucherExpiring, VoucherThresholdReached, VoucherExpired, VoucherRevoked,
    NotificationSent, NotificationFailed,
)
