"""Registrations as a citizen lives them: a seat held from the request, the mailed link
confirms it, the cancel link frees it for the first who waits, the same address twice holds no
second seat, the window and `open_to` respected, check-in by code at the door, and the erasure
other parts call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from community_support import MARCH_1ST, OFFICER, PUBLIC, STAFF, Community, member

from cowork.community.commands import erase_registrations_for_email
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def test_register_confirm_and_the_contact_card(svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    answer = await svc.registered(meeting["id"], 1)
    assert (answer["status"], answer["position"]) == ("pending_confirmation", None)
    card = await svc.card(answer["id"])
    assert (card["full_name"], card["email"], card["language"]) == \
        ("Persona 1", "persona1@example.org", "it")
    assert card["meeting_title"] == meeting["title"]["it"]
    assert "Via Marconi 36" in card["meeting_place"]
    assert len(card["code"]) == 8
    assert set(card["links"]) == {"confirm", "cancel"}
    assert card["links"]["confirm"].startswith(f"{PUBLIC}/registrations/confirm?token=")
    [requested] = await svc.outbox(ev.RegistrationRequested)
    assert requested == {"registration_id": answer["id"], "meeting_id": meeting["id"],
                         "status": "pending_confirmation"}
    # The token is stored only as its digest.
    tok = await svc.link_token(answer["id"], "confirm")
    assert await svc.runtime.db.fetchval(
        "SELECT count(*) FROM meeting_registrations WHERE position($1::bytea in "
        "confirm_digest) > 0", tok.encode()) == 0

    first = await svc.confirm(answer["id"])
    again = await svc.confirm(answer["id"])
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == "confirmed"
    assert len(await svc.outbox(ev.RegistrationConfirmed)) == 1
    bogus = await svc.client.get("/v1/registrations/confirm", params={"token": "x" * 43})
    assert (bogus.status_code, bogus.json()["error"]["field"]) == (404, "token")


async def test_cancel_frees_the_seat_for_the_first_who_waits(svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    held = await svc.registered(meeting["id"], 1)
    second = await svc.registered(meeting["id"], 2)
    third = await svc.registered(meeting["id"], 3)
    assert (second["status"], second["position"]) == ("waitlisted", 1)
    assert third["position"] == 2
    # A waiting registrant who confirmed the address is promoted straight to confirmed.
    waiting = await svc.confirm(second["id"])
    assert (waiting.json()["status"], waiting.json()["address_confirmed"]) == \
        ("waitlisted", True)

    cancelled = await svc.cancel(held["id"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await svc.cancel(held["id"])).status_code == 200  # idempotent
    regs = await svc.registrations(meeting["id"])
    assert regs[second["id"]]["status"] == "confirmed"
    assert (regs[third["id"]]["status"], regs[third["id"]]["position"]) == ("waitlisted", 1)
    [promoted] = await svc.outbox(ev.RegistrationPromoted)
    assert (promoted["registration_id"], promoted["status"]) == (second["id"], "confirmed")
    assert held["id"] in await svc.tombstones()
    [gone] = await svc.outbox(ev.RegistrationCancelled)
    assert gone["cancelled_by"] == "registrant"

    # Unconfirmed, the next one promoted must confirm within a new hold.
    await svc.cancel(second["id"])
    regs = await svc.registrations(meeting["id"])
    assert regs[third["id"]]["status"] == "pending_confirmation"
    assert regs[third["id"]]["hold_until"] is not None
    assert (await svc.read(meeting["id"]))["seats_left"] == 0


async def test_the_same_address_twice_holds_one_seat(svc: Community) -> None:
    meeting = await svc.meeting(capacity=2)
    first = await svc.registered(meeting["id"], 1)
    again = await svc.register(meeting["id"], 1, email="PERSONA1@Example.org")
    assert again.status_code == 201
    assert again.json() == first
    assert (await svc.read(meeting["id"]))["seats_left"] == 1
    assert len(await svc.outbox(ev.RegistrationRequested)) == 1


async def test_the_registration_window_is_respected(svc: Community) -> None:
    opens = MARCH_1ST + timedelta(days=2)
    closes = MARCH_1ST + timedelta(days=5)
    meeting = await svc.meeting(registration_opens=opens.isoformat(),
                                registration_closes=closes.isoformat())
    early = await svc.register(meeting["id"], 1)
    assert (early.status_code, early.json()["error"]["code"]) == \
        (409, "registration_not_open_yet")
    svc.clock.advance(days=2)
    assert (await svc.register(meeting["id"], 1)).status_code == 201
    svc.clock.advance(days=3)
    late = await svc.register(meeting["id"], 2)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "registration_closed")


async def test_a_members_meeting_needs_a_member_token(svc: Community) -> None:
    meeting = await svc.meeting(open_to="members")
    anonymous = await svc.register(meeting["id"], 1)
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (403, "members_only")
    assert (await svc.register(meeting["id"], 1, headers=member())).status_code == 201
    bad_token = await svc.register(meeting["id"], 2, headers={"Authorization": "Bearer x"})
    assert bad_token.status_code == 401


async def test_check_in_at_the_door(svc: Community) -> None:
    meeting = await svc.meeting(capacity=2)
    confirmed = await svc.registered(meeting["id"], 1)
    unconfirmed = await svc.registered(meeting["id"], 2)
    await svc.confirm(confirmed["id"])
    code = (await svc.card(confirmed["id"]))["code"]
    url = f"/v1/meetings/{meeting['id']}/check-in"
    checked = await svc.client.post(url, json={"code": code.lower()}, headers=STAFF)
    assert checked.status_code == 200, checked.text
    assert checked.json()["checked_in_at"] is not None
    twice = await svc.client.post(url, json={"code": code}, headers=STAFF)
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "already_checked_in")
    other = (await svc.card(unconfirmed["id"]))["code"]
    pending = await svc.client.post(url, json={"code": other}, headers=STAFF)
    assert (pending.status_code, pending.json()["error"]["code"]) == (409, "not_confirmed")
    unknown = await svc.client.post(url, json={"code": "ZZZZZZZZ"}, headers=STAFF)
    assert unknown.status_code == 404
    [event] = await svc.outbox(ev.RegistrationCheckedIn)
    assert event["registration_id"] == confirmed["id"]
    svc.clock.advance(days=14, hours=1)
    closed = await svc.client.post(f"/v1/meetings/{meeting['id']}/minutes",
                                   json={"text": "Verbale.", "attendance": 1}, headers=OFFICER)
    [event] = await svc.outbox(ev.MeetingClosed)
    assert (closed.status_code, event["registered"], event["checked_in"]) == (200, 1, 1)


async def test_erasure_by_email_frees_seats_and_forgets_the_person(svc: Community) -> None:
    first = await svc.meeting(capacity=1)
    second = await svc.meeting(capacity=1)
    a = await svc.registered(first["id"], "gdpr")
    b = await svc.registered(second["id"], "gdpr")
    waiting = await svc.registered(first["id"], "other")
    async with svc.runtime.db.acquire() as conn, conn.transaction():
        erased = await erase_registrations_for_email(conn, "PersonaGDPR@example.ORG",
                                                     svc.clock())
    assert erased == 2
    rows = await svc.runtime.db.fetch(
        "SELECT full_name, email, status, cancelled_by FROM meeting_registrations "
        "WHERE id = ANY($1::uuid[])", [a["id"], b["id"]])
    assert {tuple(r) for r in rows} == {(None, None, "cancelled", "erased")}
    assert {a["id"], b["id"]} <= await svc.tombstones()
    regs = await svc.registrations(first["id"])
    assert regs[waiting["id"]]["status"] == "pending_confirmation"
    leftover = await svc.runtime.db.fetchval(
        "SELECT count(*) FROM outbox WHERE aggregateid = ANY($1::text[]) "
        "AND payload::text ILIKE '%gdpr%'", [a["id"], b["id"]])
    assert leftover == 0
