"""The day at a glance for the front desk (issue 12): a space's agenda with check-in states,
who is in now, check-in by staff at the desk, and no-shows counted per member."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from booking_support import ROOM, Booking, rome

from cowork.booking import commands
from cowork.shared.scheduler import Scheduler

pytestmark = [pytest.mark.infra]


async def test_the_agenda_shows_the_day_with_check_ins_and_who_is_in(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    room = await svc.resource(space["id"], **ROOM)
    alice, bob, carla = (await svc.member_with(), await svc.member_with(),
                         await svc.member_with())
    early = (await svc.book(alice, desk["id"], rome(1, 9), rome(1, 12))).json()
    meeting = (await svc.book(bob, room["id"], rome(1, 10), rome(1, 11))).json()
    tomorrow = (await svc.book(carla, desk["id"], rome(2, 9), rome(2, 12))).json()

    svc.clock.now = datetime(2027, 3, 1, 8, 5, tzinfo=UTC)  # 09:05 in Rome
    at_desk = await svc.client.post(f"/v1/spaces/{space['id']}/check-in",
                                    json={"member_id": str(alice)}, headers=svc.staff())
    assert at_desk.status_code == 200, at_desk.text
    assert at_desk.json()["id"] == early["id"]
    assert at_desk.json()["checked_in_by"] == "staff"
    nothing = await svc.client.post(f"/v1/spaces/{space['id']}/check-in",
                                    json={"member_id": str(carla)}, headers=svc.staff())
    assert nothing.status_code == 409
    assert nothing.json()["error"]["code"] == "nothing_to_check_in"

    agenda = await svc.client.get(f"/v1/spaces/{space['id']}/agenda?date=2027-03-01",
                                  headers=svc.staff())
    assert agenda.status_code == 200, agenda.text
    day = agenda.json()
    assert [(b["id"], b["status"], b["resource_name"]) for b in day["items"]] == [
        (early["id"], "checked_in", "Hot desk 1"), (meeting["id"], "confirmed", "Sala Marconi")]
    assert day["items"][0]["checked_in_at"] is not None
    assert day["items"][1]["checked_in_at"] is None
    assert [b["member_id"] for b in day["in_now"]] == [str(alice)]
    today = await svc.client.get(f"/v1/spaces/{space['id']}/agenda", headers=svc.staff())
    assert today.json()["date"] == "2027-03-01", "today in the space's timezone by default"
    other_day = await svc.client.get(f"/v1/spaces/{space['id']}/agenda?date=2027-03-02",
                                     headers=svc.staff())
    assert [b["id"] for b in other_day.json()["items"]] == [tomorrow["id"]]
    member_view = await svc.client.get(f"/v1/spaces/{space['id']}/agenda",
                                       headers=svc.member(alice))
    assert member_view.status_code == 403


async def test_no_shows_are_counted_per_member_for_staff(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member, other = await svc.member_with(), await svc.member_with()
    missed = [(await svc.book(member, desk["id"], rome(1, h), rome(1, h + 1))).json()
              for h in (9, 11)]
    kept = (await svc.book(member, desk["id"], rome(1, 14), rome(1, 15))).json()
    late = (await svc.book(member, desk["id"], rome(1, 16), rome(1, 17))).json()
    await svc.client.post(f"/v1/bookings/{late['id']}/cancel", headers=svc.member(member))
    svc.clock.now = datetime(2027, 3, 1, 12, 55, tzinfo=UTC)  # 13:55 in Rome
    assert (await svc.client.post(f"/v1/bookings/{kept['id']}/check-in",
                                  headers=svc.member(member))).status_code == 200
    jobs = {commands.NO_SHOW_JOB: commands.no_show_job(commands.Policy()),
            commands.COMPLETE_JOB: commands.complete_job}
    await Scheduler(svc.runtime.db, jobs).run_due(datetime(2027, 3, 1, 13, 0, tzinfo=UTC))

    record = await svc.client.get(f"/v1/members/{member}/no-shows", headers=svc.staff())
    assert record.status_code == 200, record.text
    body = record.json()
    assert (body["no_shows"], body["no_shows_last_90_days"], body["late_cancellations"],
            body["check_ins"]) == (2, 2, 1, 1)
    assert sorted(b["id"] for b in body["latest"]) == sorted(b["id"] for b in missed)
    clean = (await svc.client.get(f"/v1/members/{other}/no-shows", headers=svc.staff())).json()
    assert clean["no_shows"] == 0 and clean["latest"] == []
    assert (await svc.client.get(f"/v1/members/{member}/no-shows",
                                 headers=svc.member(uuid.uuid4()))).status_code == 403


async def test_staff_book_a_walk_in_into_the_slot_under_way(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    svc.clock.now = datetime(2027, 3, 1, 8, 10, tzinfo=UTC)  # 09:10 in Rome
    own = await svc.book(member, desk["id"], rome(1, 9), rome(1, 11))
    assert own.status_code == 422 and own.json()["error"]["code"] == "in_the_past"
    earlier = await svc.book(member, desk["id"], rome(1, 8, 30), rome(1, 11),
                             headers=svc.staff())
    assert earlier.status_code == 422, "one slot back at most"
    walk_in = await svc.book(member, desk["id"], rome(1, 9), rome(1, 11), headers=svc.staff())
    assert walk_in.status_code == 201, walk_in.text
    checked = await svc.client.post(f"/v1/spaces/{space['id']}/check-in",
                                    json={"member_id": str(member)}, headers=svc.staff())
    assert checked.json()["status"] == "checked_in"
