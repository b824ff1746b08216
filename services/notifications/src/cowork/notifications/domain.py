"""Pure rules of the notifications service: which event becomes which message for whom, the
identity of a delivery, retry timing, webhook signatures and reminder timing. No I/O."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from uuid import UUID, uuid5

from cowork.shared.events import contracts as ev

Audience = Literal["member", "officers"]
Channel = Literal["email", "webhook"]

OFFICERS = "officers"  # the recipient_ref of mail to the municipal officers' address


@dataclass(frozen=True)
class MailRule:
    template: str
    category: str  # what a member opts out of; "essential" cannot be opted out of
    audience: Audience = "member"

    @property
    def essential(self) -> bool:
        return self.category == "essential"


# Opt-out categories a member may choose (PUT /v1/members/{id}/preferences).
CATEGORIES: tuple[str, ...] = ("membership", "reminders", "booking_updates", "voucher_updates")

MAIL_RULES: dict[str, MailRule] = {
    # Essential: the welcome also tells the owner of an address that someone registered with
    # it; the repeated registration is a security notice (issue 11), never opted out of.
    ev.MemberRegistered.event_type: MailRule("member_registered", "essential"),
    ev.MemberRegistrationRepeated.event_type: MailRule("member_registration_repeated",
                                                       "essential"),
    ev.MembershipActivated.event_type: MailRule("membership_activated", "membership"),
    ev.MembershipExpiring.event_type: MailRule("membership_expiring", "membership"),
    ev.MembershipExpired.event_type: MailRule("membership_expired", "membership"),
    # A member must learn that they can no longer book: not something to opt out of.
    ev.MembershipSuspended.event_type: MailRule("membership_suspended", "essential"),
    ev.BookingConfirmed.event_type: MailRule("booking_confirmed", "essential"),
    ev.BookingCancelled.event_type: MailRule("booking_cancelled", "essential"),
    ev.BookingNoShow.event_type: MailRule("booking_no_show", "booking_updates"),
    ev.ApplicationRejected.event_type: MailRule("application_rejected", "essential"),
    ev.VoucherGranted.event_type: MailRule("voucher_granted", "essential"),
    ev.VoucherRevoked.event_type: MailRule("voucher_revoked", "essential"),
    ev.VoucherRedeemed.event_type: MailRule("voucher_redeemed", "voucher_updates"),
    ev.VoucherExpiring.event_type: MailRule("voucher_expiring", "voucher_updates"),
    ev.BudgetThresholdReached.event_type: MailRule("budget_threshold", "essential", "officers"),
    ev.StatementIssued.event_type: MailRule("statement_issued", "essential", "officers"),
}

# A booking cancelled because its member was erased: the member must get no more mail, and
# the cancellation can arrive before the erasure itself is applied here (issue 20 point 12).
ERASURE_REASON = "member_erased"


def mailed(event: object) -> bool:
    """Whether an event its rule mails goes out at all (not a cancellation by erasure)."""
    return not (isinstance(event, ev.BookingCancelled) and event.reason == ERASURE_REASON)


# -- community's mails (issue 21): to a registrant (or someone asking for erasure) known only by
# the id of their registration (or request), whose card is on cowork.community.contacts.

REGISTRANT_SOURCE_PREFIX = "cowork.community."
# Cancellations the registrant did not make themselves; their own (the mailed link), staff's
# and the erasure's are not mailed.
MAILED_CANCELLATIONS = frozenset({"meeting_cancelled", "expired"})
COMMUNITY_MAILED_EVENT_TYPES: tuple[str, ...] = tuple(sorted((
    ev.RegistrationRequested.event_type, ev.RegistrationPromoted.event_type,
    ev.RegistrationReminderDue.event_type, ev.RegistrationCancelled.event_type,
    ev.ErasureRequested.event_type)))
COMMUNITY_TEMPLATES: tuple[str, ...] = (
    "community_registration_requested", "community_registration_waitlisted",
    "community_registration_promoted", "community_registration_reminder",
    "community_registration_cancelled", "community_erasure_requested")


def from_community(event_type: str) -> bool:
    """Whether a delivery's cause is community's: its recipient is a registration, not a member."""
    return event_type.startswith(REGISTRANT_SOURCE_PREFIX)


def community_template(event: object) -> str | None:
    """The mail a community event sends its registrant, if any."""
    if isinstance(event, ev.RegistrationRequested):
        if event.status == "waitlisted":
            return "community_registration_waitlisted"
        return "community_registration_requested"
    if isinstance(event, ev.RegistrationPromoted):
        return "community_registration_promoted"
    if isinstance(event, ev.RegistrationReminderDue):
        return "community_registration_reminder"
    if isinstance(event, ev.RegistrationCancelled):
        if event.cancelled_by in MAILED_CANCELLATIONS:
            return "community_registration_cancelled"
        return None
    if isinstance(event, ev.ErasureRequested):
        return "community_erasure_requested"
    return None


def registrant_of(event: object) -> UUID:
    """The key of the card the mail goes to: the registration's id, or the erasure request's."""
    if isinstance(event, ev.ErasureRequested):
        return event.request_id
    return event.registration_id  # type: ignore[attr-defined,no-any-return]


def safe_links(links: dict[str, str]) -> dict[str, str]:
    """The card's links a mail may show: web links only (never `javascript:` and the like)."""
    return {k: v for k, v in links.items()
            if isinstance(v, str) and v.startswith(("https://", "http://"))}


REMINDER_24H = "booking_reminder_24h"
REMINDER_1H = "booking_reminder_1h"
REMINDER_LEAD: dict[str, timedelta] = {REMINDER_24H: timedelta(hours=24),
                                       REMINDER_1H: timedelta(hours=1)}
