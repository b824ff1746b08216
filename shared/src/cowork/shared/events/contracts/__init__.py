"""Every v1 event of docs/events.md as a pydantic model: the single source of the published schemas.

Each model names its CloudEvents type, its topic and which field is the record key. Payloads are
frozen and ignore unknown fields, so a consumer built against v1 keeps working when a producer
adds optional fields. Personal data appears only in `ContactCard` (compacted contacts topic).

One module per producing service (`membership`, `booking`, `vouchers`, `notifications`,
`community`) and the
common base (`base`); every model is importable from here: `from cowork.shared.events import
contracts as ev; ev.BookingConfirmed`.
"""

from __future__ import annotations

from cowork.shared.events.contracts.base import (
    Cents,
    DomainEvent,
    Language,
    MemberKind,
    PlanKind,
    ResourceKind,
    SourceType,
)
from cowork.shared.events.contracts.booking import (
    BookingCancelled,
    BookingCheckedIn,
    BookingCompleted,
    BookingConfirmed,
    BookingNoShow,
    ResourcePublished,
)
from cowork.shared.events.contracts.community import (
    CommunityContact,
    ErasureRequested,
    InterestExpressed,
    MeetingCancelled,
    MeetingClosed,
    MeetingPublished,
    MeetingUpdated,
    OpenDataPublished,
    RegistrationCancelled,
    RegistrationCheckedIn,
    RegistrationConfirmed,
    RegistrationPromoted,
    RegistrationReminderDue,
    RegistrationRequested,
)
from cowork.shared.events.contracts.membership import (
    ContactCard,
    MemberErased,
    MemberRegistered,
    MemberRegistrationRepeated,
    MembershipActivated,
    MembershipCancelled,
    MembershipExpired,
    MembershipExpiring,
    MembershipReinstated,
    MembershipRenewed,
    MembershipSuspended,
    MemberUpdated,
)
from cowork.shared.events.contracts.notifications import (
    NotificationFailed,
    NotificationSent,
)
from cowork.shared.events.contracts.vouchers import (
    ApplicationRejected,
    BudgetThresholdReached,
    ProgrammeClosed,
    ProgrammeOpened,
    StatementIssued,
    VoucherExpired,
    VoucherExpiring,
    VoucherGranted,
    VoucherRedeemed,
    VoucherRedemptionReversed,
    VoucherRevoked,
    VoucherThresholdReached,
)

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
    MeetingPublished, MeetingUpdated, MeetingCancelled, MeetingClosed, RegistrationRequested,
    RegistrationConfirmed, RegistrationCancelled, RegistrationPromoted, RegistrationCheckedIn,
    RegistrationReminderDue, InterestExpressed, ErasureRequested, OpenDataPublished,
    CommunityContact,
)

__all__ = [
    "ALL_EVENTS", "CommunityContact", "ErasureRequested", "InterestExpressed",
    "MeetingCancelled", "MeetingClosed", "MeetingPublished", "MeetingUpdated",
    "OpenDataPublished", "RegistrationCancelled", "RegistrationCheckedIn", "RegistrationConfirmed",
    "RegistrationPromoted", "RegistrationReminderDue", "RegistrationRequested", "ApplicationRejected", "BookingCancelled", "BookingCheckedIn",
    "BookingCompleted", "BookingConfirmed", "BookingNoShow", "BudgetThresholdReached", "Cents",
    "ContactCard", "DomainEvent", "Language", "MemberErased", "MemberKind", "MemberRegistered",
    "MemberRegistrationRepeated", "MemberUpdated", "MembershipActivated", "MembershipCancelled",
    "MembershipExpired", "MembershipExpiring", "MembershipReinstated", "MembershipRenewed",
    "MembershipSuspended", "NotificationFailed", "NotificationSent", "PlanKind",
    "ProgrammeClosed", "ProgrammeOpened", "ResourceKind", "ResourcePublished", "SourceType",
    "StatementIssued", "VoucherExpired", "VoucherExpiring", "VoucherGranted", "VoucherRedeemed",
    "VoucherRedemptionReversed", "VoucherRevoked", "VoucherThresholdReached",
]
