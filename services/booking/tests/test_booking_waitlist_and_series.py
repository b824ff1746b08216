"""The waitlist can be listed and a request withdrawn; a series can be cancelled as a whole or
from a date on (issue 12)."""

from __future__ import annotations

import uuid

import pytest
from booking_support import Booking, rome

pytestmark = [pytest.mark.infra]


async def _wait(svc: Booking, member: uuid.UUID, resource_id: str, day: int) -> dict:
    svc.clock.advance(seconds=1)  # first come, first served: each a second after the other
    response = await svc.client.post("/v1/waitlist", json={
        "member_id": str(member), "resource_id": resource_id, "start": rome(day, 9),
        "end": rome(day, 11)}, headers=svc.member(member))
    assert response.status_code == 201, response.text
    return response.json()


async def test_members_list_and_withdraw_their_waiting_requests(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    holder, bob, carla = (await svc.member_with(), await svc.member_with(),
                          await svc.member_with())
    for day in (2, 3, 4):
        assert (await svc.book(holder, desk["id"], rome(day, 9), rome(day, 11))).status_code == 201
    bobs = [await _wait(svc, bob, desk["id"], day) for day in (2, 3, 4)]
    await _wait(svc, carla, desk["id"], 2)

    mine = await svc.client.get("/v1/waitlist?limit=2", headers=svc.member(bob))
    assert [e["id"] for e in mine.json()["items"]] == [bobs[0]["id"], bobs[1]["id"]]
    rest = await svc.client.get(f"/v1/waitlist?limit=2&cursor={mine.json()['next_cursor']}",
                                headers=svc.member(bob))
    assert [e["id"] for e in rest.json()["items"]] == [bobs[2]["id"]]
    assert rest.json()["next_cursor"] is None
    queue = await svc.client.get(f"/v1/waitlist?resource_id={desk['id']}", headers=svc.staff())
    assert len(queue.json()["items"]) == 4
    nosy = await svc.client.get(f"/v1/waitlist?member_id={carla}", headers=svc.member(bob))
    assert nosy.status_code == 403

    assert (await svc.client.delete(f"/v1/waitlist/{bobs[0]['id']}",
                                    headers=svc.member(carla))).status_code == 403
    gone = await svc.client.delete(f"/v1/waitlist/{bobs[0]['id']}", headers=svc.member(bob))
    assert gone.status_code == 204
    waiting = await svc.client.get("/v1/waitlist?status=waiting", headers=svc.member(bob))
    assert [e["id"] for e in waiting.json()["items"]] == [bobs[1]["id"], bobs[2]["id"]]
    # Tuesday's slot frees: Carla, not the withdrawn Bob, gets it.
    tuesday = (await svc.client.get("/v1/bookings",
                                    headers=svc.member(holder))).json()["items"][0]
    await svc.client.post(f"/v1/bookings/{tuesday['id']}/cancel", headers=svc.member(holder))
    carlas = (await svc.client.get("/v1/bookings", headers=svc.member(carla))).json()["items"]
    assert [b["via_waitlist"] for b in carlas] == [True]
    assert (await svc.client.delete(f"/v1/waitlist/{uuid.uuid4()}",
                                    headers=svc.staff())).status_code == 404


async def test_a_series_is_cancelled_whole_or_from_a_date_on(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with(period_end="2027-05-31")
    series = await svc.client.post("/v1/bookings/series", json={
        "member_id": str(member), "resource_id": desk["id"], "start": rome(2, 9),
        "end": rome(2, 13), "weeks": 4}, headers=svc.member(member))
    assert series.status_code == 201, series.text
    series_id = series.json()["series_id"]
    path = f"/v1/bookings/series/{series_id}/cancel"
    assert (await svc.client.post(path, headers=svc.member(uuid.uuid4()))).status_code == 403

    later = await svc.client.post(path, json={"from": "2027-03-16"}, headers=svc.member(member))
    assert later.status_code == 200, later.text
    assert [b["start"][:10] for b in later.json()["cancelled"]] == ["2027-03-16", "2027-03-23"]
    assert later.json()["charged_cents"] == 0, "well before the cut-off"

    rest = await svc.client.post(path, headers=svc.member(member))
    assert [b["start"][:10] for b in rest.json()["cancelled"]] == ["2027-03-02", "2027-03-09"]
    statuses = {b["status"] for b in (await svc.client.get(
        "/v1/bookings", headers=svc.member(member))).json()["items"]}
    assert statuses == {"cancelled"}
    missing = await svc.client.post(f"/v1/bookings/series/{uuid.uuid4()}/cancel",
                                    headers=svc.staff())
    assert missing.status_code == 404


async def test_a_refused_series_names_no_booking_that_does_not_exist(svc: Booking) -> None:
    """all_or_nothing rolls back the occurrences it could book: the 409's report must not give
    their booking ids (the acceptance walk of 2026-11-28 read such ids; each was a 404)."""
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member, other = await svc.member_with(), await svc.member_with()
    assert (await svc.book(other, desk["id"], rome(9, 9), rome(9, 13))).status_code == 201
    refused = await svc.client.post("/v1/bookings/series", json={
        "member_id": str(member), "resource_id": desk["id"], "start": rome(2, 9),
        "end": rome(2, 13), "weeks": 3, "mode": "all_or_nothing"}, headers=svc.member(member))
    assert refused.status_code == 409, refused.text
    occurrences = refused.json()["error"]["occurrences"]
    assert [o["status"] for o in occurrences] == ["not_booked", "conflict", "not_booked"]
    assert all("booking_id" not in o for o in occurrences)
    assert [o["start"][:10] for o in occurrences] == ["2027-03-02", "2027-03-09", "2027-03-16"]
    assert await svc.runtime.db.fetchval(
        "SELECT count(*) FROM bookings WHERE member_id = $1", member) == 0
