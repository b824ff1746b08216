"""Occupancy reports for the operator and the municipality (issue 12): computed in SQL, per
resource, kind and space, by day and month, as JSON and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from booking_support import ROOM, Booking, rome

from cowork.booking import commands
from cowork.shared.scheduler import Scheduler

pytestmark = [pytest.mark.infra]


async def _week_of_use(svc: Booking) -> dict:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    room = await svc.resource(space["id"], **ROOM)
    member = await svc.member_with()
    kept = (await svc.book(member, desk["id"], rome(1, 9), rome(1, 11))).json()
    await svc.book(member, desk["id"], rome(2, 9), rome(2, 13))  # nobody comes
    dropped = (await svc.book(member, room["id"], rome(3, 10), rome(3, 11))).json()
    await svc.client.post(f"/v1/bookings/{dropped['id']}/cancel", headers=svc.member(member))
    svc.clock.now = datetime(2027, 3, 1, 8, 5, tzinfo=UTC)
    await svc.client.post(f"/v1/bookings/{kept['id']}/check-in", headers=svc.member(member))
    jobs = {commands.NO_SHOW_JOB: commands.no_show_job(commands.Policy()),
            commands.COMPLETE_JOB: commands.complete_job}
    await Scheduler(svc.runtime.db, jobs).run_due(datetime(2027, 3, 2, 12, tzinfo=UTC))
    return space


def _row(items: list[dict], period: str, scope: str, name: str | None = None,
         kind: str | None = None) -> dict:
    [row] = [r for r in items if r["period"] == period and r["scope"] == scope
             and (name is None or r["resource_name"] == name)
             and (kind is None or r["kind"] == kind)]
    return row


async def test_occupancy_by_day_per_resource_kind_and_space(svc: Booking) -> None:
    space = await _week_of_use(svc)
    report = await svc.client.get(
        f"/v1/reports/occupancy?space_id={space['id']}&from=2027-03-01&to=2027-03-07&by=day",
        headers=svc.staff())
    assert report.status_code == 200, report.text
    items = report.json()["items"]
    monday_desk = _row(items, "2027-03-01", "resource", "Hot desk 1")
    assert (monday_desk["open_minutes"], monday_desk["booked_minutes"],
            monday_desk["check_ins"], monday_desk["utilisation"]) == (660, 120, 1, 0.1818)
    tuesday = _row(items, "2027-03-02", "kind", kind="hot_desk")
    assert (tuesday["booked_minutes"], tuesday["no_shows"]) == (240, 1)
    wednesday = _row(items, "2027-03-03", "space")
    assert (wednesday["open_minutes"], wednesday["booked_minutes"],
            wednesday["cancellations"]) == (1320, 0, 1)
    sunday = _row(items, "2027-03-07", "space")
    assert sunday["open_minutes"] == 0 and sunday["utilisation"] is None
    assert len(items) == 7 * (2 + 2 + 1), "two resources, two kinds and the space, each day"


async def test_occupancy_by_month_and_as_csv(svc: Booking) -> None:
    space = await _week_of_use(svc)
    path = f"/v1/reports/occupancy?space_id={space['id']}&from=2027-03-01&to=2027-03-31&by=month"
    report = (await svc.client.get(path, headers=svc.staff())).json()
    march = _row(report["items"], "2027-03", "space")
    # 23 weekdays in March 2027 less the closure on the 10th and Easter Monday (the 29th),
    # 11 hours each, two resources.
    assert march["open_minutes"] == 21 * 660 * 2
    assert (march["booked_minutes"], march["bookings"], march["check_ins"], march["no_shows"],
            march["cancellations"]) == (360, 2, 1, 1, 1)
    as_csv = await svc.client.get(path, headers={**svc.staff(), "Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert {r["scope"] for r in rows} == {"resource", "kind", "space"}
    assert [r["booked_minutes"] for r in rows if r["scope"] == "space"] == ["360"]


async def test_open_minutes_are_real_time_across_the_dst_change(svc: Booking) -> None:
    always = await svc.space(name="Always open",
                             opening_hours={"sun": [["00:00", "24:00"]]}, closures=[])
    await svc.resource(always["id"])
    report = await svc.client.get(
        f"/v1/reports/occupancy?space_id={always['id']}&from=2027-10-24&to=2027-10-31",
        headers=svc.staff())
    items = report.json()["items"]
    assert _row(items, "2027-10-24", "space")["open_minutes"] == 24 * 60
    assert _row(items, "2027-10-31", "space")["open_minutes"] == 25 * 60, "clocks go back"


async def test_reports_are_for_staff_and_check_their_range(svc: Booking) -> None:
    space = await svc.space()
    base = f"/v1/reports/occupancy?space_id={space['id']}"
    member = svc.member("00000000-0000-0000-0000-000000000001")
    assert (await svc.client.get(base + "&from=2027-03-01&to=2027-03-02",
                                 headers=member)).status_code == 403
    backwards = await svc.client.get(base + "&from=2027-03-02&to=2027-03-01",
                                     headers=svc.staff())
    assert backwards.status_code == 422 and backwards.json()["error"]["field"] == "to"
    bad_by = await svc.client.get(base + "&from=2027-03-01&to=2027-03-02&by=week",
                                  headers=svc.staff())
    assert bad_by.status_code == 422
