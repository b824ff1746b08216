"""Programmes, applications, vouchers and the ledger through the HTTP API an officer and a
member use, on real PostgreSQL."""

from __future__ import annotations

import base64
import json
from typing import Any
from uuid import uuid4

import pytest
from vouchers_support import MILAN_2013, OFFICER, Vouchers, member_token

from cowork.shared.demo_ids import DEMO_SPACE_ID
from cowork.shared.events import contracts as ev
from cowork.vouchers import demo

pytestmark = [pytest.mark.infra]


def encode_cursor(key: Any) -> str:
    """A cursor as the service wrote them before it used the shared ones (one JSON value,
    base64): the forged ones below are refused in either format."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


async def test_opening_a_programme_posts_its_budget_as_available(svc: Vouchers) -> None:
    programme = await svc.programme()
    assert programme["status"] == "open"
    assert (programme["budget_cents"], programme["available_cents"],
            programme["committed_cents"], programme["disbursed_cents"]) == \
        (29_824_000, 29_824_000, 0, 0)
    ledger = (await svc.client.get(f"/v1/programmes/{programme['id']}/ledger",
                                   headers=OFFICER)).json()
    [opening] = ledger["items"]
    assert opening["movement"] == "open"
    assert opening["postings"] == {"funding": -29_824_000, "available": 29_824_000}
    await svc.ledger_is_balanced(programme["id"])


async def test_first_come_grants_at_once_and_commits_the_amount(svc: Vouchers) -> None:
    programme = await svc.programme()
    member_id = await svc.member()
    response = await svc.apply(programme["id"], member_id)
    assert response.status_code == 201, response.text
    application = response.json()
    assert application["status"] == "granted" and application["reasons"] == []
    voucher = (await svc.client.get(f"/v1/vouchers/{application['voucher_id']}",
                                    headers=member_token(member_id))).json()
    assert (voucher["amount_cents"], voucher["remaining_cents"], voucher["status"]) == \
        (150_000, 150_000, "active")
    assert voucher["valid_from"] == "2027-03-01" and voucher["valid_until"] == "2028-02-29"
    after = await svc.read_programme(programme["id"])
    assert (after["available_cents"], after["committed_cents"]) == (29_674_000, 150_000)
    await svc.ledger_is_balanced(programme["id"])


async def test_one_voucher_per_beneficiary_per_programme(svc: Vouchers) -> None:
    programme = await svc.programme()
    member_id, _ = await svc.granted(programme["id"])
    again = await svc.apply(programme["id"], member_id)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_applied"
    assert (await svc.read_programme(programme["id"]))["committed_cents"] == 150_000


async def test_a_rejection_names_every_rule_that_failed(svc: Vouchers) -> None:
    programme = await svc.programme(eligibility={"residence_istat": ["015146"], "min_age": 18,
                                                 "max_age": 35, "member_kinds": ["person"]})
    member_id = await svc.member(kind="organisation")
    response = await svc.apply(programme["id"], member_id, birth_date="1970-01-01",
                               residence_istat="006114")
    assert response.status_code == 201
    rejected = response.json()
    assert rejected["status"] == "rejected" and rejected["voucher_id"] is None
    assert set(rejected["reasons"]) == {"residence_not_eligible", "age_above_max",
                                        "member_kind_not_eligible"}
    assert (await svc.read_programme(programme["id"]))["committed_cents"] == 0


async def test_members_see_only_their_own_applications_and_vouchers(svc: Vouchers) -> None:
    programme = await svc.programme()
    alice, voucher_id = await svc.granted(programme["id"])
    bob = await svc.member()
    assert (await svc.client.get(f"/v1/vouchers/{voucher_id}",
                                 headers=member_token(bob))).status_code == 403
    on_behalf = await svc.client.post(
        f"/v1/programmes/{programme['id']}/applications",
        json={"member_id": str(bob), "declarations": {}}, headers=member_token(alice))
    assert on_behalf.status_code == 403
    mine = (await svc.client.get("/v1/vouchers", headers=member_token(alice))).json()
    assert [v["id"] for v in mine["items"]] == [voucher_id] and mine["next_cursor"] is None
    others = await svc.client.get(f"/v1/vouchers?member_id={alice}", headers=member_token(bob))
    assert others.status_code == 403
    officer_only = await svc.client.get(f"/v1/programmes/{programme['id']}/ledger",
                                        headers=member_token(alice))
    assert officer_only.status_code == 403
    assert (await svc.client.post("/v1/programmes", json=MILAN_2013, headers=member_token(alice))
            ).status_code == 403


async def test_bad_input_is_a_422_naming_the_field(svc: Vouchers) -> None:
    bad = await svc.client.post("/v1/programmes", json={
        **{"name": "x", "budget_cents": 100, "coverage_pct": 150,
           "cap_per_beneficiary_cents": 10, "valid_from": "2027-01-01",
           "valid_until": "2027-12-31", "selection_mode": "first_come"}}, headers=OFFICER)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "coverage_pct"
    too_big = await svc.client.post("/v1/programmes", json={
        "name": "x", "budget_cents": 2**63, "coverage_pct": 50,
        "cap_per_beneficiary_cents": 10, "valid_from": "2027-01-01",
        "valid_until": "2027-12-31", "selection_mode": "first_come"}, headers=OFFICER)
    assert too_big.status_code == 422 and too_big.json()["error"]["field"] == "budget_cents"
    nul = await svc.client.post("/v1/programmes", json={
        "name": "a\x00b", "budget_cents": 100, "coverage_pct": 50,
        "cap_per_beneficiary_cents": 10, "valid_from": "2027-01-01",
        "valid_until": "2027-12-31", "selection_mode": "first_come"}, headers=OFFICER)
    assert nul.status_code == 422 and nul.json()["error"]["field"] == "name"
    programme = await svc.programme()
    member_id = await svc.member()
    wrong_date = await svc.apply(programme["id"], member_id, birth_date="0001-01-01")
    assert wrong_date.status_code == 422
    assert wrong_date.json()["error"]["field"] == "declarations.birth_date"
    unknown = await svc.client.get(f"/v1/vouchers/{uuid4()}", headers=OFFICER)
    assert unknown.status_code == 404
    for path, cursor in (("/v1/programmes", "zzz"),
                         ("/v1/programmes", encode_cursor(["2027-01-01T00:00:00", "x"])),
                         (f"/v1/programmes/{programme['id']}/ledger", encode_cursor(2**70)),
                         (f"/v1/programmes/{programme['id']}/ledger", encode_cursor("1"))):
        bad_cursor = await svc.client.get(f"{path}?cursor={cursor}", headers=OFFICER)
        assert bad_cursor.status_code == 422, (path, cursor, bad_cursor.text)
        assert bad_cursor.json()["error"]["field"] == "cursor"


async def test_demo_data_is_milan_2013_at_the_demo_space_loaded_once(svc: Vouchers) -> None:
    await demo.load(svc.runtime)
    await demo.load(svc.runtime)
    programmes = (await svc.client.get("/v1/programmes", headers=OFFICER)).json()["items"]
    [milan] = programmes
    assert (milan["budget_cents"], milan["coverage_pct"], milan["cap_per_year_cents"],
            milan["max_duration_months"], milan["selection_mode"], milan["min_desks"]) == \
        (29_824_000, 50, 150_000, 12, "first_come", 10)
    spaces = (await svc.client.get("/v1/accredited-spaces", headers=OFFICER)).json()["items"]
    assert [s["space_id"] for s in spaces] == [str(DEMO_SPACE_ID)]
    assert spaces[0]["warning"].startswith("space_unknown")  # booking has not announced it yet


async def test_lists_are_paginated_with_a_cursor(svc: Vouchers) -> None:
    for n in range(3):
        await svc.programme(name=f"Programme {n}")
        svc.clock.advance(seconds=1)
    first = (await svc.client.get("/v1/programmes?limit=2", headers=OFFICER)).json()
    assert [p["name"] for p in first["items"]] == ["Programme 0", "Programme 1"]
    rest = (await svc.client.get(f"/v1/programmes?limit=2&cursor={first['next_cursor']}",
                                 headers=OFFICER)).json()
    assert [p["name"] for p in rest["items"]] == ["Programme 2"]
    assert rest["next_cursor"] is None


async def test_the_replicas_member_kind_wins_over_a_declared_one(svc: Vouchers) -> None:
    programme = await svc.programme()  # persons only
    stranger = await svc.apply(programme["id"], uuid4())  # membership never told us of them
    assert (stranger.status_code, stranger.json()["error"]["code"]) == (409, "member_unknown")
    # member.updated arrived but not (yet) the member.registered that carries the kind.
    newcomer = uuid4()
    await svc.deliver(ev.MemberUpdated(member_id=newcomer, language="it",
                                       residence_istat="015146"))
    undeclared = (await svc.apply(programme["id"], newcomer)).json()
    assert undeclared["status"] == "rejected"
    assert undeclared["reasons"] == ["member_kind_not_eligible"]
    declared = (await svc.apply(programme["id"], newcomer, member_kind="person")).json()
    assert declared["status"] == "granted"  # a rejected applicant may apply again
    organisation = await svc.member(kind="organisation")
    claimed = (await svc.apply(programme["id"], organisation, member_kind="person")).json()
    assert claimed["status"] == "rejected"
