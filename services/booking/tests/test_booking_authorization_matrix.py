"""Who may do what in booking, as data: every operation x every role -> status (see
cowork.devtools.authorization). A change of rule changes a cell here, on purpose."""

from __future__ import annotations

import itertools

import pytest
from booking_support import DESK, SPACE, Booking, rome

from cowork.devtools.authorization import (
    JOBS_OPERATIONS,
    ROLES,
    Context,
    Operation,
    expect,
    operations_without_a_row,
    role_headers,
    run_matrix,
)
from cowork.shared.auth import issue_token
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

pytestmark = [pytest.mark.infra]

_serial = itertools.count(1)


def operations(svc: Booking) -> list[Operation]:
    async def member_at_a_desk(*, booked: tuple[str, str] | None = None,
                               taken_by_another: bool = False) -> Context:
        space = await svc.space(name=f"Spazio {next(_serial)}")
        desk = await svc.resource(space["id"])
        member = await svc.member_with()
        ctx: Context = {"space": space["id"], "desk": desk["id"], "member": str(member)}
        if booked is not None:
            response = await svc.book(member, desk["id"], *booked, headers=svc.staff())
            assert response.status_code == 201, response.text
            ctx["booking"] = response.json()["id"]
        if taken_by_another:
            other = await svc.member_with()
            response = await svc.book(other, desk["id"], rome(2, 9), rome(2, 11))
            assert response.status_code == 201, response.text
        return ctx

    async def with_booking() -> Context:
        return await member_at_a_desk(booked=(rome(2, 9), rome(2, 10)))

    async def starting_now() -> Context:
        return await member_at_a_desk(booked=(rome(1, 8), rome(1, 10)))

    async def slot_taken() -> Context:
        return await member_at_a_desk(taken_by_another=True)

    async def waiting() -> Context:
        ctx = await slot_taken()
        response = await svc.client.post("/v1/waitlist", headers=svc.staff(), json={
            "member_id": ctx["member"], "resource_id": ctx["desk"], "start": rome(2, 9),
            "end": rome(2, 10)})
        assert response.status_code == 201, response.text
        return {**ctx, "entry": response.json()["id"]}

    async def with_series() -> Context:
        ctx = await member_at_a_desk()
        response = await svc.client.post("/v1/bookings/series", headers=svc.staff(), json={
            "member_id": ctx["member"], "resource_id": ctx["desk"], "start": rome(2, 9),
            "end": rome(2, 10), "weeks": 2})
        assert response.status_code == 201, response.text
        return {**ctx, "series": response.json()["series_id"]}

    def booking_body(ctx: Context) -> dict[str, str]:
        return {"member_id": ctx["member"], "resource_id": ctx["desk"], "start": rome(2, 9),
                "end": rome(2, 10)}

    self_or_staff = {"member_self": 200, "staff": 200}
    staff_only = {"member_self": 403, "staff": 200}
    anyone_signed_in = expect(member_self=200, member_other=200, staff=200, officer=200,
                              operator=200, partner=200)
    return [
        Operation("create_space", "POST", "/v1/spaces", expect(member_self=403, staff=201),
                  body=lambda ctx: {**SPACE, "name": f"Nuovo {next(_serial)}"}),
        Operation("spaces", "GET", "/v1/spaces", anyone_signed_in),
        Operation("space", "GET", "/v1/spaces/{space}", anyone_signed_in),
        Operation("create_resource", "POST", "/v1/spaces/{space}/resources",
                  expect(member_self=403, staff=201),
                  body=lambda ctx: {**DESK, "name": "Hot desk 2"}),
        Operation("resources", "GET", "/v1/spaces/{space}/resources", anyone_signed_in),
        Operation("availability", "GET", "/v1/resources/{desk}/availability", anyone_signed_in,
                  params=lambda ctx: {"date": "2027-03-02"}),
        Operation("create_booking", "POST", "/v1/bookings", expect(member_self=201, staff=201),
                  body=booking_body),
        Operation("create_series", "POST", "/v1/bookings/series",
                  expect(member_self=201, staff=201),
                  body=lambda ctx: {**booking_body(ctx), "weeks": 2}),
        Operation("list_bookings", "GET", "/v1/bookings", expect(**self_or_staff),
                  params=lambda ctx: {"member_id": ctx["member"]}, prepare=with_booking),
        Operation("read_booking", "GET", "/v1/bookings/{booking}", expect(**self_or_staff),
                  prepare=with_booking),
        Operation("cancel", "POST", "/v1/bookings/{booking}/cancel", expect(**self_or_staff),
                  prepare=with_booking),
        Operation("check_in", "POST", "/v1/bookings/{booking}/check-in",
                  expect(**self_or_staff), prepare=starting_now),
        Operation("join_waitlist", "POST", "/v1/waitlist", expect(member_self=201, staff=201),
                  body=booking_body, prepare=slot_taken),
        Operation("change_space", "PATCH", "/v1/spaces/{space}", expect(**staff_only),
                  body=lambda ctx: {"name": f"Rinominato {next(_serial)}"}),
        Operation("close_space", "POST", "/v1/spaces/{space}/closures",
                  expect(member_self=403, staff=201),
                  body=lambda ctx: {"from": "2027-03-15", "to": "2027-03-16",
                                    "reason": "lavori all'impianto"}),
        Operation("closures", "GET", "/v1/spaces/{space}/closures", anyone_signed_in),
        Operation("change_resource", "PATCH", "/v1/resources/{desk}", expect(**staff_only),
                  body=lambda ctx: {"seats": 2}),
        Operation("read_resource", "GET", "/v1/resources/{desk}", anyone_signed_in),
        Operation("list_waitlist", "GET", "/v1/waitlist", expect(**self_or_staff),
                  params=lambda ctx: {"member_id": ctx["member"]}, prepare=waiting),
        Operation("withdraw", "DELETE", "/v1/waitlist/{entry}",
                  expect(member_self=204, staff=204), prepare=waiting),
        Operation("cancel_series", "POST", "/v1/bookings/series/{series}/cancel",
                  expect(**self_or_staff), prepare=with_series),
        Operation("occupancy", "GET", "/v1/reports/occupancy", expect(**staff_only),
                  params=lambda ctx: {"space_id": ctx["space"], "from": "2027-03-01",
                                      "to": "2027-03-07"}),
        Operation("agenda", "GET", "/v1/spaces/{space}/agenda", expect(**staff_only),
                  prepare=with_booking),
        Operation("check_in_at_desk", "POST", "/v1/spaces/{space}/check-in",
                  expect(**staff_only), body=lambda ctx: {"member_id": ctx["member"]},
                  prepare=starting_now),
        Operation("no_shows", "GET", "/v1/members/{member}/no-shows", expect(**self_or_staff)),
        *JOBS_OPERATIONS,  # mounted on every service with scheduled jobs
    ]


async def test_every_operation_for_every_role(svc: Booking) -> None:
    ops = operations(svc)
    assert all(set(op.expected) == set(ROLES) for op in ops)
    assert operations_without_a_row(svc.client._transport.app, ops) == set(), (  # type: ignore[attr-defined]
        "an operation without a row in the matrix")

    async def default() -> Context:
        space = await svc.space(name=f"Spazio {next(_serial)}")
        desk = await svc.resource(space["id"])
        return {"space": space["id"], "desk": desk["id"], "member": str(await svc.member_with())}

    mismatches = await run_matrix(svc.client, ops, role_headers(), default)
    assert mismatches == []


async def test_a_member_listing_without_a_filter_sees_only_their_own(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    alice, bob = await svc.member_with(), await svc.member_with()
    assert (await svc.book(alice, desk["id"], rome(2, 9), rome(2, 10))).status_code == 201
    listed = await svc.client.get("/v1/bookings", headers=svc.member(bob))
    assert listed.status_code == 200 and listed.json()["items"] == []
    officer = {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub="o-1",
                                                        roles=["officer"])}
    assert (await svc.client.get("/v1/bookings", headers=officer)).status_code == 403
