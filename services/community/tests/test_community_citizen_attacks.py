"""What a cheating citizen (or a careless officer) tries against meetings and registrations,
each kept as the behaviour a town relies on: one mailbox one seat, erasure finding every
registration under an address, no seat handed out once the meeting has begun."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from community_support import OFFICER, STAFF, Community

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]

# A mailbox with an accented capital: PostgreSQL's lower() (C locale) leaves É alone,
# Python's str.lower() does not.
ACCENTED = "ÉLODIE.Rossi@example.org"


async def _erase(svc: Community, email: str) -> dict[str, object]:
    asked = await svc.client.post("/v1/erasure-requests", json={"email": email})
    assert asked.status_code == 202, asked.text
    cards = [c for c in await svc.outbox(ev.CommunityContact) if "erase" in c["links"]]
    assert cards, "no erasure link was mailed"
    token = parse_qs(urlparse(cards[-1]["links"]["erase"]).query)["token"][0]
    done = await svc.client.post("/v1/erasure-requests/confirm", params={"token": token})
    assert done.status_code == 200, done.text
    return done.json()


async def test_a_registration_under_an_accented_address_is_erased(svc: Community) -> None:
    meeting = await svc.meeting()
    registration = (await svc.register(meeting["id"], "accent", email=ACCENTED)).json()
    assert await _erase(svc, ACCENTED) == {"status": "erased", "erased": 1}
    row = await svc.runtime.db.fetchrow(
        "SELECT email, full_name, status FROM meeting_registrations WHERE id = $1::uuid",
        registration["id"])
    assert (row["email"], row["full_name"], row["status"]) == (None, None, "cancelled")
    assert (await svc.read(meeting["id"]))["seats_left"] == meeting["capacity"]


async def test_one_mailbox_in_other_accented_capitals_holds_one_seat(svc: Community) -> None:
    meeting = await svc.meeting()
    first = (await svc.register(meeting["id"], "a", email=ACCENTED)).json()
    again = (await svc.register(meeting["id"], "b", email=ACCENTED.lower())).json()
    assert again["id"] == first["id"]
    assert (await svc.read(meeting["id"]))["seats_left"] == meeting["capacity"] - 1


async def test_a_cancellation_after_the_start_promotes_nobody(svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    seated = await svc.registered(meeting["id"], 1)
    await svc.confirm(seated["id"])
    waiting = await svc.registered(meeting["id"], 2)
    svc.clock.advance(days=14, hours=1)  # the meeting began an hour ago
    assert (await svc.cancel(seated["id"])).status_code == 200
    assert (await svc.registrations(meeting["id"]))[waiting["id"]]["status"] == "waitlisted"
    assert await svc.outbox(ev.RegistrationPromoted) == []


async def test_a_hold_released_after_the_start_promotes_nobody(svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    svc.clock.advance(days=14, hours=-1)  # an hour before the start: a hold of 48 hours
    held = await svc.registered(meeting["id"], 1)
    waiting = await svc.registered(meeting["id"], 2)
    svc.clock.advance(hours=48)
    await svc.run_jobs()
    regs = await svc.registrations(meeting["id"])
    assert regs[held["id"]]["status"] == "cancelled"
    assert regs[waiting["id"]]["status"] == "waitlisted"
    assert await svc.outbox(ev.RegistrationPromoted) == []


async def test_attendance_below_those_checked_in_is_refused(svc: Community) -> None:
    meeting = await svc.meeting(capacity=3)
    codes = []
    for n in (1, 2):
        r = await svc.registered(meeting["id"], n)
        codes.append((await svc.confirm(r["id"])).json()["code"])
    svc.clock.advance(days=14)
    for code in codes:
        checked = await svc.client.post(f"/v1/meetings/{meeting['id']}/check-in",
                                        json={"code": code}, headers=STAFF)
        assert checked.status_code == 200, checked.text
    minutes = f"/v1/meetings/{meeting['id']}/minutes"
    refused = await svc.client.post(minutes, json={"text": "Verbale.", "attendance": 1},
                                    headers=OFFICER)
    assert (refused.status_code, refused.json()["error"]["field"]) == (409, "attendance")
    assert (await svc.read(meeting["id"]))["status"] == "published"
    closed = await svc.client.post(minutes, json={"text": "Verbale.", "attendance": 2},
                                   headers=OFFICER)
    assert closed.status_code == 200, closed.text


async def test_one_client_cannot_hold_every_seat_with_made_up_addresses(svc: Community) -> None:
    meeting = await svc.meeting(capacity=40)
    answers = [(await svc.register(meeting["id"], f"bot{n}")).status_code for n in range(40)]
    assert 429 in answers
    assert (await svc.read(meeting["id"]))["seats_left"] > 0
    refused = await svc.register(meeting["id"], "bot-again")
    assert refused.json()["error"]["code"] == "too_many_registrations"
    assert int(refused.headers["Retry-After"]) > 0


async def test_no_check_in_once_the_minutes_are_published(svc: Community) -> None:
    meeting = await svc.meeting(capacity=2)
    late = await svc.registered(meeting["id"], 1)
    code = (await svc.confirm(late["id"])).json()["code"]
    svc.clock.advance(days=14, hours=1)
    closed = await svc.client.post(f"/v1/meetings/{meeting['id']}/minutes",
                                   json={"text": "Verbale.", "attendance": 0}, headers=OFFICER)
    assert closed.status_code == 200, closed.text
    after = await svc.client.post(f"/v1/meetings/{meeting['id']}/check-in",
                                  json={"code": code}, headers=STAFF)
    assert (after.status_code, after.json()["error"]["code"]) == (409, "meeting_not_open")
    assert await svc.outbox(ev.RegistrationCheckedIn) == []


async def test_the_pages_form_counts_against_the_client_like_the_api(svc: Community) -> None:
    """The public page's registration form is the same door as the API's: a script posting
    the form with made-up addresses is stopped at the same limit (429, told on the page)."""
    meeting = await svc.meeting(capacity=40)
    statuses = []
    for n in range(40):
        answer = await svc.client.post(
            f"/meetings/{meeting['id']}", data={
                "full_name": f"Bot {n}", "email": f"bot{n}@example.org", "consents.privacy": "on"})
        statuses.append(answer.status_code)
    assert 200 in statuses and 429 in statuses
    assert statuses.index(429) == statuses.count(200)  # refused from the limit on, no hole
    assert (await svc.read(meeting["id"]))["seats_left"] > 0
