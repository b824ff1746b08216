"""Issue 21: community's mails to its registrants, through real Kafka, PostgreSQL and SMTP
(aiosmtpd) — each mail in Italian and English from the registrant's card, a mail whose card
comes second, a card tombstoned before its mail is sent, exactly once under redelivery, no
address in the logs, and partners' webhooks on cowork.community.events."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any
from uuid import UUID, uuid4

import pytest
from notifications_support import (
    SOURCES,
    Notifications,
    OffsetClock,
    Receiver,
    SmtpSink,
    bearer,
    running,
    settings_for,
)

from cowork.devtools import Infra
from cowork.devtools.kafka import publish
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]

START = datetime(2027, 2, 14, 8, 0, tzinfo=UTC)  # 09:00 in Rome, a Sunday
TITLE = "Un cowork per Novi Ligure"
PLACE = "Biblioteca Civica, Via Marconi 36"
PUBLIC = "https://cowork.example/community"


def card(registration: UUID, language: str = "it", **change: Any) -> ev.CommunityContact:
    values: dict[str, Any] = {
        "registration_id": registration, "full_name": "Giulia Bianchi",
        "email": f"r{registration.hex[:8]}@example.org", "language": language,
        "code": "NL-7K3Q", "meeting_title": TITLE, "meeting_start": START,
        "meeting_place": PLACE,
        "links": {"confirm": f"{PUBLIC}/registrations/confirm?token=c-{registration.hex[:6]}",
                  "cancel": f"{PUBLIC}/registrations/cancel?token=x-{registration.hex[:6]}",
                  "erase": f"{PUBLIC}/erasure/confirm?token=e-{registration.hex[:6]}"}}
    return ev.CommunityContact(**{**values, **change})


def requested(registration: UUID, status: str = "pending_confirmation"
              ) -> ev.RegistrationRequested:
    return ev.RegistrationRequested(registration_id=registration, meeting_id=uuid4(),
                                    status=status)  # type: ignore[arg-type]


def promoted(registration: UUID, status: str = "pending_confirmation"
             ) -> ev.RegistrationPromoted:
    return ev.RegistrationPromoted(registration_id=registration, meeting_id=uuid4(),
                                   at=START - timedelta(days=3), status=status)


def reminder(registration: UUID) -> ev.RegistrationReminderDue:
    return ev.RegistrationReminderDue(registration_id=registration, meeting_id=uuid4(),
                                      at=START - timedelta(days=1), start=START)


def cancelled(registration: UUID, by: str) -> ev.RegistrationCancelled:
    return ev.RegistrationCancelled(registration_id=registration, meeting_id=uuid4(),
                                    at=START - timedelta(days=2), cancelled_by=by)


def erasure(request: UUID) -> ev.ErasureRequested:
    return ev.ErasureRequested(request_id=request)


async def with_card(svc: Notifications, contact: ev.CommunityContact) -> str:
    await svc.publish(contact)
    await svc.until(lambda c: c.fetchval(
        "SELECT count(*) FROM community_contacts WHERE registration_id = $1",
        contact.registration_id))
    return contact.email


async def tombstone(svc: Notifications, registration: UUID) -> None:
    await publish(svc.bootstrap, svc.topic_prefix + topics.COMMUNITY_CONTACTS, [Envelope(
        type=ev.CommunityContact.event_type, source=SOURCES["community"],
        subject=str(registration), data=None)])
    await svc.until(lambda c: c.fetchval(
        "SELECT count(*) FROM community_forgotten WHERE registration_id = $1", registration))


def text_of(message: Message) -> str:
    [plain] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    return str(plain.get_content())  # type: ignore[attr-defined]


def html_of(message: Message) -> str:
    [html] = [p for p in message.walk() if p.get_content_type() == "text/html"]
    return str(html.get_content())  # type: ignore[attr-defined]


# What each mail must say, by language: (event, subject, phrases in the text, links shown).
def cases(language: str) -> dict[str, tuple[Any, str, list[str], list[str]]]:
    it = language == "it"
    return {
        "requested": (requested, f"Conferma la tua iscrizione: {TITLE}" if it else
                      f"Confirm your registration: {TITLE}",
                      ["NL-7K3Q", PLACE, "domenica 14 febbraio 2027, 09:00" if it else
                       "Sunday 14 February 2027, 09:00"], ["confirm", "cancel"]),
        "waitlisted": (lambda r: requested(r, "waitlisted"),
                       f"Sei in lista d'attesa: {TITLE}" if it else
                       f"You are on the waiting list: {TITLE}",
                       ["lista d'attesa" if it else "waiting list", PLACE],
                       ["confirm", "cancel"]),
        "promoted": (promoted, f"Si è liberato un posto per te: {TITLE}" if it else
                     f"A seat is yours: {TITLE}",
                     ["NL-7K3Q", "conferma il tuo indirizzo" if it else "confirm your address"],
                     ["confirm", "cancel"]),
        "reminder": (reminder, f"Domani alle 09:00: {TITLE}" if it else
                     f"Tomorrow at 09:00: {TITLE}", ["NL-7K3Q", PLACE], ["cancel"]),
        "meeting_cancelled": (lambda r: cancelled(r, "meeting_cancelled"),
                              f"Incontro annullato: {TITLE}" if it else
                              f"Meeting cancelled: {TITLE}",
                              ["annullato" if it else "has been cancelled"], []),
        "expired": (lambda r: cancelled(r, "expired"),
                    f"Iscrizione scaduta: {TITLE}" if it else f"Registration expired: {TITLE}",
                    ["non è stata confermata in tempo" if it else "not confirmed in time"], []),
        "erasure": (erasure, "Conferma la cancellazione dei tuoi dati" if it else
                    "Confirm the erasure of your data", [], ["erase"]),
    }


@pytest.mark.parametrize("language", ["it", "en"])
async def test_each_community_mail_in_the_registrants_language(svc: Notifications,
                                                              language: str) -> None:
    expected = cases(language)
    sent: dict[str, tuple[ev.CommunityContact, Envelope]] = {}
    for name, (make, _, _, _) in expected.items():
        contact = card(uuid4(), language)
        await with_card(svc, contact)
        [envelope] = await svc.publish(make(contact.registration_id))
        sent[name] = (contact, envelope)
    for name, (contact, envelope) in sent.items():
        _, subject, phrases, links = expected[name]
        [row] = await svc.settled(cause_event_id=envelope.id, channel="email")
        assert (row["status"], row["recipient_ref"]) == ("sent", str(contact.registration_id))
        assert "@" not in str(dict(row)), "the delivery log keeps no address"
        [message] = svc.sink.to(contact.email)
        text, html = text_of(message), html_of(message)
        assert message["Subject"] == subject, name
        for phrase in phrases:
            assert phrase in text, (name, phrase)
        for link in links:
            assert contact.links[link] in text and f'href="{contact.links[link]}"' in html
        for link in set(contact.links) - set(links):
            assert contact.links[link] not in text, (name, link)
        assert "Giulia" not in text, "the address may be unconfirmed: no typed name quoted"


async def test_a_cancellation_by_the_registrant_or_staff_is_not_mailed(svc: Notifications
                                                                       ) -> None:
    mine, staffs, theirs = card(uuid4()), card(uuid4()), card(uuid4())
    for contact in (mine, staffs, theirs):
        await with_card(svc, contact)
    [own, by_staff, by_meeting] = await svc.publish(
        cancelled(mine.registration_id, "registrant"), cancelled(staffs.registration_id, "staff"),
        cancelled(theirs.registration_id, "meeting_cancelled"))
    await svc.settled(cause_event_id=by_meeting.id, channel="email")
    assert await svc.deliveries(cause_event_id=own.id, channel="email") == []
    assert await svc.deliveries(cause_event_id=by_staff.id, channel="email") == []
    assert svc.sink.to(mine.email) == [] and svc.sink.to(staffs.email) == []


async def test_a_mail_waits_for_its_card_and_goes_when_it_arrives(
        infra: Infra, new_database, topic_prefix: str,  # type: ignore[no-untyped-def]
        smtp_sink: SmtpSink) -> None:
    """The event and the card travel on two topics: the card may come second. The mail waits
    for it, and the card's arrival makes it due at once (the next retry is a minute away)."""
    settings = settings_for(infra, await new_database(), topic_prefix, smtp_sink.port,
                            delivery_retry_base_seconds=60, delivery_retry_max_seconds=120)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        contact = card(uuid4(), "en")
        [envelope] = await svc.publish(requested(contact.registration_id))
        await svc.until(lambda c: c.fetchval(
            "SELECT count(*) FROM deliveries WHERE cause_event_id = $1 AND attempts >= 1 "
            "AND status = 'pending'", envelope.id))
        [waiting] = await svc.deliveries(cause_event_id=envelope.id)
        assert "no contact card" in waiting["last_error"]
        await with_card(svc, contact)
        [row] = await svc.settled(cause_event_id=envelope.id, timeout=20)
        assert (row["status"], row["attempts"]) == ("sent", 2)
        [message] = svc.sink.to(contact.email)
        assert message["Subject"] == f"Confirm your registration: {TITLE}"
        assert contact.links["confirm"] in text_of(message)


