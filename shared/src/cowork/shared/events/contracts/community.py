"""Events the community service publishes: public meetings, their registrations, expressions of
interest and open-data releases on cowork.community.events; the registrant's contact (name,
e-mail, language and the links mailed to them) on the compacted cowork.community.contacts, the
only place with personal data, tombstoned on cancellation or erasure."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime

from cowork.shared.events import topics
from cowork.shared.events.contracts.base import DomainEvent, Language

RegistrationStatus = Literal["pending_confirmation", "waitlisted"]
Who = Literal["citizen", "professional", "partita_iva", "association", "company"]
TimeBand = Literal["morning", "afternoon", "evening"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class _CommunityEvent(DomainEvent):
    topic: ClassVar[str] = topics.COMMUNITY_EVENTS
    key_field: ClassVar[str] = "meeting_id"


class _MeetingEvent(_CommunityEvent):
    meeting_id: UUID
    title: str  # the Italian title, the public name of the meeting
    start: AwareDatetime
    end: AwareDatetime
    space_id: UUID | None
    capacity: int


class MeetingPublished(_MeetingEvent):
    event_type: ClassVar[str] = "cowork.community.meeting.published.v1"


class MeetingUpdated(_MeetingEvent):
    event_type: ClassVar[str] = "cowork.community.meeting.updated.v1"


class MeetingCancelled(_MeetingEvent):
    event_type: ClassVar[str] = "cowork.community.meeting.cancelled.v1"


class MeetingClosed(_CommunityEvent):
    """Addition to v1: the organiser published the minutes and the attendance count."""

    event_type: ClassVar[str] = "cowork.community.meeting.closed.v1"
    meeting_id: UUID
    attendance: int
    registered: int
    checked_in: int


class RegistrationRequested(_CommunityEvent):
    """The mail with the confirmation link reacts to it (its address is on the contacts topic)."""

    event_type: ClassVar[str] = "cowork.community.registration.requested.v1"
    registration_id: UUID
    meeting_id: UUID
    status: RegistrationStatus


class _RegistrationChange(_CommunityEvent):
    registration_id: UUID
    meeting_id: UUID
    at: AwareDatetime


class RegistrationConfirmed(_RegistrationChange):
    event_type: ClassVar[str] = "cowork.community.registration.confirmed.v1"


class RegistrationCancelled(_RegistrationChange):
    event_type: ClassVar[str] = "cowork.community.registration.cancelled.v1"
    # Addition to v1: who ended it — `registrant` (the mailed link), `staff`, `expired` (an
    # unconfirmed seat released after the hold), `meeting_cancelled`, `erased`.
    cancelled_by: str = "registrant"


class RegistrationPromoted(_RegistrationChange):
    """A seat freed by a cancellation went to the first of the waiting list."""

    event_type: ClassVar[str] = "cowork.community.registration.promoted.v1"
    # Addition to v1: `confirmed` when the address was already confirmed, else
    # `pending_confirmation` (the mail asks to confirm within the hold).
    status: str = "confirmed"


class RegistrationCheckedIn(_RegistrationChange):
    event_type: ClassVar[str] = "cowork.community.registration.checked_in.v1"


class RegistrationReminderDue(_RegistrationChange):
    """Addition to v1: the day before the meeting, for each confirmed registration (the reminder
    mail reacts to it)."""

    event_type: ClassVar[str] = "cowork.community.registration.reminder_due.v1"
    start: AwareDatetime


class InterestExpressed(DomainEvent):
    """No personal data: the e-mail, when given, stays in community."""

    event_type: ClassVar[str] = "cowork.community.interest.expressed.v1"
    topic: ClassVar[str] = topics.COMMUNITY_EVENTS
    key_field: ClassVar[str] = "interest_id"
    interest_id: UUID
    who: Who
    desk_kinds: list[str]
    weekdays: list[Weekday]
    time_bands: list[TimeBand]
    would_help_run: bool


class ErasureRequested(DomainEvent):
    """Addition to v1: someone asked to erase what community holds under an e-mail address; the
    mail with the confirmation link reacts to it (the address is on the contacts topic)."""

    event_type: ClassVar[str] = "cowork.community.erasure.requested.v1"
    topic: ClassVar[str] = topics.COMMUNITY_EVENTS
    key_field: ClassVar[str] = "request_id"
    request_id: UUID


class OpenDataPublished(DomainEvent):
    event_type: ClassVar[str] = "cowork.community.open_data.published.v1"
    topic: ClassVar[str] = topics.COMMUNITY_EVENTS
    key_field: ClassVar[str] = "dataset"
    dataset: str
    period: str  # YYYY-MM
    url: str
    sha256: str


class CommunityContact(DomainEvent):
    """The registrant's (or erasure requester's) contact on the compacted contacts topic, keyed
    by the registration (or request) id: what the mails need, and only for as long as they
    need it. A tombstone follows the cancellation, the meeting's end or the erasure.

    `links` holds the personal links the mail carries (`confirm`, `cancel`, `erase`): they act
    on this one registration, so they travel where the address does, never on the events."""

    event_type: ClassVar[str] = "cowork.community.contact.v1"
    topic: ClassVar[str] = topics.COMMUNITY_CONTACTS
    key_field: ClassVar[str] = "registration_id"
    registration_id: UUID
    full_name: str | None
    email: str
    language: Language
    code: str | None = None  # the registration code shown at the door
    meeting_title: str | None = None
    meeting_start: AwareDatetime | None = None
    meeting_place: str | None = None
    links: dict[str, str] = {}
