"""Every endpoint's success and failure paths, on a real PostgreSQL and Kafka."""

from __future__ import annotations

import uuid

import pytest
from membership_support import MONTHLY, ORGANISATION, PERSON, Membership

pytestmark = [pytest.mark.infra]


async def _register(svc: Membership, body: dict | None = None) -> dict:
    response = await svc.client.post("/v1/members", json=body or PERSON)
    assert response.status_code == 201, response.text
    return response.json()


async def _plan(svc: Membership, body: dict | None = None) -> dict:
    response = await svc.client.post("/v1/plans", json=body or MONTHLY, headers=svc.token())
    assert response.status_code == 201, response.text
    return response.json()


async def _membership(svc: Membership, member_id: str, starts_on: str = "2027-01-31") -> dict:
    response = await svc.client.post(f"/v1/members/{member_id}/memberships",
                                     json={"plan_code": "monthly", "starts_on": starts_on},
                                     headers=svc.as_member(member_id))
    assert response.status_code == 201, response.text
    return response.json()


def _error(response) -> dict:
    return response.json()["error"]


# -- registration

async def test_self_registration_without_a_token(svc: Membership) -> None:
    member = await _register(svc, {**PERSON, "tax_code": "bncgli90a41f965d"})
    assert member["tax_code"] == "BNCGLI90A41F965D"
    assert member["consents"]["privacy_at"] is not None
    assert member["consents"]["marketing"] is False
    assert member["language"] == "it"


async def test_wrong_check_digit_is_422_naming_tax_code(svc: Membership) -> None:
    response = await svc.client.post("/v1/members", json={**PERSON, "tax_code": "BNCGLI90A41F965X"})
    assert response.status_code == 422
    assert _error(response)["field"] == "tax_code"
    assert _error(response)["code"] == "invalid_tax_code"


async def test_organisation_needs_a_partita_iva(svc: Membership) -> None:
    response = await svc.client.post("/v1/members",
                                     json={**ORGANISATION, "tax_code": "BNCGLI90A41F965D"})
    assert response.status_code == 422 and _error(response)["field"] == "tax_code"
    assert (await svc.client.post("/v1/members", json=ORGANISATION)).status_code == 201


@pytest.mark.parametrize(("change", "field"), [
    ({"consents": {"privacy": False}}, "consents.privacy"),
    ({"email": "not-an-email"}, "email"),
    ({"kind": "robot"}, "kind"),
    ({"language": "de"}, "language"),
    ({"residence_istat": "Novi"}, "residence_istat"),
    ({"full_name": ""}, "full_name"),
    ({"unexpected": 1}, "unexpected"),
])
async def test_invalid_registration_is_422_naming_the_field(svc: Membership, change: dict,
                                                           field: str) -> None:
    response = await svc.client.post("/v1/members", json={**PERSON, **change})
    assert response.status_code == 422, response.text
    assert _error(response)["field"] == field


async def test_duplicate_tax_code_or_email_is_409_to_staff(svc: Membership) -> None:
    await _register(svc)
    same_code = await svc.client.post("/v1/members", json={**PERSON, "email": "other@example.org"},
                                     headers=svc.token())
    assert same_code.status_code == 409 and _error(same_code)["field"] == "tax_code"
    same_email = await svc.client.post("/v1/members", json={
        **PERSON, "tax_code": "VRDLCU80C01F965J", "email": "GIULIA@example.org"},
        headers=svc.token())
    assert same_email.status_code == 409 and _error(same_email)["field"] == "email"
    rows = await svc.runtime.db.fetchval("SELECT count(*) FROM members")
    assert rows == 1, "nothing half-written"


