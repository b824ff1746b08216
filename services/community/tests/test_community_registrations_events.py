"""On real Kafka, as the mail sender sees it: a registration's events on
cowork.community.events carry no personal data; its contact card (with the mailed links) is on
the compacted contacts topic, and a tombstone follows the cancellation."""

from __future__ import annotations

import pytest
from community_support import Community

from cowork.devtools.kafka import collect, of_type
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics

pytestmark = [pytest.mark.infra]


async def test_events_and_contacts_on_kafka(svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    first = await svc.registered(meeting["id"], "kafka1")
    second = await svc.registered(meeting["id"], "kafka2")
    await svc.cancel(first["id"])

    events_topic = svc.topic_prefix + topics.COMMUNITY_EVENTS
    records = await collect(svc.bootstrap, events_topic, until=lambda seen: bool(
        of_type(seen, ev.RegistrationPromoted.event_type)))
    assert [r.key for r in of_type(records, ev.MeetingPublished.event_type)] == [meeting["id"]]
    requested = of_type(records, ev.RegistrationRequested.event_type)
    assert [r.envelope.data.status for r in requested] == ["pending_confirmation",  # type: ignore[union-attr]
                                                           "waitlisted"]
    [cancelled] = of_type(records, ev.RegistrationCancelled.event_type)
    assert str(cancelled.envelope.data.registration_id) == first["id"]  # type: ignore[union-attr]
    [promoted] = of_type(records, ev.RegistrationPromoted.event_type)
    assert str(promoted.envelope.data.registration_id) == second["id"]  # type: ignore[union-attr]
    assert all(b"example.org" not in (r.value or b"") and b"Persona" not in (r.value or b"")
               for r in records)

    contacts_topic = svc.topic_prefix + topics.COMMUNITY_CONTACTS
    contacts = await collect(svc.bootstrap, contacts_topic, until=lambda seen: any(
        r.key == first["id"] and r.envelope.data is None for r in seen))
    cards = [r for r in contacts if r.envelope.data is not None]
    assert {r.key for r in cards} == {first["id"], second["id"]}
    card = next(r.envelope.data for r in cards if r.key == second["id"])
    assert card.email == "personakafka2@example.org"  # type: ignore[union-attr]
    assert set(card.links) == {"confirm", "cancel"}  # type: ignore[union-attr]
