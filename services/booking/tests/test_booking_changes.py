"""Spaces and resources change after creation (issue 12): what a change makes impossible is
cancelled by the system, with the reason, on real Kafka."""

from __future__ import annotations

import asyncio

import pytest
from booking_support import Booking, rome

from cowork.devtools.kafka import collect, of_type
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics

pytestmark = [pytest.mark.infra]


async def _cancellations(svc: Booking, count: int) -> dict[str, ev.BookingCancelled]:
    records = await collect(
        svc.bootstrap, svc.topic_prefix + topics.BOOKING_EVENTS, timeout=30,
        until=lambda rs: len(of_type(rs, ev.BookingCancelled.event_type)) >= count)
    return {r.key or "": r.envelope.data for r in of_type(records, ev.BookingCancelled.event_type)}


async def test_a_closure_cancels_the_bookings_inside_and_refuses_new_ones(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    inside = (await svc.book(member, desk["id"], rome(3, 9), rome(3, 11))).json()
    outside = (await svc.book(member, desk["id"], rome(5, 9), rome(5, 11))).json()
    closure = await svc.client.post(f"/v1/spaces/{space['id']}/closures", json={
        "from": "2027-03-03", "to": "2027-03-04", "reason": "heating failure"},
        headers=svc.staff())
    assert closure.status_code == 201, closure.text
    assert closure.json()["cancelled_bookings"] == 1
    assert closure.json()["reason"] == "heating failure"
    cancelled = await _cancellations(svc, 1)
    assert (cancelled[inside["id"]].cancelled_by, cancelled[inside["id"]].reason) == (
        "system", "space_closed")
    assert outside["id"] not in cancelled
    read = (await svc.client.get(f"/v1/bookings/{inside['id']}", headers=svc.staff())).json()
    assert (read["status"], read["cancelled_by"], read["cancel_reason"]) == (
        "cancelled", "system", "space_closed")
    refused = await svc.book(member, desk["id"], rome(4, 9), rome(4, 11))
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "closed"
    listed = await svc.client.get(f"/v1/spaces/{space['id']}/closures", headers=svc.staff())
    assert [(c["from"], c["to"]) for c in listed.json()["items"]] == [("2027-03-03",
                                                                       "2027-03-04")]
    day = await svc.client.get(f"/v1/resources/{desk['id']}/availability?date=2027-03-04",
                               headers=svc.staff())
    assert day.json()["free"] == [] and day.json()["closed"]


@pytest.mark.parametrize(("body", "field"), [
    ({"from": "2027-03-05", "to": "2027-03-04", "reason": "x-ray"}, "to"),
    ({"from": "2027-03-05", "to": "2029-03-04", "reason": "works"}, "to"),
    ({"from": "2027-03-05", "to": "2027-03-06"}, "reason"),
    ({"from": "5 March", "to": "2027-03-06", "reason": "works"}, "from"),
    ({"from": "2027-03-05", "to": "2027-03-06", "reason": "wor\x00ks"}, "reason"),
    ({"from": "2027-03-05", "to": "2027-03-06", "reason": "x" * 501}, "reason"),
])
async def test_invalid_closures_are_422(svc: Booking, body: dict, field: str) -> None:
    space = await svc.space()
    response = await svc.client.post(f"/v1/spaces/{space['id']}/closures", json=body,
                                     headers=svc.staff())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_changing_opening_hours_cancels_what_they_now_shut(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    evening = (await svc.book(member, desk["id"], rome(2, 16), rome(2, 18))).json()
    morning = (await svc.book(member, desk["id"], rome(3, 9), rome(3, 11))).json()
    changed = await svc.client.patch(f"/v1/spaces/{space['id']}", json={
        "opening_hours": {d: [["08:00", "14:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        "name": "Biblioteca Civica (winter)"}, headers=svc.staff())
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "Biblioteca Civica (winter)"
    cancelled = await _cancellations(svc, 1)
    assert cancelled[evening["id"]].reason == "opening_hours_changed"
    assert morning["id"] not in cancelled
    tz = await svc.client.patch(f"/v1/spaces/{space['id']}", json={"timezone": "Europe/London"},
                                headers=svc.staff())
    assert tz.status_code == 409 and tz.json()["error"]["field"] == "timezone"
    bad = await svc.client.patch(f"/v1/spaces/{space['id']}", json={"name": None},
                                 headers=svc.staff())
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "name"
    member_token = svc.member(member)
    forbidden = await svc.client.patch(f"/v1/spaces/{space['id']}", json={"name": "Mine"},
                                       headers=member_token)
    assert forbidden.status_code == 403


async def test_a_resource_out_of_service_cancels_its_bookings_and_is_published_again(
        svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    booked = (await svc.book(member, desk["id"], rome(2, 9), rome(2, 11))).json()
    repriced = await svc.client.patch(f"/v1/resources/{desk['id']}", json={
        "price_per_hour_cents": 400, "price_per_day_cents": None}, headers=svc.staff())
    assert repriced.status_code == 200, repriced.text
    assert repriced.json()["price_per_hour_cents"] == 400
    assert repriced.json()["price_per_day_cents"] is None
    out = await svc.client.patch(f"/v1/resources/{desk['id']}", json={"in_service": False},
                                 headers=svc.staff())
    assert out.status_code == 200 and out.json()["in_service"] is False
    records = await collect(
        svc.bootstrap, svc.topic_prefix + topics.BOOKING_EVENTS, timeout=30,
        until=lambda rs: len(of_type(rs, ev.ResourcePublished.event_type)) >= 3
        and len(of_type(rs, ev.BookingCancelled.event_type)) >= 1)
    [cancelled] = of_type(records, ev.BookingCancelled.event_type)
    assert cancelled.key == booked["id"]
    assert (cancelled.envelope.data.cancelled_by, cancelled.envelope.data.reason) == (
        "system", "resource_out_of_service")
    published = [r.envelope.data for r in of_type(records, ev.ResourcePublished.event_type)]
    assert [(p.price_per_hour_cents, p.in_service) for p in published] == [
        (300, True), (400, True), (400, False)]
    refused = await svc.book(member, desk["id"], rome(3, 9), rome(3, 11))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "out_of_service"
    back = await svc.client.patch(f"/v1/resources/{desk['id']}", json={"in_service": True},
                                  headers=svc.staff())
    assert back.json()["in_service"] is True
    assert (await svc.book(member, desk["id"], rome(3, 9), rome(3, 11))).status_code == 201
    bad = await svc.client.patch(f"/v1/resources/{desk['id']}", json={"max_minutes": 30},
                                 headers=svc.staff())
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "max_minutes"


async def test_no_booking_survives_a_concurrent_change_that_forbids_it(svc: Booking) -> None:
    """Bookings racing a resource going out of service, and a closure of their day: whatever
    the interleaving, none stays confirmed (the booking statement re-checks under a lock)."""
    space = await svc.space()
    desks = [await svc.resource(space["id"], name=f"Desk {n}") for n in range(10)]
    members = [await svc.member_with() for _ in range(10)]
    bookings = [svc.book(m, d["id"], rome(2, 9), rome(2, 11)) for m, d in zip(members, desks, strict=True)]
    out = svc.client.patch(f"/v1/resources/{desks[0]['id']}", json={"in_service": False},
                           headers=svc.staff())
    closure = svc.client.post(f"/v1/spaces/{space['id']}/closures", json={
        "from": "2027-03-02", "to": "2027-03-02", "reason": "strike"}, headers=svc.staff())
    responses = await asyncio.gather(*bookings[:5], out, *bookings[5:], closure)
    assert all(r.status_code < 500 for r in responses)
    assert responses[5].status_code == 200 and responses[-1].status_code == 201, \
        "both changes go through, none is the victim of a deadlock"
    confirmed = await svc.runtime.db.fetchval(
        "SELECT count(*) FROM bookings WHERE status = 'confirmed'")
    assert confirmed == 0
