"""Issue 11: the welcome mail on member.registered, and the notice on
member.registration_repeated — to the member's own address from their contact card, in their
language, essential, and never offered to partners. Real Kafka, PostgreSQL and SMTP (aiosmtpd)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from notifications_support import (
    Notifications,
    OffsetClock,
    Receiver,
    SmtpSink,
    bearer,
    running,
    settings_for,
)

from cowork.devtools import Infra
from cowork.notifications import domain
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]

AT = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)  # 10:00 in Rome


def registered(member: UUID, language: str = "it") -> ev.MemberRegistered:
    return ev.MemberRegistered(member_id=member, kind="person", language=language,  # type: ignore[arg-type]
                               residence_istat="006114", registered_at=AT)


def repeated(member: UUID, matched: list[str] | None = None) -> ev.MemberRegistrationRepeated:
    return ev.MemberRegistrationRepeated(member_id=member, at=AT, matched=matched)  # type: ignore[arg-type]


def text_of(message) -> str:  # type: ignore[no-untyped-def]
    [plain] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    return str(plain.get_content())


async def test_a_new_member_is_welcomed_in_their_language(svc: Notifications) -> None:
    italian, english = uuid4(), uuid4()
    to_italian = await svc.contact(italian, language="it")
    to_english = await svc.contact(english, language="en", name="Anna Rossi")
    [it_event] = await svc.publish(registered(italian))
    [en_event] = await svc.publish(registered(english, "en"))
    await svc.publish(en_event)  # the relay published it twice
    for envelope in (it_event, en_event):
        [row] = await svc.settled(cause_event_id=envelope.id)
        assert (row["status"], row["template"], row["channel"]) == (
            "sent", "member_registered", "email")
    await asyncio.sleep(0.5)  # room for a wrong second mail
    [it_mail] = svc.sink.to(to_italian)
    [en_mail] = svc.sink.to(to_english)
    assert it_mail["Subject"] == "Ti diamo il benvenuto in Cowork"
    assert en_mail["Subject"] == "Welcome to Cowork"
    assert text_of(en_mail).startswith("Hello,")
    assert "Anna Rossi" not in text_of(en_mail), "the address is unconfirmed: no typed name"


async def test_the_welcome_goes_as_soon_as_a_late_contact_card_arrives(
        infra: Infra, new_database, topic_prefix: str,  # type: ignore[no-untyped-def]
        smtp_sink: SmtpSink) -> None:
    """member.registered and the contact card travel on two topics: the card may come second.
    The mail waits for it, and its arrival makes the mail due at once instead of at the next
    retry (a minute away here)."""
    settings = settings_for(infra, await new_database(), topic_prefix, smtp_sink.port,
                            delivery_retry_base_seconds=60, delivery_retry_max_seconds=120)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        member = uuid4()
        [envelope] = await svc.publish(registered(member, "en"))
        await svc.until(lambda c: c.fetchval(
            "SELECT count(*) FROM deliveries WHERE cause_event_id = $1 AND attempts >= 1 "
            "AND status = 'pending'", envelope.id))
        [waiting] = await svc.deliveries(cause_event_id=envelope.id)
        assert "no contact card" in waiting["last_error"]
        started = time.monotonic()
        address = await svc.contact(member, language="en")
        [row] = await svc.settled(cause_event_id=envelope.id, timeout=20)
        assert (row["status"], row["attempts"]) == ("sent", 2)
        assert time.monotonic() - started < 20, "sent when the card came, not a minute later"
        [mail] = svc.sink.to(address)
        assert mail["Subject"] == "Welcome to Cowork"


@pytest.mark.parametrize(("language", "matched", "subject", "says"), [
    ("it", ["tax_code"], "Qualcuno ha provato a registrarsi con i tuoi dati",
     "con il tuo codice fiscale"),
    ("en", ["email"], "Someone tried to register with your details",
     "with your e-mail address"),
])
async def test_the_member_is_told_of_a_repeated_registration_at_their_own_address(
        svc: Notifications, language: str, matched: list[str], subject: str, says: str) -> None:
    member = uuid4()
    address = await svc.contact(member, language=language)
    [envelope] = await svc.publish(repeated(member, matched))
    [row] = await svc.settled(cause_event_id=envelope.id)
    assert (row["status"], row["template"], row["recipient_ref"]) == (
        "sent", "member_registration_repeated", str(member))
    [mail] = svc.sink.to(address)
    assert mail["Subject"] == subject
    body = text_of(mail)
    assert says in body
    assert ("31 January 2027, 10:00" if language == "en" else "31 gennaio 2027, 10:00") in body
    assert len(svc.sink.messages) == 1, "nobody else is mailed"


async def test_the_notice_and_the_welcome_are_essential(svc: Notifications) -> None:
    member = uuid4()
    address = await svc.contact(member, language="en")
    opted = await svc.client.put(f"/v1/members/{member}/preferences",
                                 json={"opted_out": list(domain.CATEGORIES)},
                                 headers=bearer("member", str(member)))
    assert opted.status_code == 200, opted.text
    await svc.publish(registered(member, "en"), repeated(member, ["tax_code"]))
    rows = await svc.settled(2, recipient_ref=str(member))
    assert {r["status"] for r in rows} == {"sent"}
    assert sorted(m["Subject"] for m in svc.sink.to(address)) == [
        "Someone tried to register with your details", "Welcome to Cowork"]


async def test_partners_are_never_sent_the_repeated_registration(
        svc: Notifications, receiver: Receiver) -> None:
    partner = bearer("partner", "job-centre")
    refused = await svc.client.post("/v1/webhooks", headers=partner, json={
        "url": receiver.url("/ok/named"),
        "event_types": [ev.MemberRegistrationRepeated.event_type]})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "event_types"
    everything = await svc.client.post("/v1/webhooks", headers=partner, json={
        "url": receiver.url("/ok/all"), "event_types": ["*"]})
    assert everything.status_code == 201, everything.text

    member = uuid4()
    await svc.contact(member)
    [notice, welcome] = await svc.publish(repeated(member, ["email"]), registered(member))
    await svc.settled(cause_event_id=welcome.id, channel="webhook")
    await svc.settled(cause_event_id=notice.id, channel="email")
    assert await svc.deliveries(cause_event_id=notice.id, channel="webhook") == []
    [delivered] = receiver.at("/ok/all")
    assert json.loads(delivered.body)["type"] == ev.MemberRegistered.event_type
