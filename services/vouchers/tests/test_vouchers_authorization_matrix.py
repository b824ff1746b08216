"""Who may do what in vouchers, as data: every operation x every role -> status (see
cowork.devtools.authorization). A change of rule changes a cell here, on purpose.

The officer runs programmes, accreditation, statements, the ledger, transparency and revocation;
a member applies for, and reads, only their own applications and vouchers; the front desk
(staff) may apply on a member's behalf, declares a member's partita IVA (API.md: "the member,
staff") and reads statements and the accredited spaces."""

from __future__ import annotations

import itertools
from uuid import uuid4

import pytest
from vouchers_support import ADULT, MILAN_2013, OFFICER, Vouchers

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
# A grant that pays once the member declares a partita IVA (Puglia 2020's rule).
CONDITIONAL = {"eligibility": {"min_age": 18, "requires_partita_iva": True,
                               "partita_iva_grace_days": 30}}


def operations(svc: Vouchers) -> list[Operation]:
    async def conditional() -> Context:
        return await granted(svc, **CONDITIONAL)

    async def not_yet_applied() -> Context:
        opened = await svc.programme(name=f"Programma {next(_serial)}")
        return {"programme": opened["id"], "member": str(await svc.member())}

    async def accredited() -> Context:
        return {**await granted(svc), "space": str(await svc.space(desks=1))}

    officer_only = expect(member_self=403, staff=403, officer=200)
    own_or_officer = expect(member_self=200, staff=403, officer=200)
    officer_or_staff = expect(member_self=403, staff=200, officer=200)
    anyone_signed_in = expect(member_self=200, member_other=200, staff=200, officer=200,
                              operator=200, partner=200)
    return [
        Operation("open_programme", "POST", "/v1/programmes",
                  expect(member_self=403, staff=403, officer=201),
                  body=lambda ctx: {**MILAN_2013, "name": f"Nuovo {next(_serial)}"}),
        Operation("programmes", "GET", "/v1/programmes", anyone_signed_in),
        Operation("programme", "GET", "/v1/programmes/{programme}", anyone_signed_in),
        Operation("close", "POST", "/v1/programmes/{programme}/close", officer_only),
        Operation("ledger", "GET", "/v1/programmes/{programme}/ledger", officer_only),
        Operation("apply", "POST", "/v1/programmes/{programme}/applications",
                  expect(member_self=201, staff=201, officer=201),
                  body=lambda ctx: {"member_id": ctx["member"], "declarations": ADULT},
                  prepare=not_yet_applied),
        Operation("programme_applications", "GET", "/v1/programmes/{programme}/applications",
                  officer_only),
        Operation("applications", "GET", "/v1/applications", own_or_officer,
                  params=lambda ctx: {"member_id": ctx["member"]}),
        Operation("application", "GET", "/v1/applications/{application}", own_or_officer),
        Operation("vouchers", "GET", "/v1/vouchers", own_or_officer,
                  params=lambda ctx: {"member_id": ctx["member"]}),
        Operation("voucher", "GET", "/v1/vouchers/{voucher}", own_or_officer),
        Operation("revoke", "POST", "/v1/vouchers/{voucher}/revoke", officer_only,
                  body=lambda ctx: {"reason": "false_declaration"}),
        Operation("declare_partita_iva", "POST", "/v1/vouchers/{voucher}/partita-iva",
                  expect(member_self=200, staff=200, officer=200), body=lambda ctx: {"opened_on": "2027-03-01"},
                  prepare=conditional),
        Operation("statement", "GET", "/v1/programmes/{programme}/statements/2027-02",
                  officer_or_staff),
        Operation("issue_statement", "POST",
                  "/v1/programmes/{programme}/statements/2027-02/issue",
                  expect(member_self=403, staff=403, officer=201)),
        Operation("programme_beneficiaries", "GET", "/v1/programmes/{programme}/beneficiaries",
                  officer_only, params=lambda ctx: {"year": "2027"}),
        Operation("transparency", "GET", "/v1/transparency", officer_only,
                  params=lambda ctx: {"year": "2027"}),
        Operation("de_minimis", "GET", "/v1/de-minimis", officer_only,
                  params=lambda ctx: {"on": "2027-03-01", "member_id": ctx["member"]}),
        Operation("accredit", "POST", "/v1/accredited-spaces",
                  expect(member_self=403, staff=403, officer=201),
                  body=lambda ctx: {"space_id": str(uuid4()), "from": "2027-03-01",
                                    "reason": "delibera di giunta"}),
        Operation("accredited_spaces", "GET", "/v1/accredited-spaces", officer_or_staff),
        Operation("audit", "GET", "/v1/programmes/{programme}/audit", officer_only),
        Operation("end_accreditation", "DELETE", "/v1/accredited-spaces/{space}", officer_only,
                  prepare=accredited),
        *JOBS_OPERATIONS,  # mounted on every service with scheduled jobs
    ]


async def test_every_operation_for_every_role(svc: Vouchers) -> None:
    ops = operations(svc)
    assert all(set(op.expected) == set(ROLES) for op in ops)
    assert operations_without_a_row(svc.client._transport.app, ops) == set(), (  # type: ignore[attr-defined]
        "an operation without a row in the matrix")

    mismatches = await run_matrix(svc.client, ops, role_headers(), lambda: granted(svc))
    assert mismatches == [], "\n".join(map(str, mismatches))


async def granted(svc: Vouchers, **programme: object) -> Context:
    """A fresh programme and a member granted a voucher of it."""
    opened = await svc.programme(name=f"Programma {next(_serial)}", **programme)
    member = await svc.member()
    response = await svc.apply(opened["id"], member)
    assert response.status_code == 201 and response.json()["status"] == "granted", response.text
    return {"programme": opened["id"], "member": str(member),
            "application": response.json()["id"], "voucher": response.json()["voucher_id"]}


async def test_a_member_listing_without_a_filter_sees_only_their_own(svc: Vouchers) -> None:
    mine, theirs = await granted(svc), await granted(svc)
    member = {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub=mine["member"],
                                                       roles=["member"])}
    for path, key in (("/v1/vouchers", "voucher"), ("/v1/applications", "application")):
        listed = await svc.client.get(path, headers=member)
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["items"]] == [mine[key]]
    everyone = await svc.client.get("/v1/vouchers", headers=OFFICER)
    assert {mine["voucher"], theirs["voucher"]} <= {v["id"] for v in everyone.json()["items"]}
