"""Every endpoint's success and failure paths, on a real PostgreSQL and Kafka."""

from __future__ import annotations

import uuid

import httpx
import pytest
from booking_support import DESK, ROOM, Booking, rome

from cowork.booking import commands, store

pytestmark = [pytest.mark.infra]


def _error(response) -> dict:
    return response.json()["error"]


async def test_spaces_and_resources_are_managed_by_staff(svc: Booking) -> None:
    member = svc.member(uuid.uuid4())
    refused = await svc.client.post("/v1/spaces", json={"name": "x"}, headers=member)
    assert refused.status_code in (403, 422)
    assert (await svc.client.get("/v1/spaces")).status_code == 401
    space = await svc.space()
    desk = await svc.resource(space["id"])
    assert desk["kind"] == "hot_desk"
    listed = await svc.client.get(f"/v1/spaces/{space['id']}/resources", headers=member)
    assert [r["name"] for r in listed.json()["items"]] == ["Hot desk 1"]
    dup = await svc.client.post(f"/v1/spaces/{space['id']}/resources",
                                json={"name": "Hot desk 1", "kind": "hot_desk",
                                      "price_per_hour_cents": 100}, headers=svc.staff())
    assert dup.status_code == 409
    missing = await svc.client.post(f"/v1/spaces/{uuid.uuid4()}/resources",
                                    json={"name": "X", "kind": "hot_desk",
                                          "price_per_hour_cents": 100}, headers=svc.staff())
    assert missing.status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"opening_hours": {"mon": [["19:00", "08:00"]]}}, "opening_hours"),
    ({"opening_hours": {"funday": [["08:00", "19:00"]]}}, "opening_hours.funday"),
    ({"closures": ["5 August"]}, "closures"),
])
async def test_invalid_spaces_are_422(svc: Booking, change: dict, field: str) -> None:
    from booking_support import SPACE

    response = await svc.client.post("/v1/spaces", json={**SPACE, **change}, headers=svc.staff())
    assert response.status_code == 422, response.text
    assert _error(response)["field"] == field


