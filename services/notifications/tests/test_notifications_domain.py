"""The pure rules: delivery identity, backoff, reminder timing, signatures, money."""

from __future__ import annotations

import base64
import random
import time
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import aiosmtplib
import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cowork.notifications import domain
from cowork.notifications.mail_sender import describe_failure
from cowork.shared.events import contracts as ev

START = datetime(2027, 3, 2, 8, 0, tzinfo=UTC)


def test_a_delivery_is_identified_by_event_channel_and_recipient() -> None:
    event = uuid4()
    assert domain.delivery_id(event, "email", "m1") == domain.delivery_id(event, "email", "m1")
    others = {domain.delivery_id(event, "webhook", "m1"), domain.delivery_id(event, "email", "m2"),
              domain.delivery_id(uuid4(), "email", "m1")}
    assert domain.delivery_id(event, "email", "m1") not in others


@given(st.integers(1, 40), st.floats(0.01, 100), st.integers(0, 2**32))
def test_backoff_grows_exponentially_within_its_jitter_and_is_capped(
        attempt: int, base: float, seed: int) -> None:
    cap = base * 50
    delay = domain.retry_delay(attempt, base_seconds=base, max_seconds=cap,
                               rng=random.Random(seed))
    ceiling = min(base * 2 ** (attempt - 1), cap)
    assert ceiling / 2 <= delay <= ceiling
    following = domain.retry_delay(attempt + 1, base_seconds=base, max_seconds=cap,
                                   rng=random.Random(seed + 1))
    assert following >= delay / 2  # never much sooner than the previous wait


def test_reminders_are_only_scheduled_ahead() -> None:
    kinds = lambda now: [k for k, _ in domain.reminders_to_schedule(START, now)]  # noqa: E731
    assert kinds(START - timedelta(days=3)) == [domain.REMINDER_24H, domain.REMINDER_1H]
    assert kinds(START - timedelta(hours=3)) == [domain.REMINDER_1H]
    assert kinds(START - timedelta(minutes=30)) == []
    due = dict(domain.reminders_to_schedule(START, START - timedelta(days=3)))
    assert due[domain.REMINDER_24H] == START - timedelta(hours=24)
    assert due[domain.REMINDER_1H] == START - timedelta(hours=1)


def test_a_late_reminder_is_never_sent_for_a_booking_that_began() -> None:
    useful = domain.reminder_still_useful
    assert useful(domain.REMINDER_24H, START, START - timedelta(hours=24))
    assert useful(domain.REMINDER_24H, START, START - timedelta(hours=5))  # late but ahead
    assert not useful(domain.REMINDER_24H, START, START - timedelta(minutes=50))  # 1 h covers it
    assert useful(domain.REMINDER_1H, START, START - timedelta(minutes=50))
    assert not useful(domain.REMINDER_1H, START, START)
    assert not useful(domain.REMINDER_1H, START, START + timedelta(minutes=1))


def test_signatures_are_standard_webhooks_ones_and_sign_the_id() -> None:
    """The library partners use verifies ours; during a rotation both secrets sign."""
    old, new = "whsec_" + base64.b64encode(b"o" * 32).decode(), \
        "whsec_" + base64.b64encode(b"n" * 32).decode()
    body, message_id, ts = b'{"id":"1"}', "msg_1", int(time.time())
    header = domain.signature_header([new, old], message_id, ts, body)
    assert [part.split(",")[0] for part in header.split(" ")] == ["v1", "v1"]
    headers = {"webhook-id": message_id, "webhook-timestamp": str(ts),
               "webhook-signature": header}
    for secret in (old, new):
        Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body, {**headers, "webhook-id": "msg_2"})
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", headers)


def test_money_is_written_as_each_language_writes_it() -> None:
    assert domain.money(140000, "it") == "€ 1.400,00"
    assert domain.money(140000, "en") == "€1,400.00"
    assert domain.money(5, "it") == "€ 0,05"


def test_essential_messages_ignore_opt_outs() -> None:
    confirmed = domain.MAIL_RULES["cowork.booking.booking.confirmed.v1"]
    expiring = domain.MAIL_RULES["cowork.membership.membership.expiring.v1"]
    assert domain.wanted(confirmed, domain.CATEGORIES)
    assert not domain.wanted(expiring, ["membership"])
    assert domain.wanted(expiring, ["reminders"])


def test_the_contact_card_can_never_be_subscribed_to() -> None:
    assert "cowork.membership.contact_card.v1" not in domain.WEBHOOK_EVENT_TYPES
    assert "cowork.booking.booking.confirmed.v1" in domain.WEBHOOK_EVENT_TYPES


def test_the_repeated_registration_is_mailed_to_the_member_but_never_offered_to_partners(
        ) -> None:
    repeated = ev.MemberRegistrationRepeated.event_type
    assert repeated not in domain.WEBHOOK_EVENT_TYPES
    assert repeated in domain.HANDLED_EVENT_TYPES
    assert domain.MAIL_RULES[repeated].essential
    assert domain.MAIL_RULES[ev.MemberRegistered.event_type].template == "member_registered"
    assert ev.MemberRegistered.event_type in domain.WEBHOOK_EVENT_TYPES
    assert set(domain.MAIL_RULES) <= set(domain.HANDLED_EVENT_TYPES)


def test_errors_kept_in_the_log_never_carry_an_address() -> None:
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(450, "4.2.0 <anna@example.org> busy", "anna@example.org")])
    for error in (refused, aiosmtplib.SMTPResponseException(421, "bye anna@example.org"),
                  ValueError("cannot reach anna.rossi@example.org now")):
        assert "@" not in describe_failure(error), describe_failure(error)
    assert describe_failure(refused) == "SMTPRecipientsRefused: recipient refused: 450"
