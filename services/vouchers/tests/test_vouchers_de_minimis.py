"""The de minimis register per undertaking (Regulation (EU) 2023/2831), read and guarded by the
undertaking a member declared: a sole trader's codice fiscale and partita IVA are one
undertaking, and a member cannot open a second EUR 300,000 ceiling by declaring another key."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from vouchers_support import OFFICER, Vouchers

pytestmark = [pytest.mark.infra]

CODICE_FISCALE = "RSSMRA90E17F205X"
PARTITA_IVA = "12345678903"
CEILING = 30_000_000
# A programme that grants the whole de minimis ceiling at once.
WHOLE_CEILING: dict[str, Any] = {"budget_cents": 60_000_000, "cap_per_beneficiary_cents": CEILING,
                                 "cap_per_year_cents": None}


async def _register(svc: Vouchers, **query: str) -> dict[str, Any]:
    response = await svc.client.get("/v1/de-minimis", params={"on": "2027-03-01", **query},
                                    headers=OFFICER)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_members_register_is_the_undertaking_they_declared(svc: Vouchers) -> None:
    """Issue 19 case 8: asked by member, the register answers for the tax code the member
    declared, not for an empty register of the member's own id."""
    programme = await svc.programme()
    member_id, _ = await svc.granted(programme["id"], tax_code=CODICE_FISCALE)
    by_member = await _register(svc, member_id=str(member_id))
    by_code = await _register(svc, tax_code=CODICE_FISCALE)
    assert by_member == by_code
    assert (by_member["headroom_cents"], [g["amount_cents"] for g in by_member["grants"]]) == \
        (CEILING - 150_000, [150_000])


async def test_a_second_key_declared_later_is_the_same_undertaking(svc: Vouchers) -> None:
    """Issue 19 case 8: a sole trader who got the whole ceiling under their codice fiscale
    declares their partita IVA in the next programme: still one undertaking, nothing more to
    grant; the register under either key shows both."""
    first = await svc.programme(**WHOLE_CEILING)
    second = await svc.programme(**WHOLE_CEILING, name="Another programme")
    member_id, _ = await svc.granted(first["id"], tax_code=CODICE_FISCALE)
    again = await svc.apply(second["id"], member_id, tax_code=PARTITA_IVA)
    assert again.status_code == 201, again.text
    assert (again.json()["status"], again.json()["reasons"]) == \
        ("rejected", ["de_minimis_exceeded"])
    for query in ({"tax_code": PARTITA_IVA}, {"tax_code": CODICE_FISCALE},
                  {"member_id": str(member_id)}):
        assert (await _register(svc, **query))["headroom_cents"] == 0, query


async def test_a_key_declared_after_none_keeps_the_grants_made_without_one(
        svc: Vouchers) -> None:
    first = await svc.programme(**WHOLE_CEILING)
    second = await svc.programme(**WHOLE_CEILING, name="Another programme")
    member_id, _ = await svc.granted(first["id"])  # no tax code: the member is the undertaking
    again = await svc.apply(second["id"], member_id, tax_code=PARTITA_IVA)
    assert again.json()["reasons"] == ["de_minimis_exceeded"], again.text
    assert (await _register(svc, tax_code=PARTITA_IVA))["headroom_cents"] == 0


async def test_two_keys_at_once_cannot_open_two_ceilings(svc: Vouchers) -> None:
    """Two applications of one member with different keys, at the same time, to two
    programmes: serialized per member, so at most one ceiling is granted."""
    first = await svc.programme(**WHOLE_CEILING)
    second = await svc.programme(**WHOLE_CEILING, name="Another programme")
    member_id = await svc.member()
    answers = await asyncio.gather(
        svc.apply(first["id"], member_id, tax_code=CODICE_FISCALE),
        svc.apply(second["id"], member_id, tax_code=PARTITA_IVA))
    assert sorted(a.json()["status"] for a in answers) == ["granted", "rejected"], \
        [a.text for a in answers]
    assert (await _register(svc, member_id=str(member_id)))["headroom_cents"] == 0