REMINDER_RULE = MailRule("booking_reminder", "reminders")

TEMPLATES: tuple[str, ...] = tuple(sorted({r.template for r in MAIL_RULES.values()}
                                          | {REMINDER_RULE.template}))
LANGUAGES: tuple[str, ...] = ("it", "en")
DEFAULT_LANGUAGE = "it"

# Event types a partner may subscribe to: every event this service consumes, except the contact
# card, which carries personal data and never leaves the membership/notifications boundary, and
# the members' own security notices: that someone tried to register with a member's details is
# for that member (by mail), not for partners — even "*" does not deliver it.
# An erasure request is for the one who asked (by mail), of no use to a partner.
WEBHOOK_TOPICS = ("cowork.membership.events", "cowork.booking.events", "cowork.vouchers.events",
                  "cowork.community.events")
MEMBER_ONLY_EVENT_TYPES: frozenset[str] = frozenset({ev.MemberRegistrationRepeated.event_type,
                                                     ev.ErasureRequested.event_type})
WEBHOOK_EVENT_TYPES: tuple[str, ...] = tuple(sorted(
    e.event_type for e in ev.ALL_EVENTS
    if e.topic in WEBHOOK_TOPICS and e.event_type not in MEMBER_ONLY_EVENT_TYPES))
ANY_EVENT = "*"

# Every event type the events consumer handles: those offered to partners and those mailed.
HANDLED_EVENT_TYPES: tuple[str, ...] = tuple(sorted({*WEBHOOK_EVENT_TYPES, *MAIL_RULES,
                                                     *COMMUNITY_MAILED_EVENT_TYPES}))

_DELIVERY_NAMESPACE = UUID("6b1f3c52-8f0e-4d59-9a53-2f8e8c1d7a10")


def delivery_id(cause_event_id: UUID, channel: Channel, recipient_ref: str) -> UUID:
    """The delivery's identity, derived from the exactly-once key: the same event for the same
    recipient on the same channel is the same delivery however often it arrives. The MD5 of
    the key as a UUID, because the handlers compute it in SQL for a whole batch of events
    (`md5(cause || '/' || channel || '/' || recipient)::uuid`, see store.py); an identifier,
    not a security measure."""
    key = f"{cause_event_id}/{channel}/{recipient_ref}"
    return UUID(hashlib.md5(key.encode(), usedforsecurity=False).hexdigest())


def reminder_cause_id(booking_id: UUID, kind: str) -> UUID:
    """A reminder has no event of its own: its cause id is derived from the booking and kind."""
    return uuid5(_DELIVERY_NAMESPACE, f"reminder/{booking_id}/{kind}")


def message_id(delivery: UUID, domain: str) -> str:
    """RFC 5322 Message-ID of a delivery's e-mail: identical on every resend of it, so a
    receiving system that deduplicates by Message-ID shows one message."""
    return f"<{delivery}@{domain}>"


def wanted(rule: MailRule, opted_out: Iterable[str]) -> bool:
    return rule.essential or rule.category not in set(opted_out)


def retry_delay(attempt: int, *, base_seconds: float, max_seconds: float,
                rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter ("equal jitter"): between half and all of
    base * 2^(attempt-1), capped, so retries of many deliveries do not arrive in lockstep."""
    ceiling = min(base_seconds * 2 ** max(attempt - 1, 0), max_seconds)
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def subscribed(event_types: Iterable[str], event_type: str) -> bool:
    types = set(event_types)
    return ANY_EVENT in types or event_type in types


# -- webhook signatures (Standard Webhooks 1.0, standardwebhooks.com)

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret. Secrets made before Standard Webhooks
    (migration 0002) are `whsec_` + URL-safe base64 without padding: either alphabet is read,
    padding or not, so those subscriptions keep being signed (docs/partners.md)."""
    encoded = secret.removeprefix("whsec_").rstrip("=").replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` + base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>"): the id is signed, so a
    captured delivery cannot be replayed under another id."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    mac = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signature_header(secrets: Iterable[str], message_id: str, timestamp: int,
                     body: bytes) -> str:
    """One signature per secret, space-separated: during a rotation's overlap both the new and
    the previous secret sign, so a receiver verifies with whichever it has."""
    return " ".join(signature(s, message_id, timestamp, body) for s in secrets)


# -- reminders


def reminder_due(kind: str, start: datetime) -> datetime:
    return start - REMINDER_LEAD[kind]


def reminders_to_schedule(start: datetime, now: datetime) -> list[tuple[str, datetime]]:
    """The reminders of a booking confirmed at `now`: only those still ahead (a booking made
    three hours ahead gets the one-hour reminder, not a late 24-hour one)."""
    return [(kind, reminder_due(kind, start)) for kind in (REMINDER_24H, REMINDER_1H)
            if reminder_due(kind, start) > now]


def reminder_still_useful(kind: str, start: datetime, now: datetime) -> bool:
    """A reminder that comes due late (the service was down) goes only if the booking has not
    begun, and a 24-hour reminder is dropped once the one-hour reminder is due instead."""
    if now >= start:
        return False
    return not (kind == REMINDER_24H and now >= reminder_due(REMINDER_1H, start))


# -- presentation helpers used by the templates


def money(cents: int, language: str) -> str:
    euros, rest = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    if language == "it":
        whole = f"{euros:,}".replace(",", ".")
        return f"{sign}€ {whole},{rest:02d}"
    return f"{sign}€{euros:,}.{rest:02d}"