async def test_a_card_tombstoned_before_its_mail_is_sent_means_no_mail(
        infra: Infra, new_database, topic_prefix: str,  # type: ignore[no-untyped-def]
        smtp_sink: SmtpSink) -> None:
    """Queued and waiting for its card when the tombstone comes: cancelled, never sent. And an
    event that comes after its card's tombstone records no mail at all."""
    settings = settings_for(infra, await new_database(), topic_prefix, smtp_sink.port,
                            delivery_retry_base_seconds=60, delivery_retry_max_seconds=120)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        queued, late = card(uuid4()), card(uuid4())
        [waiting] = await svc.publish(requested(queued.registration_id))
        await svc.until(lambda c: c.fetchval(
            "SELECT count(*) FROM deliveries WHERE cause_event_id = $1 AND attempts >= 1",
            waiting.id))
        await tombstone(svc, queued.registration_id)
        [row] = await svc.settled(cause_event_id=waiting.id)
        assert (row["status"], row["last_error"]) == ("cancelled", "contact withdrawn")
        await svc.publish(queued)  # the card replayed after its tombstone brings nothing back
        await with_card(svc, late)
        await tombstone(svc, late.registration_id)
        [after] = await svc.publish(reminder(late.registration_id))
        await svc.until(lambda c: c.fetchval(
            "SELECT count(*) FROM inbox WHERE event_id = $1", after.id))
        assert await svc.deliveries(cause_event_id=after.id, channel="email") == []
        await asyncio.sleep(0.5)  # room for a wrong mail
        assert svc.sink.to(queued.email) == [] and svc.sink.to(late.email) == []
        async with svc.runtime.db.acquire() as conn:
            assert not await conn.fetchval("SELECT count(*) FROM community_contacts "
                                           "WHERE registration_id = ANY($1::uuid[])",
                                           [queued.registration_id, late.registration_id])


