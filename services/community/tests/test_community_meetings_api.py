"""Meetings through the API: published by officers, read by anyone with `seats_left`, changed,
cancelled (every registration with it), closed with minutes after the start, and the
iCalendar feeds a calendar app subscribes to."""

from __future__ import annotations

import icalendar
import pytest
from community_support import OFFICER, STAFF, Community

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def test_a_published_meeting_is_public_with_its_seats_left(svc: Community) -> None:
    meeting = await svc.meeting(capacity=2)
    assert (meeting["seats_left"], meeting["status"]) == (2, "published")
    await svc.registered(meeting["id"], 1)
    assert (await svc.read(meeting["id"]))["seats_left"] == 1
    listed = await svc.client.get("/v1/meetings", params={"from": "2027-03-01",
                                                           "to": "2027-04-01"})
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()["items"]] == [meeting["id"]]
    later = await svc.client.get("/v1/meetings", params={"from": "2027-04-01"})
    assert later.json()["items"] == []
    [published] = await svc.outbox(ev.MeetingPublished)
    assert (published["meeting_id"], published["capacity"]) == (meeting["id"], 2)


async def test_a_staff_edit_changes_the_meeting_and_more_capacity_promotes(
        svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    await svc.registered(meeting["id"], 1)
    waiting = await svc.registered(meeting["id"], 2)
    assert waiting["status"] == "waitlisted"
    changed = await svc.client.patch(f"/v1/meetings/{meeting['id']}",
                                      json={"capacity": 2, "title": {"it": "Nuovo titolo"}},
                                      headers=STAFF)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["title"]["it"], changed.json()["seats_left"]) == ("Nuovo titolo", 0)
    regs = await svc.registrations(meeting["id"])
    assert regs[waiting["id"]]["status"] == "pending_confirmation"
    [updated] = await svc.outbox(ev.MeetingUpdated)
    assert updated["title"] == "Nuovo titolo"
    smaller = await svc.client.patch(f"/v1/meetings/{meeting['id']}", json={"capacity": 1},
                                     headers=OFFICER)
    assert smaller.status_code == 409
    assert smaller.json()["error"]["field"] == "capacity"


async def test_cancelling_a_meeting_cancels_every_registration(svc: Community) -> None:
    meeting = await svc.meeting(capacity=1)
    held = await svc.registered(meeting["id"], 1)
    waiting = await svc.registered(meeting["id"], 2)
    cancelled = await svc.client.post(f"/v1/meetings/{meeting['id']}/cancel", headers=OFFICER)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["seats_left"]) == ("cancelled", 0)
    ended = await svc.outbox(ev.RegistrationCancelled)
    assert {e["registration_id"] for e in ended} == {held["id"], waiting["id"]}
    assert {e["cancelled_by"] for e in ended} == {"meeting_cancelled"}
    assert await svc.outbox(ev.RegistrationPromoted) == []
    # The cards stay a day, so notifications can still tell them (community-meetings.md).
    assert not {held["id"], waiting["id"]} & await svc.tombstones()
    assert len(await svc.outbox(ev.MeetingCancelled)) == 1
    late = await svc.register(meeting["id"], 3)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "meeting_not_open")
    svc.clock.advance(days=1)
    await svc.run_jobs()
    assert {held["id"], waiting["id"]} <= await svc.tombstones()


async def test_minutes_only_after_the_start(svc: Community) -> None:
    meeting = await svc.meeting()
    minutes = {"text": "Presenti cittadini, professionisti e associazioni.", "attendance": 12}
    early = await svc.client.post(f"/v1/meetings/{meeting['id']}/minutes", json=minutes,
                                  headers=STAFF)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "meeting_not_started")
    svc.clock.advance(days=14, minutes=30)
    closed = await svc.client.post(f"/v1/meetings/{meeting['id']}/minutes", json=minutes,
                                   headers=STAFF)
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["attendance"]) == ("closed", 12)
    assert closed.json()["minutes"]["it"].startswith("Presenti")
    [event] = await svc.outbox(ev.MeetingClosed)
    assert (event["attendance"], event["registered"], event["checked_in"]) == (12, 0, 0)


async def test_the_calendar_feeds(svc: Community) -> None:
    first = await svc.meeting()
    second = await svc.meeting(title={"it": "Secondo incontro"})
    feed = await svc.client.get("/v1/meetings.ics")
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    events = icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
    assert {str(e["uid"]) for e in events} == {f"meeting-{first['id']}@cowork",
                                               f"meeting-{second['id']}@cowork"}
    one = await svc.client.get(f"/v1/meetings/{second['id']}.ics")
    assert one.status_code == 200
    [event] = icalendar.Calendar.from_ical(one.content).walk("VEVENT")
    assert str(event["summary"]) == "Secondo incontro"
    assert event.decoded("dtstart").isoformat() == second["start"].replace("+00:00", "+00:00")
    assert "Via Marconi 36" in str(event["location"])
    unknown = await svc.client.get("/v1/meetings/00000000-0000-0000-0000-000000000000.ics")
    assert unknown.status_code == 404
