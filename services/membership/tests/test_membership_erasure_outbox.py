"""GDPR erasure reaches the outbox at once: no contact card keeps a name, an email or a phone
there until the retention purge, published or not."""

from __future__ import annotations

import pytest
from membership_support import PERSON, Membership

from cowork.shared.events import topics

pytestmark = [pytest.mark.infra]

PII = ("Giulia", "Bianchi", "giulia@example.org", "BNCGLI90A41F965D", "0143", "0144")


async def test_erasure_clears_the_members_contact_cards_from_the_outbox(svc: Membership) -> None:
    member = (await svc.client.post("/v1/members", json=PERSON)).json()
    changed = await svc.client.patch(f"/v1/members/{member['id']}",
                                     json={"phone": "+39 0144 000002"},
                                     headers=svc.as_member(member["id"]))
    assert changed.status_code == 200
    db = svc.runtime.db
    cards = "SELECT payload FROM outbox WHERE aggregatetype = $1 AND aggregateid = $2"
    assert len([r for r in await db.fetch(cards, topics.MEMBERSHIP_CONTACTS, member["id"])
                if r["payload"] is not None]) == 2

    erased = await svc.client.delete(f"/v1/members/{member['id']}",
                                     headers=svc.as_member(member["id"]))
    assert erased.status_code == 204
    assert all(r["payload"] is None
               for r in await db.fetch(cards, topics.MEMBERSHIP_CONTACTS, member["id"]))
    everything = " ".join(str(r["payload"]) for r in await db.fetch("SELECT payload FROM outbox"))
    assert not any(word in everything for word in PII)