async def test_anonymous_registration_does_not_reveal_a_registered_tax_code_or_email(
        svc: Membership) -> None:
    first = await svc.client.post("/v1/members", json=PERSON)
    same_code = await svc.client.post("/v1/members",
                                      json={**PERSON, "email": "other@example.org"})
    same_email = await svc.client.post("/v1/members", json={
        **PERSON, "tax_code": "VRDLCU80C01F965J", "email": "GIULIA@example.org"})
    for duplicate in (same_code, same_email):
        assert duplicate.status_code == first.status_code == 201, duplicate.text
        assert set(duplicate.json()) == set(first.json())
        assert duplicate.json()["id"] != first.json()["id"]
        assert "taken" not in duplicate.text
    assert await svc.runtime.db.fetchval("SELECT count(*) FROM members") == 1
    staff_reads = await svc.client.get(f"/v1/members/{same_code.json()['id']}",
                                       headers=svc.token())
    assert staff_reads.status_code == 404, "the duplicate was not saved"


async def test_staff_registers_on_behalf_but_a_member_cannot(svc: Membership) -> None:
    assert (await svc.client.post("/v1/members", json=PERSON, headers=svc.token())).status_code == 201
    response = await svc.client.post("/v1/members", json=ORGANISATION,
                                     headers=svc.as_member(str(uuid.uuid4())))
    assert response.status_code == 403


# -- reading, changing, erasing

async def test_members_see_only_themselves(svc: Membership) -> None:
    member = await _register(svc)
    other = str(uuid.uuid4())
    path = f"/v1/members/{member['id']}"
    assert (await svc.client.get(path)).status_code == 401
    assert (await svc.client.get(path, headers=svc.as_member(member["id"]))).json()["email"] == PERSON["email"]
    assert (await svc.client.get(path, headers=svc.as_member(other))).status_code == 403
    assert (await svc.client.get(path, headers=svc.token())).status_code == 200
    missing = await svc.client.get(f"/v1/members/{other}", headers=svc.token())
    assert missing.status_code == 404 and _error(missing)["code"] == "not_found"
    assert (await svc.client.get("/v1/members/not-a-uuid", headers=svc.token())).status_code == 422


async def test_phone_numbers_are_taken_as_people_write_them(svc: Membership) -> None:
    member = await _register(svc, {**PERSON, "phone": "(0143) 555-123"})
    assert member["phone"] == "0143 555 123"
    for written, kept in (("+39 0143/555123", "+39 0143 555123"), ("0143.555.123", "0143 555 123")):
        changed = await svc.client.patch(f"/v1/members/{member['id']}", json={"phone": written},
                                         headers=svc.as_member(member["id"]))
        assert changed.status_code == 200 and changed.json()["phone"] == kept
    bad = await svc.client.patch(f"/v1/members/{member['id']}", json={"phone": "call me"},
                                 headers=svc.as_member(member["id"]))
    assert bad.status_code == 422 and _error(bad)["field"] == "phone"


async def test_patch_changes_contact_and_consents(svc: Membership) -> None:
    member = await _register(svc)
    response = await svc.client.patch(f"/v1/members/{member['id']}",
                                      json={"phone": "+39 333 1234567", "language": "en",
                                            "marketing_consent": True},
                                      headers=svc.as_member(member["id"]))
    assert response.status_code == 200
    body = response.json()
    assert body["phone"] == "+39 333 1234567" and body["language"] == "en"
    assert body["consents"]["marketing"] is True and body["consents"]["marketing_at"]
    bad = await svc.client.patch(f"/v1/members/{member['id']}", json={"email": None},
                                 headers=svc.as_member(member["id"]))
    assert bad.status_code == 422 and _error(bad)["field"] == "email"


async def test_erasure_removes_personal_data_and_keeps_facts(svc: Membership) -> None:
    member = await _register(svc)
    await _plan(svc)
    membership = await _membership(svc, member["id"])
    response = await svc.client.delete(f"/v1/members/{member['id']}",
                                       headers=svc.as_member(member["id"]))
    assert response.status_code == 204
    assert (await svc.client.get(f"/v1/members/{member['id']}", headers=svc.token())).status_code == 404
    row = await svc.runtime.db.fetchrow("SELECT * FROM members WHERE id = $1", uuid.UUID(member["id"]))
    assert row["full_name"] is None and row["email"] is None and row["tax_code"] is None
    assert row["phone"] is None and row["erased_at"] is not None
    kept = await svc.runtime.db.fetchrow("SELECT status, price_cents FROM memberships WHERE id = $1",
                                         uuid.UUID(membership["id"]))
    assert kept["status"] == "cancelled" and kept["price_cents"] == 15000
    # The same person may register again after erasure.
    await _register(svc)


