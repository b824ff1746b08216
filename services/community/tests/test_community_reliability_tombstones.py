"""When a registration's contact card is tombstoned. The cancellations notifications mails about
(`meeting_cancelled`, `expired`) keep the card for a day, since the event and the tombstone
travel on two topics in no fixed order and a tombstone first means no mail; the others (the
registrant's own link, the erasure) tombstone it at once."""

from __future__ import annotations

import pytest
from community_support import OFFICER, Community

from cowork.community.commands import erase_registrations_for_email
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def test_a_cancelled_meeting_keeps_the_cards_for_a_day(svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    held = await svc.registered(meeting["id"], 1)
    waiting = await svc.registered(meeting["id"], 2)
    cancelled = await svc.client.post(f"/v1/meetings/{meeting['id']}/cancel", headers=OFFICER)
    assert cancelled.status_code == 200, cancelled.text
    assert {e["cancelled_by"] for e in await svc.outbox(ev.RegistrationCancelled)} == \
        {"meeting_cancelled"}
    assert not {held["id"], waiting["id"]} & await svc.tombstones()
    svc.clock.advance(hours=23)
    await svc.run_jobs()
    assert not {held["id"], waiting["id"]} & await svc.tombstones()
    svc.clock.advance(hours=1)
    await svc.run_jobs()
    assert {held["id"], waiting["id"]} <= await svc.tombstones()
    await svc.run_jobs()  # once per registration, however often the jobs run
    rows = await svc.runtime.db.fetchval(
        "SELECT count(*) FROM outbox WHERE type = $1 AND payload IS NULL",
        ev.CommunityContact.event_type)
    assert rows == 2


async def test_an_expired_hold_keeps_the_card_for_a_day(svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    unconfirmed = await svc.registered(meeting["id"], 1)
    await svc.registered(meeting["id"], 2)
    svc.clock.advance(hours=48)
    await svc.run_jobs()
    [ended] = await svc.outbox(ev.RegistrationCancelled)
    assert (ended["registration_id"], ended["cancelled_by"]) == (unconfirmed["id"], "expired")
    assert unconfirmed["id"] not in await svc.tombstones()
    svc.clock.advance(days=1)
    await svc.run_jobs()
    assert unconfirmed["id"] in await svc.tombstones()


async def test_the_registrants_own_cancellation_tombstones_at_once(svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    held = await svc.registered(meeting["id"], 1)
    waiting = await svc.registered(meeting["id"], 2)
    assert (await svc.cancel(held["id"])).status_code == 200
    assert held["id"] in await svc.tombstones()
    # the promoted one keeps the card the promoted mail reads: code, meeting, both links
    assert waiting["id"] not in await svc.tombstones()
    card = await svc.card(waiting["id"])
    assert card["code"] and card["meeting_title"] and card["meeting_start"]
    assert card["meeting_place"] and set(card["links"]) == {"confirm", "cancel"}
    assert (await svc.confirm(waiting["id"])).json()["status"] == "confirmed"


async def test_erasure_tombstones_at_once_even_a_card_kept_for_the_mail(svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    held = await svc.registered(meeting["id"], "erased")
    cancelled = await svc.client.post(f"/v1/meetings/{meeting['id']}/cancel", headers=OFFICER)
    assert cancelled.status_code == 200
    assert held["id"] not in await svc.tombstones()
    async with svc.runtime.db.acquire() as conn, conn.transaction():
        assert await erase_registrations_for_email(conn, "personaerased@example.org",
                                                   svc.clock()) == 1
    assert held["id"] in await svc.tombstones()

    async def records_without_value() -> int:
        return await svc.runtime.db.fetchval(
            "SELECT count(*) FROM outbox WHERE type = $1 AND aggregateid = $2 "
            "AND payload IS NULL", ev.CommunityContact.event_type, held["id"])

    after_erasure = await records_without_value()
    svc.clock.advance(days=2)
    await svc.run_jobs()
    assert await records_without_value() == after_erasure, "no second tombstone a day later"
