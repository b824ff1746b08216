"""A front-desk day, as docs/front-desk.md walks it with curl: membership and booking with their
demo data, talking only through Kafka — opening, a check-in at the desk, a walk-in paying per
use, a closure, a member who leaves, and the day's report."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from stdnum.it import codicefiscale

from cowork.booking.app import BookingSettings
from cowork.booking.app import create_app as booking_app
from cowork.devtools import ManualClock
from cowork.devtools.services import bearer, running
from cowork.membership.app import MembershipSettings
from cowork.membership.app import create_app as membership_app

pytestmark = [pytest.mark.infra]


STAFF = bearer("staff", "front-desk")


async def eventually(attempt, timeout: float = 30.0) -> httpx.Response:  # type: ignore[no-untyped-def]
    """Until the other service has caught up through Kafka and `attempt` answers a success."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await attempt()
        if response.status_code < 300:
            return response
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(response.text)
        await asyncio.sleep(0.2)


def at(day: int, hour: int, minute: int = 0) -> str:
    return f"2027-03-{day:02d}T{hour:02d}:{minute:02d}:00+01:00"


async def test_a_day_at_the_front_desk(infra, new_database, topic_prefix) -> None:
    clock = ManualClock(datetime(2027, 3, 1, 7, 50, tzinfo=UTC))  # Monday 08:50 in Rome
    common = {"kafka_bootstrap": infra.kafka_bootstrap, "topic_prefix": topic_prefix,
              "outbox_poll_seconds": 0.2, "log_json": False, "run_scheduler": False,
              "demo_data": True}
    membership = membership_app(MembershipSettings(database_url=await new_database(), **common),
                                clock=clock)
    booking = booking_app(BookingSettings(database_url=await new_database(), **common),
                          clock=clock)
    async with running(membership) as people, running(booking) as desks:
        # Opening: the space and today's agenda.
        [space] = (await desks.get("/v1/spaces", headers=STAFF)).json()["items"]
        agenda = f"/v1/spaces/{space['id']}/agenda"
        opening = (await desks.get(agenda, headers=STAFF)).json()
        assert (opening["date"], opening["closed"], opening["items"]) == ("2027-03-01", None, [])

        # Giulia arrives: found by name, her plan on the same answer; a desk, checked in.
        [giulia] = (await people.get("/v1/members?q=giulia", headers=STAFF)).json()["items"]
        assert [(m["plan_code"], m["status"]) for m in giulia["memberships"]] == [
            ("monthly", "active")]
        desk = await eventually(lambda: desks.post("/v1/bookings", json={
            "member_id": giulia["id"], "space_id": space["id"], "resource_kind": "hot_desk",
            "start": at(1, 9), "end": at(1, 13)}, headers=STAFF))
        assert desk.json()["charged_cents"] == 0, "her monthly plan includes desks"
        checked = await desks.post(f"/v1/spaces/{space['id']}/check-in",
                                   json={"member_id": giulia["id"]}, headers=STAFF)
        assert checked.status_code == 200 and checked.json()["checked_in_by"] == "staff"

        # A walk-in without a plan registers and takes the phone booth, paying per use.
        stem = "RSSMRC88E15F965"
        marco = (await people.post("/v1/members", headers=STAFF, json={
            "kind": "person", "full_name": "Marco Rossi", "email": "marco@example.org",
            "tax_code": stem + codicefiscale.calc_check_digit(stem),
            "consents": {"privacy": True}})).json()
        [booth] = [r for r in (await desks.get(f"/v1/spaces/{space['id']}/resources",
                                               headers=STAFF)).json()["items"]
                   if r["kind"] == "phone_booth"]
        call = await eventually(lambda: desks.post("/v1/bookings", json={
            "member_id": marco["id"], "resource_id": booth["id"], "start": at(1, 8, 45),
            "end": at(1, 9, 45)}, headers=STAFF))
        assert call.json()["charged_cents"] == call.json()["price_cents"] == 200
        await desks.post(f"/v1/bookings/{call.json()['id']}/check-in", headers=STAFF)
        now_in = (await desks.get(agenda, headers=STAFF)).json()["in_now"]
        assert sorted(b["member_id"] for b in now_in) == sorted([giulia["id"], marco["id"]])

        # Tomorrow the heating is off: the space closes, Luca's booking is cancelled.
        [luca] = (await people.get("/v1/members?q=verdi", headers=STAFF)).json()["items"]
        tomorrow = await eventually(lambda: desks.post("/v1/bookings", json={
            "member_id": luca["id"], "space_id": space["id"], "resource_kind": "hot_desk",
            "start": at(2, 9), "end": at(2, 12)}, headers=bearer("member", luca["id"])))
        closure = await desks.post(f"/v1/spaces/{space['id']}/closures", headers=STAFF,
                                   json={"from": "2027-03-02", "to": "2027-03-02",
                                         "reason": "heating failure"})
        assert closure.json()["cancelled_bookings"] == 1
        lucas = (await desks.get(f"/v1/bookings/{tomorrow.json()['id']}", headers=STAFF)).json()
        assert (lucas["status"], lucas["cancel_reason"]) == ("cancelled", "space_closed")

        # The cooperative leaves: its membership ends and it asks to be erased; its booking on
        # Wednesday is cancelled by the system, through Kafka.
        [coop] = (await people.get("/v1/members?q=gavi", headers=STAFF)).json()["items"]
        coop_token = bearer("member", coop["id"])
        room = await eventually(lambda: desks.post("/v1/bookings", json={
            "member_id": coop["id"], "space_id": space["id"], "resource_kind": "fixed_desk",
            "start": at(3, 9), "end": at(3, 18)}, headers=coop_token))
        assert (await people.delete(f"/v1/members/{coop['id']}",
                                    headers=coop_token)).status_code == 204

        async def cancelled_by_the_system() -> httpx.Response:
            read = await desks.get(f"/v1/bookings/{room.json()['id']}", headers=STAFF)
            gone = read.json()["status"] == "cancelled"
            return read if gone else httpx.Response(425, text=read.text)

        left = (await eventually(cancelled_by_the_system)).json()
        assert (left["cancelled_by"], left["cancel_reason"]) == ("system", "membership_cancelled")

        # Closing: the day's report.
        report = (await desks.get(f"/v1/reports/occupancy?space_id={space['id']}"
                                  "&from=2027-03-01&to=2027-03-01", headers=STAFF)).json()
        [whole] = [r for r in report["items"] if r["scope"] == "space"]
        assert (whole["bookings"], whole["check_ins"], whole["booked_minutes"]) == (2, 2, 300)
