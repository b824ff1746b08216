"""Bookings try the resource row kept from an earlier booking instead of reading it every time
(resource_cache). Another replica may change the resource or its space meanwhile: here that
is a change written straight through the use cases on the database, which this process's API
never hears of — and every booking after it must still be decided on the resource as it is."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import pytest
from booking_support import MONDAY_8AM, Booking, rome

from cowork.booking import commands, store

pytestmark = [pytest.mark.infra]


async def _elsewhere_resource(svc: Booking, desk: dict[str, Any], **changes: Any) -> None:
    async with svc.runtime.db.acquire() as conn, conn.transaction():
        await commands.change_resource(conn, UUID(desk["id"]), changes, now=MONDAY_8AM,
                                       policy=commands.Policy())


@pytest.fixture
def resource_reads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every read of a resource row (store.resource_by_id) from now on, one entry each."""
    reads: list[object] = []
    read = store.resource_by_id

    async def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args[1:])
        return await read(*args, **kwargs)

    monkeypatch.setattr(store, "resource_by_id", counted)
    return reads


async def _booked(svc: Booking) -> int:
    return int(await svc.runtime.db.fetchval("SELECT count(*) FROM bookings"))


async def test_a_kept_resource_is_not_read_again(svc: Booking, resource_reads: list[object]
                                                 ) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    resource_reads.clear()
    assert (await svc.book(member, desk["id"], rome(2, 9), rome(2, 10))).status_code == 201
    assert len(resource_reads) == 1
    second = await svc.book(member, desk["id"], rome(2, 10), rome(2, 11))
    assert second.status_code == 201, second.text
    assert second.json()["start"] == "2027-03-02T10:00:00+01:00"  # the kept row's timezone
    assert len(resource_reads) == 1


async def test_out_of_service_elsewhere_refuses_bookings_here(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    assert (await svc.book(member, desk["id"], rome(2, 9), rome(2, 10))).status_code == 201
    await _elsewhere_resource(svc, desk, in_service=False)
    refused = await svc.book(member, desk["id"], rome(3, 9), rome(3, 10))
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "out_of_service"
    assert await _booked(svc) == 1


async def test_back_in_service_elsewhere_takes_bookings_here(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    await _elsewhere_resource(svc, desk, in_service=False)
    refused = await svc.book(member, desk["id"], rome(2, 9), rome(2, 10))  # kept: out of service
    assert refused.json()["error"]["code"] == "out_of_service"
    await _elsewhere_resource(svc, desk, in_service=True)
    booked = await svc.book(member, desk["id"], rome(2, 9), rome(2, 10))
    assert booked.status_code == 201, booked.text


async def test_a_price_changed_elsewhere_is_the_price_booked_here(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])  # 300 an hour
    member = await svc.member_with()
    assert (await svc.book(member, desk["id"], rome(2, 9), rome(2, 10))).json()[
        "price_cents"] == 300
    await _elsewhere_resource(svc, desk, price_per_hour_cents=500)
    booked = await svc.book(member, desk["id"], rome(3, 9), rome(3, 11))
    assert booked.status_code == 201, booked.text
    assert booked.json()["price_cents"] == 1000


async def test_a_closure_made_elsewhere_refuses_bookings_here(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    assert (await svc.book(member, desk["id"], rome(2, 9), rome(2, 10))).status_code == 201
    async with svc.runtime.db.acquire() as conn, conn.transaction():
        await commands.close_space(conn, UUID(space["id"]), from_day=date(2027, 3, 4),
                                   to_day=date(2027, 3, 4), reason="burst pipe", now=MONDAY_8AM,
                                   policy=commands.Policy())
    refused = await svc.book(member, desk["id"], rome(4, 9), rome(4, 10))
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "closed"
    assert await _booked(svc) == 1


async def test_hours_widened_elsewhere_are_bookable_here(svc: Booking) -> None:
    space = await svc.space()  # 08:00-19:00 on weekdays
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    late = await svc.book(member, desk["id"], rome(2, 19), rome(2, 20))  # keeps the row
    assert late.json()["error"]["code"] == "outside_opening_hours"
    async with svc.runtime.db.acquire() as conn, conn.transaction():
        await commands.change_space(conn, UUID(space["id"]), {"opening_hours": {
            d: [["08:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}},
            now=MONDAY_8AM, policy=commands.Policy())
    booked = await svc.book(member, desk["id"], rome(2, 19), rome(2, 20))
    assert booked.status_code == 201, booked.text


async def _free(svc: Booking, desk: dict[str, Any], day: str) -> dict[str, Any]:
    response = await svc.client.get(f"/v1/resources/{desk['id']}/availability?date={day}",
                                    headers=svc.staff())
    assert response.status_code == 200, response.text
    return response.json()


async def test_availability_on_a_kept_row_reads_one_statement(
        svc: Booking, resource_reads: list[object]) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    resource_reads.clear()
    first = await _free(svc, desk, "2027-03-02")
    assert await _free(svc, desk, "2027-03-02") == first
    assert len(resource_reads) == 1


async def test_availability_answers_changes_made_elsewhere(svc: Booking) -> None:
    space = await svc.space()  # 08:00-19:00 on weekdays
    desk = await svc.resource(space["id"])
    assert [(f["start"], f["end"]) for f in (await _free(svc, desk, "2027-03-02"))["free"]] == [
        ("2027-03-02T08:00:00+01:00", "2027-03-02T19:00:00+01:00")]  # the row is kept now
    async with svc.runtime.db.acquire() as conn, conn.transaction():
        await commands.change_space(conn, UUID(space["id"]), {"opening_hours": {
            d: [["09:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}},
            now=MONDAY_8AM, policy=commands.Policy())
    assert [(f["start"], f["end"]) for f in (await _free(svc, desk, "2027-03-02"))["free"]] == [
        ("2027-03-02T09:00:00+01:00", "2027-03-02T21:00:00+01:00")]
    await _elsewhere_resource(svc, desk, in_service=False)
    out = await _free(svc, desk, "2027-03-02")
    assert (out["in_service"], out["free"]) == (False, [])
    async with svc.runtime.db.acquire() as conn, conn.transaction():
        await commands.close_space(conn, UUID(space["id"]), from_day=date(2027, 3, 3),
                                   to_day=date(2027, 3, 3), reason="burst pipe", now=MONDAY_8AM,
                                   policy=commands.Policy())
    assert (await _free(svc, desk, "2027-03-03"))["closed"]