async def test_each_event_is_mailed_exactly_once_under_redelivery(svc: Notifications) -> None:
    contact = card(uuid4(), "en")
    await with_card(svc, contact)
    [envelope] = await svc.publish(reminder(contact.registration_id))
    await svc.publish(envelope, envelope)  # the relay published it three times
    await svc.publish(contact)  # and the card again: nothing is sent twice
    await svc.settled(cause_event_id=envelope.id, channel="email")
    await asyncio.sleep(1.0)  # room for a wrong second mail
    assert len(await svc.deliveries(cause_event_id=envelope.id)) == 1
    assert len(svc.sink.to(contact.email)) == 1


async def test_no_address_or_name_in_the_logs(svc: Notifications,
                                              caplog: pytest.LogCaptureFixture,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG, logger="cowork")
    contact = card(uuid4(), "it")
    [envelope] = await svc.publish(requested(contact.registration_id))
    await svc.until(lambda c: c.fetchval(  # a retry logged while the card is missing
        "SELECT count(*) FROM deliveries WHERE cause_event_id = $1 AND attempts >= 1",
        envelope.id))
    await with_card(svc, contact)
    await svc.settled(cause_event_id=envelope.id, timeout=30)
    assert len(svc.sink.to(contact.email)) == 1
    out, err = capfd.readouterr()
    # The test's own SMTP sink (aiosmtpd, logger `mail.log`) logs what it receives: not ours.
    logged = "\n".join(caplog.handler.format(r) for r in caplog.records
                       if not r.name.startswith("mail.log")) + out + err
    assert str(contact.registration_id) in logged or "delivery" in logged  # logs were captured
    for personal in (contact.email, "Giulia Bianchi", contact.links["confirm"]):
        assert personal not in logged


async def test_partners_may_subscribe_to_community_events(svc: Notifications,
                                                          receiver: Receiver) -> None:
    partner = bearer("partner", "association")
    created = await svc.client.post("/v1/webhooks", headers=partner, json={
        "url": receiver.url("/ok/community"),
        "event_types": [ev.MeetingPublished.event_type, ev.RegistrationRequested.event_type]})
    assert created.status_code == 201, created.text
    refused = await svc.client.post("/v1/webhooks", headers=partner, json={
        "url": receiver.url("/ok/x"), "event_types": [ev.ErasureRequested.event_type]})
    assert refused.status_code == 422  # someone's erasure request is for them, not partners
    meeting = ev.MeetingPublished(meeting_id=uuid4(), title=TITLE, start=START,
                                  end=START + timedelta(hours=3), space_id=None, capacity=40)
    contact = card(uuid4())
    await with_card(svc, contact)
    [published, registration] = await svc.publish(meeting, requested(contact.registration_id))
    for envelope in (published, registration):
        [row] = await svc.settled(cause_event_id=envelope.id, channel="webhook")
        assert row["status"] == "sent"
    bodies = b"".join(r.body for r in receiver.at("/ok/community"))
    assert contact.email.encode() not in bodies and b"NL-7K3Q" not in bodies
