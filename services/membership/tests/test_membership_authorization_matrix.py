"""Who may do what in membership, as data: every operation x every role -> status (see
cowork.devtools.authorization). A change of rule changes a cell here, on purpose."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from membership_support import MONTHLY, Membership

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

pytestmark = [pytest.mark.infra]

_serial = itertools.count(1)


def partita_iva(n: int) -> str:
    """A valid partita IVA for each n (a serial, the Alessandria office 006, the Luhn check
    digit): members the matrix can register."""
    body = f"{n:07d}006"
    digits = [int(d) for d in body]
    odd = sum(digits[0::2])
    even = sum(2 * d if 2 * d <= 9 else 2 * d - 9 for d in digits[1::2])
    return f"{body}{(10 - (odd + even) % 10) % 10}"


def new_organisation() -> dict[str, Any]:
    n = next(_serial)
    return {"kind": "organisation", "full_name": f"Cooperativa {n}",
            "email": f"coop{n}@matrix.example.org", "tax_code": partita_iva(1_000_000 + n),
            "consents": {"privacy": True}}


def operations(svc: Membership) -> list[Operation]:
    staff = svc.token()

    async def member(*, membership: str | None = None, person: bool = False) -> Context:
        created = await svc.client.post("/v1/members", json=new_organisation(), headers=staff)
        assert created.status_code == 201, created.text
        ctx: Context = {"member": created.json()["id"]}
        if membership is not None:
            bought = await svc.client.post(f"/v1/members/{ctx['member']}/memberships", json={
                "plan_code": "monthly", "starts_on": "2027-01-31"}, headers=staff)
            assert bought.status_code == 201, bought.text
            ctx["membership"] = bought.json()["id"]
            if membership == "suspended":
                suspended = await svc.client.post(
                    f"/v1/memberships/{ctx['membership']}/suspend",
                    json={"reason": "non_payment"}, headers=staff)
                assert suspended.status_code == 200, suspended.text
        if person:
            added = await svc.client.post(f"/v1/members/{ctx['member']}/people", json={
                "full_name": "Referente", "email": "referente@matrix.example.org"}, headers=staff)
            assert added.status_code == 201, added.text
            ctx["person"] = added.json()["id"]
        return ctx

    async def with_membership() -> Context:
        return await member(membership="active")

    async def suspended() -> Context:
        return await member(membership="suspended")

    async def with_person() -> Context:
        return await member(person=True)

    async def retirable_plan() -> Context:
        code = f"plan-{next(_serial)}"
        created = await svc.client.post("/v1/plans", json={**MONTHLY, "code": code},
                                        headers=staff)
        assert created.status_code == 201, created.text
        return {**await member(), "plan": code}

    self_or_staff = {"member_self": 200, "staff": 200}
    staff_only = {"member_self": 403, "staff": 200}
    anyone_signed_in = expect(member_self=200, member_other=200, staff=200, officer=200,
                              operator=200, partner=200)
    return [
        Operation("register", "POST", "/v1/members", {**expect(member_self=403, staff=201),
                                                      "anonymous": 201},
                  body=lambda ctx: new_organisation()),
        Operation("search_members", "GET", "/v1/members", expect(**staff_only),
                  params=lambda ctx: {"q": "rossi"}),
        Operation("read_member", "GET", "/v1/members/{member}", expect(**self_or_staff)),
        Operation("change_member", "PATCH", "/v1/members/{member}", expect(**self_or_staff),
                  body=lambda ctx: {"language": "en"}),
        Operation("erase", "DELETE", "/v1/members/{member}",
                  expect(member_self=204, staff=204)),
        Operation("add_person", "POST", "/v1/members/{member}/people",
                  expect(member_self=201, staff=201),
                  body=lambda ctx: {"full_name": "Referente", "email": "r@matrix.example.org"}),
        Operation("list_people", "GET", "/v1/members/{member}/people", expect(**self_or_staff)),
        Operation("remove_person", "DELETE", "/v1/members/{member}/people/{person}",
                  expect(member_self=204, staff=204), prepare=with_person),
        Operation("plans", "GET", "/v1/plans", anyone_signed_in),
        Operation("create_plan", "POST", "/v1/plans", expect(member_self=403, staff=201),
                  body=lambda ctx: {**MONTHLY, "code": f"new-{next(_serial)}"}),
        Operation("retire_plan", "POST", "/v1/plans/{plan}/retire", expect(**staff_only),
                  prepare=retirable_plan),
        Operation("buy", "POST", "/v1/members/{member}/memberships",
                  expect(member_self=201, staff=201),
                  body=lambda ctx: {"plan_code": "monthly", "starts_on": "2027-01-31"}),
        Operation("memberships", "GET", "/v1/members/{member}/memberships",
                  expect(**self_or_staff), prepare=with_membership),
        Operation("read_membership", "GET", "/v1/memberships/{membership}",
                  expect(**self_or_staff), prepare=with_membership),
        Operation("renew", "POST", "/v1/memberships/{membership}/renew",
                  expect(**self_or_staff), prepare=with_membership),
        Operation("suspend", "POST", "/v1/memberships/{membership}/suspend",
                  expect(**staff_only), body=lambda ctx: {"reason": "non_payment"},
                  prepare=with_membership),
        Operation("reinstate", "POST", "/v1/memberships/{membership}/reinstate",
                  expect(**staff_only), body=lambda ctx: {"reason": "request"},
                  prepare=suspended),
        Operation("cancel", "POST", "/v1/memberships/{membership}/cancel",
                  expect(**self_or_staff), prepare=with_membership),
        *JOBS_OPERATIONS,  # mounted on every service with scheduled jobs
    ]


def test_partita_iva_check_digit() -> None:
    assert partita_iva(211405) == "02114050061"


async def test_every_operation_for_every_role(svc: Membership) -> None:
    created = await svc.client.post("/v1/plans", json=MONTHLY, headers=svc.token())
    assert created.status_code == 201
    ops = operations(svc)
    assert all(set(op.expected) == set(ROLES) for op in ops)
    assert operations_without_a_row(svc.client._transport.app, ops) == set(), (  # type: ignore[attr-defined]
        "an operation without a row in the matrix")

    async def default() -> Context:
        created = await svc.client.post("/v1/members", json=new_organisation(),
                                        headers=svc.token())
        assert created.status_code == 201, created.text
        return {"member": created.json()["id"]}

    mismatches = await run_matrix(svc.client, ops, role_headers(), default)
    assert mismatches == []