# -- people of an organisation

async def test_organisation_people(svc: Membership) -> None:
    org = await _register(svc, ORGANISATION)
    headers = svc.as_member(org["id"])
    added = await svc.client.post(f"/v1/members/{org['id']}/people",
                                  json={"full_name": "Anna Rossi", "email": "anna@gavi.example.org"},
                                  headers=headers)
    assert added.status_code == 201
    people = (await svc.client.get(f"/v1/members/{org['id']}/people", headers=headers)).json()
    assert [p["full_name"] for p in people["items"]] == ["Anna Rossi"]
    removed = await svc.client.delete(f"/v1/members/{org['id']}/people/{added.json()['id']}",
                                      headers=headers)
    assert removed.status_code == 204
    again = await svc.client.delete(f"/v1/members/{org['id']}/people/{added.json()['id']}",
                                    headers=headers)
    assert again.status_code == 404
    person = await _register(svc)
    refused = await svc.client.post(f"/v1/members/{person['id']}/people",
                                    json={"full_name": "X Y", "email": "x@example.org"},
                                    headers=svc.as_member(person["id"]))
    assert refused.status_code == 422 and _error(refused)["code"] == "not_an_organisation"


# -- plans

async def test_plans_are_managed_by_staff(svc: Membership) -> None:
    member = await _register(svc)
    refused = await svc.client.post("/v1/plans", json=MONTHLY, headers=svc.as_member(member["id"]))
    assert refused.status_code == 403
    plan = await _plan(svc)
    assert plan["resource_kinds"] == ["hot_desk", "meeting_room"]
    duplicate = await svc.client.post("/v1/plans", json=MONTHLY, headers=svc.token())
    assert duplicate.status_code == 409 and _error(duplicate)["field"] == "code"
    listed = await svc.client.get("/v1/plans", headers=svc.as_member(member["id"]))
    assert [p["code"] for p in listed.json()["items"]] == ["monthly"]


async def test_plan_codes_are_taken_in_either_case_and_kept_lower_case(svc: Membership) -> None:
    created = await svc.client.post("/v1/plans", json={**MONTHLY, "code": "FLEX-10"},
                                    headers=svc.token())
    assert created.status_code == 201 and created.json()["code"] == "flex-10"
    again = await svc.client.post("/v1/plans", json={**MONTHLY, "code": "flex-10"},
                                  headers=svc.token())
    assert again.status_code == 409 and _error(again)["field"] == "code"
    member = await _register(svc)
    bought = await svc.client.post(f"/v1/members/{member['id']}/memberships",
                                   json={"plan_code": "Flex-10", "starts_on": "2027-02-01"},
                                   headers=svc.token())
    assert bought.status_code == 201 and bought.json()["plan_code"] == "flex-10"


@pytest.mark.parametrize(("change", "field"), [
    ({"kind": "carnet"}, "days"),
    ({"days": 10}, "days"),
    ({"price_cents": -1}, "price_cents"),
    ({"resource_kinds": []}, "resource_kinds"),
    ({"resource_kinds": ["sofa"]}, "resource_kinds.0"),
    ({"resource_kinds": ["hot_desk", "hot_desk"]}, "resource_kinds"),
    ({"code": "Bad Code!"}, "code"),
])
async def test_invalid_plans_are_422(svc: Membership, change: dict, field: str) -> None:
    response = await svc.client.post("/v1/plans", json={**MONTHLY, **change}, headers=svc.token())
    assert response.status_code == 422, response.text
    error = _error(response)
    assert error["field"] == field or field in error["message"]