async def test_booking_then_clash_answers_409_with_the_interval(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    alice, bob = await svc.member_with(), await svc.member_with()
    first = await svc.book(alice, desk["id"], rome(2, 9), rome(2, 13))
    assert first.status_code == 201, first.text
    assert first.json()["price_cents"] == 1200 and first.json()["status"] == "confirmed"
    clash = await svc.book(bob, desk["id"], rome(2, 12), rome(2, 14))
    assert clash.status_code == 409
    error = _error(clash)
    assert error["code"] == "slot_taken"
    # in the space's offset, as the booking itself was answered
    assert error["conflict"] == {"start": rome(2, 9), "end": rome(2, 13)}
    assert error["conflict"]["start"] == first.json()["start"]
    assert (await svc.book(bob, desk["id"], rome(2, 13), rome(2, 15))).status_code == 201


async def test_the_buffer_keeps_bookings_apart(svc: Booking) -> None:
    space = await svc.space()
    room = await svc.resource(space["id"], **ROOM)
    alice, bob = await svc.member_with(), await svc.member_with()
    assert (await svc.book(alice, room["id"], rome(2, 9), rome(2, 10))).status_code == 201
    too_close = await svc.book(bob, room["id"], rome(2, 10), rome(2, 11))
    assert too_close.status_code == 409  # 15-minute buffer after Alice
    assert (await svc.book(bob, room["id"], rome(2, 10, 30), rome(2, 11))).status_code == 201


@pytest.mark.parametrize(("start", "end", "code", "field"), [
    (rome(2, 9, 15), rome(2, 11), "off_grid", "start"),
    (rome(2, 18), rome(2, 20), "outside_opening_hours", "start"),
    (rome(10, 9), rome(10, 11), "closed", "start"),
    (rome(6, 9), rome(6, 11), "outside_opening_hours", "start"),  # Saturday
    (rome(2, 9), rome(2, 9, 30), "too_short", "end"),
    (rome(1, 7), rome(1, 9), "in_the_past", "start"),
    ("2027-03-02T09:00:00", rome(2, 11), "validation_error", "start"),  # no offset
])
async def test_refused_intervals_are_422(svc: Booking, start: str, end: str, code: str,
                                         field: str) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    response = await svc.book(member, desk["id"], start, end)
    assert response.status_code == 422, response.text
    assert (_error(response)["code"], _error(response)["field"]) == (code, field)
    assert await svc.runtime.db.fetchval("SELECT count(*) FROM bookings") == 0


async def test_who_may_book(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    booth = await svc.resource(space["id"], name="Booth", kind="phone_booth", min_minutes=30)
    member = await svc.member_with()
    stranger = uuid.uuid4()
    unknown = await svc.book(stranger, desk["id"], rome(2, 9), rome(2, 11))
    assert unknown.status_code == 403 and _error(unknown)["code"] == "no_membership"
    excluded = await svc.book(member, booth["id"], rome(2, 9), rome(2, 10))
    assert excluded.status_code == 403 and _error(excluded)["code"] == "plan_excludes_resource"
    for_someone_else = await svc.book(member, desk["id"], rome(2, 9), rome(2, 11),
                                      headers=svc.member(stranger))
    assert for_someone_else.status_code == 403
    by_staff = await svc.book(member, desk["id"], rome(2, 9), rome(2, 11), headers=svc.staff())
    assert by_staff.status_code == 201
    missing = await svc.book(member, str(uuid.uuid4()), rome(3, 9), rome(3, 11))
    assert missing.status_code == 404
    no_token = await svc.client.post("/v1/bookings", json={})
    assert no_token.status_code == 401


async def test_fair_use_carnet_and_meeting_room_allowance(svc: Booking) -> None:
    space = await svc.space()
    desks = [await svc.resource(space["id"], name=f"Desk {n}") for n in range(3)]
    room = await svc.resource(space["id"], **ROOM)
    busy = await svc.member_with(max_bookings_per_day=2)
    for n in range(2):
        assert (await svc.book(busy, desks[n]["id"], rome(2, 9), rome(2, 10))).status_code == 201
    third = await svc.book(busy, desks[2]["id"], rome(2, 9), rome(2, 10))
    assert third.status_code == 403 and _error(third)["code"] == "fair_use_daily"

    carnet = await svc.member_with(plan_kind="carnet", carnet_days=2)
    for day in (2, 3):
        assert (await svc.book(carnet, desks[0]["id"], rome(day, 14), rome(day, 15))).status_code == 201
    same_day = await svc.book(carnet, desks[1]["id"], rome(3, 16), rome(3, 17))
    assert same_day.status_code == 201, "a day already counted costs no new carnet day"
    new_day = await svc.book(carnet, desks[0]["id"], rome(4, 14), rome(4, 15))
    assert new_day.status_code == 403 and _error(new_day)["code"] == "carnet_used_up"

    rooms = await svc.member_with(meeting_room_minutes_per_month=120)
    assert (await svc.book(rooms, room["id"], rome(4, 9), rome(4, 10, 30))).status_code == 201
    over = await svc.book(rooms, room["id"], rome(5, 9), rome(5, 10))
    assert over.status_code == 403 and _error(over)["code"] == "meeting_room_allowance"


async def test_a_stackable_plan_beside_a_base_plan(svc: Booking) -> None:
    """An annual desk plan (one booking a day) plus a stackable two-day carnet that includes
    the meeting room: each booking draws on the plan that allows it, and each plan's limits
    count only its own bookings."""
    space = await svc.space()
    desks = [await svc.resource(space["id"], name=f"Desk {n}") for n in range(3)]
    room = await svc.resource(space["id"], **ROOM)
    member = await svc.member_with(plan_code="annual", plan_kind="annual",
                                   resource_kinds=["hot_desk"], max_bookings_per_day=1)
    await svc.member_with(member_id=member, plan_code="rooms", plan_kind="carnet",
                          resource_kinds=["meeting_room"], carnet_days=1)
    assert (await svc.book(member, desks[0]["id"], rome(2, 9), rome(2, 10))).status_code == 201
    assert (await svc.book(member, room["id"], rome(2, 11), rome(2, 12))).status_code == 201, \
        "the desk booking counted against the annual plan, not the carnet"
    second_desk = await svc.book(member, desks[1]["id"], rome(2, 14), rome(2, 15))
    assert second_desk.status_code == 403 and _error(second_desk)["code"] == "fair_use_daily"
    another_room_day = await svc.book(member, room["id"], rome(3, 11), rome(3, 12))
    assert another_room_day.status_code == 403 and \
        _error(another_room_day)["code"] == "carnet_used_up"
    assert (await svc.book(member, desks[0]["id"], rome(3, 9), rome(3, 10))).status_code == 201


async def test_a_resource_reserved_for_some_plans(svc: Booking) -> None:
    space = await svc.space()
    fixed = await svc.resource(space["id"], name="Fixed 1", kind="fixed_desk",
                               plan_codes=["annual"])
    assert fixed["plan_codes"] == ["annual"]
    monthly = await svc.member_with(plan_code="monthly", resource_kinds=["fixed_desk"])
    annual = await svc.member_with(plan_code="annual", resource_kinds=["fixed_desk"])
    refused = await svc.book(monthly, fixed["id"], rome(2, 9), rome(2, 10))
    assert refused.status_code == 403
    assert _error(refused)["code"] == "resource_reserved_for_other_plans"
    assert "annual" in _error(refused)["message"]
    assert (await svc.book(annual, fixed["id"], rome(2, 9), rome(2, 10))).status_code == 201
    repeated = await svc.client.post(f"/v1/spaces/{space['id']}/resources", headers=svc.staff(),
                                     json={**DESK, "name": "Fixed 2", "plan_codes": ["a", "a"]})
    assert repeated.status_code == 422 and _error(repeated)["field"].startswith("plan_codes")


async def test_any_free_hot_desk(svc: Booking) -> None:
    space = await svc.space()
    for n in (1, 2):
        await svc.resource(space["id"], name=f"Hot desk {n}")
    members = [await svc.member_with() for _ in range(3)]
    got = []
    for member in members:
        response = await svc.client.post("/v1/bookings", json={
            "member_id": str(member), "space_id": space["id"], "resource_kind": "hot_desk",
            "start": rome(2, 9), "end": rome(2, 12)}, headers=svc.member(member))
        got.append(response)
    assert [r.status_code for r in got] == [201, 201, 409]
    assert got[0].json()["resource_id"] != got[1].json()["resource_id"]
    assert _error(got[2])["code"] == "none_free"
    neither = await svc.client.post("/v1/bookings", json={
        "member_id": str(members[0]), "start": rome(2, 9), "end": rome(2, 12)},
        headers=svc.member(members[0]))
    assert neither.status_code == 422 and _error(neither)["field"] == "resource_id"


async def test_any_free_desk_passes_over_desks_reserved_for_other_plans(svc: Booking) -> None:
    space = await svc.space()
    await svc.resource(space["id"], name="A reserved", plan_codes=["annual"])
    open_desk = await svc.resource(space["id"], name="B open")
    monthly = await svc.member_with(plan_code="monthly")

    async def any_desk(member: uuid.UUID, hour: int) -> httpx.Response:
        return await svc.client.post("/v1/bookings", json={
            "member_id": str(member), "space_id": space["id"], "resource_kind": "hot_desk",
            "start": rome(2, hour), "end": rome(2, hour + 1)}, headers=svc.member(member))

    first = await any_desk(monthly, 9)
    assert first.status_code == 201 and first.json()["resource_id"] == open_desk["id"]
    other = await svc.member_with(plan_code="monthly")
    second = await any_desk(other, 9)  # only the reserved desk is free now
    assert second.status_code == 403
    assert _error(second)["code"] == "resource_reserved_for_other_plans"


async def test_cancel_free_then_late_and_check_in_window(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    early = (await svc.book(member, desk["id"], rome(3, 9), rome(3, 11))).json()
    free = await svc.client.post(f"/v1/bookings/{early['id']}/cancel", headers=svc.member(member))
    assert free.json()["status"] == "cancelled" and free.json()["charged_cents"] == 0
    again = await svc.client.post(f"/v1/bookings/{early['id']}/cancel", headers=svc.member(member))
    assert again.status_code == 409

    # A late cancellation costs what the booking was charged: nothing more than the plan when
    # the plan includes the desk, the tariff for a member whose plan only allows it at the tariff.
    soon = (await svc.book(member, desk["id"], rome(1, 14), rome(1, 16))).json()
    assert soon["charged_cents"] == 0
    late = await svc.client.post(f"/v1/bookings/{soon['id']}/cancel", headers=svc.member(member))
    assert late.json()["charged_cents"] == 0
    paying = await svc.member_with(included_kinds=["meeting_room"])
    paid = (await svc.book(paying, desk["id"], rome(1, 14), rome(1, 16))).json()
    assert paid["charged_cents"] == paid["price_cents"] == 600
    late = await svc.client.post(f"/v1/bookings/{paid['id']}/cancel", headers=svc.member(paying))
    assert late.json()["charged_cents"] == 600

    today = (await svc.book(member, desk["id"], rome(1, 10), rome(1, 12))).json()
    path = f"/v1/bookings/{today['id']}/check-in"
    too_early = await svc.client.post(path, headers=svc.member(member))
    assert too_early.status_code == 409 and _error(too_early)["code"] == "outside_check_in_window"
    svc.clock.advance(hours=1, minutes=50)  # 09:50
    checked = await svc.client.post(path, headers=svc.member(member))
    assert checked.json()["status"] == "checked_in"
    stranger = await svc.client.post(path, headers=svc.member(uuid.uuid4()))
    assert stranger.status_code == 403


async def test_members_list_only_their_own_bookings(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    alice, bob = await svc.member_with(), await svc.member_with()
    await svc.book(alice, desk["id"], rome(2, 9), rome(2, 10))
    await svc.book(bob, desk["id"], rome(2, 10), rome(2, 11))
    mine = await svc.client.get("/v1/bookings", headers=svc.member(alice))
    assert [b["member_id"] for b in mine.json()["items"]] == [str(alice)]
    theirs = await svc.client.get(f"/v1/bookings?member_id={bob}", headers=svc.member(alice))
    assert theirs.status_code == 403
    everyone = await svc.client.get("/v1/bookings?from=2027-03-02T00:00:00Z&to=2027-03-03T00:00:00Z",
                                    headers=svc.staff())
    assert len(everyone.json()["items"]) == 2
    one = everyone.json()["items"][1]
    assert (await svc.client.get(f"/v1/bookings/{one['id']}", headers=svc.member(alice))).status_code == 403
    assert (await svc.client.get(f"/v1/bookings/{uuid.uuid4()}", headers=svc.staff())).status_code == 404


async def test_availability_shows_free_intervals(svc: Booking) -> None:
    space = await svc.space()
    room = await svc.resource(space["id"], **ROOM)
    member = await svc.member_with()
    await svc.book(member, room["id"], rome(2, 10), rome(2, 11))
    response = await svc.client.get(f"/v1/resources/{room['id']}/availability?date=2027-03-02",
                                    headers=svc.member(member))
    assert response.json()["free"] == [
        {"start": "2027-03-02T08:00:00+01:00", "end": "2027-03-02T09:45:00+01:00"},
        {"start": "2027-03-02T11:15:00+01:00", "end": "2027-03-02T19:00:00+01:00"}]
    closed = await svc.client.get(f"/v1/resources/{room['id']}/availability?date=2027-03-29",
                                  headers=svc.member(member))
    assert closed.json()["free"] == [] and "Easter" in closed.json()["closed"]
    bad = await svc.client.get(f"/v1/resources/{room['id']}/availability?date=tomorrow",
                               headers=svc.member(member))
    assert bad.status_code == 422 and _error(bad)["field"] == "date"


async def test_series_all_or_nothing_and_skip_conflicts(svc: Booking) -> None:
    space = await svc.space()
    room = await svc.resource(space["id"], **ROOM)
    member, other = await svc.member_with(), await svc.member_with()
    # Someone already has the third Tuesday (16 March).
    assert (await svc.book(other, room["id"], rome(16, 9), rome(16, 13))).status_code == 201
    body = {"member_id": str(member), "resource_id": room["id"], "start": rome(2, 9),
            "end": rome(2, 13), "weeks": 4}
    strict = await svc.client.post("/v1/bookings/series", json={**body, "mode": "all_or_nothing"},
                                   headers=svc.member(member))
    assert strict.status_code == 409
    statuses = [o["status"] for o in _error(strict)["occurrences"]]
    assert statuses == ["not_booked", "not_booked", "conflict", "not_booked"]
    assert await svc.runtime.db.fetchval(
        "SELECT count(*) FROM bookings WHERE member_id = $1", member) == 0
    lenient = await svc.client.post("/v1/bookings/series",
                                    json={**body, "mode": "skip_conflicts", "weeks": 5},
                                    headers=svc.member(member))
    assert lenient.status_code == 201
    report = [(o["start"][:10], o["status"]) for o in lenient.json()["occurrences"]]
    # 30 March: Tuesday after Easter is open; the 5th week is fine; 16 March clashes.
    assert report == [("2027-03-02", "booked"), ("2027-03-09", "booked"),
                      ("2027-03-16", "conflict"), ("2027-03-23", "booked"),
                      ("2027-03-30", "booked")]


async def test_a_series_length_is_weeks_count_or_until(svc: Booking) -> None:
    space = await svc.space()
    room = await svc.resource(space["id"], **ROOM)
    member = await svc.member_with()
    base = {"member_id": str(member), "resource_id": room["id"], "recurrence": "weekly"}

    async def series(day: int, **length: object) -> list[str]:
        made = await svc.client.post("/v1/bookings/series", json={
            **base, "start": rome(day, 9), "end": rome(day, 10), **length},
            headers=svc.member(member))
        assert made.status_code == 201, made.text
        return [o["start"][:10] for o in made.json()["occurrences"]]

    assert await series(1, count=2) == ["2027-03-01", "2027-03-08"]
    # until: the last day an occurrence may fall on, inclusive
    assert await series(2, until="2027-03-16") == ["2027-03-02", "2027-03-09", "2027-03-16"]
    assert await series(4, until="2027-03-17") == ["2027-03-04", "2027-03-11"]
    for length, field in (({}, "weeks"), ({"weeks": 2, "until": "2027-03-20"}, "until"),
                          ({"until": "2027-02-01"}, "until"), ({"until": "2029-01-01"}, "until")):
        refused = await svc.client.post("/v1/bookings/series", json={
            **base, "start": rome(5, 9), "end": rome(5, 10), **length},
            headers=svc.member(member))
        assert refused.status_code == 422 and _error(refused)["field"] == field, refused.text
    assert await svc.runtime.db.fetchval(
        "SELECT count(*) FROM bookings WHERE member_id = $1", member) == 7


async def test_waitlist(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    alice, bob = await svc.member_with(), await svc.member_with()
    free = await svc.client.post("/v1/waitlist", json={
        "member_id": str(bob), "resource_id": desk["id"], "start": rome(3, 9),
        "end": rome(3, 11)}, headers=svc.member(bob))
    assert free.status_code == 409 and _error(free)["code"] == "slot_is_free"
    taken = (await svc.book(alice, desk["id"], rome(3, 9), rome(3, 12))).json()
    entry = await svc.client.post("/v1/waitlist", json={
        "member_id": str(bob), "resource_id": desk["id"], "start": rome(3, 9),
        "end": rome(3, 11)}, headers=svc.member(bob))
    assert entry.status_code == 201 and entry.json()["status"] == "waiting"
    await svc.client.post(f"/v1/bookings/{taken['id']}/cancel", headers=svc.member(alice))
    bobs = (await svc.client.get("/v1/bookings", headers=svc.member(bob))).json()["items"]
    assert len(bobs) == 1 and bobs[0]["via_waitlist"] is True and bobs[0]["status"] == "confirmed"


async def test_a_member_whose_claims_keep_losing_gets_a_clean_409(
        svc: Booking, monkeypatch: pytest.MonkeyPatch) -> None:
    """When another booking of the same member wins the claim five times running, the answer
    is 409 member_busy and nothing is written."""
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    attempts = []

    async def always_lost(*args: object, **kwargs: object) -> str:
        attempts.append(1)
        return store.CLAIM_LOST

    monkeypatch.setattr(store, "book_drawing_on", always_lost)
    busy = await svc.book(member, desk["id"], rome(2, 9), rome(2, 10))
    assert busy.status_code == 409 and _error(busy)["code"] == "member_busy"
    assert len(attempts) == commands.CLAIM_ATTEMPTS
    assert await svc.runtime.db.fetchval("SELECT count(*) FROM bookings") == 0