async def test_a_retired_plan_takes_no_new_memberships(svc: Membership) -> None:
    await _plan(svc)
    member = await _register(svc)
    retired = await svc.client.post("/v1/plans/monthly/retire", headers=svc.token())
    assert retired.status_code == 200 and retired.json()["retired"] is True
    response = await svc.client.post(f"/v1/members/{member['id']}/memberships",
                                     json={"plan_code": "monthly", "starts_on": "2027-02-01"},
                                     headers=svc.token())
    assert response.status_code == 422 and _error(response)["code"] == "plan_retired"
    assert (await svc.client.post("/v1/plans/nope/retire", headers=svc.token())).status_code == 404


# -- memberships

async def test_buying_a_membership(svc: Membership) -> None:
    await _plan(svc)
    member = await _register(svc)
    membership = await _membership(svc, member["id"])
    assert membership["status"] == "active"
    assert (membership["period_start"], membership["period_end"]) == ("2027-01-31", "2027-02-28")
    second = await svc.client.post(f"/v1/members/{member['id']}/memberships",
                                   json={"plan_code": "monthly", "starts_on": "2027-03-01"},
                                   headers=svc.token())
    assert second.status_code == 409 and _error(second)["code"] == "live_membership_exists"
    listed = await svc.client.get(f"/v1/members/{member['id']}/memberships",
                                  headers=svc.as_member(member["id"]))
    assert [m["id"] for m in listed.json()["items"]] == [membership["id"]]


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"plan_code": "monthly", "starts_on": "2027-01-30"}, 422, "starts_on"),
    ({"plan_code": "nope", "starts_on": "2027-02-01"}, 422, "plan_code"),
    ({"plan_code": "monthly", "starts_on": "31/01/2027"}, 422, "starts_on"),
])
async def test_refused_purchases(svc: Membership, body: dict, status: int, field: str) -> None:
    await _plan(svc)
    member = await _register(svc)
    response = await svc.client.post(f"/v1/members/{member['id']}/memberships", json=body,
                                     headers=svc.token())
    assert response.status_code == status and _error(response)["field"] == field
    assert await svc.runtime.db.fetchval("SELECT count(*) FROM memberships") == 0


async def test_lifecycle_and_who_may_do_what(svc: Membership) -> None:
    await _plan(svc)
    member = await _register(svc)
    membership = await _membership(svc, member["id"])
    base = f"/v1/memberships/{membership['id']}"
    own = svc.as_member(member["id"])
    stranger = svc.as_member(str(uuid.uuid4()))
    assert (await svc.client.get(base, headers=stranger)).status_code == 403
    assert (await svc.client.post(f"{base}/suspend", json={"reason": "conduct"}, headers=own)).status_code == 403
    no_reason = await svc.client.post(f"{base}/suspend", json={}, headers=svc.token())
    assert no_reason.status_code == 422 and _error(no_reason)["field"] == "reason"
    suspended = await svc.client.post(f"{base}/suspend", json={"reason": "non_payment"},
                                      headers=svc.token())
    assert suspended.json()["status"] == "suspended"
    twice = await svc.client.post(f"{base}/suspend", json={"reason": "other"}, headers=svc.token())
    assert twice.status_code == 409 and _error(twice)["code"] == "invalid_transition"
    renewed = await svc.client.post(f"{base}/renew", headers=own)
    assert renewed.json()["period_end"] == "2027-03-31"  # from 1 March, the day before 1 April
    assert renewed.json()["status"] == "suspended"
    reinstated = await svc.client.post(f"{base}/reinstate", json={"reason": "request"},
                                       headers=svc.token())
    assert reinstated.json()["status"] == "active"
    cancelled = await svc.client.post(f"{base}/cancel", headers=own)
    assert cancelled.json()["status"] == "cancelled"
    assert (await svc.client.post(f"{base}/renew", headers=own)).status_code == 409
    missing = await svc.client.post(f"/v1/memberships/{uuid.uuid4()}/renew", headers=svc.token())
    assert missing.status_code == 404
