"""Staff find members by name, e-mail or tax code, paginated, each with their memberships
(issue 12)."""

from __future__ import annotations

import pytest
from membership_support import MONTHLY, ORGANISATION, PERSON, Membership
from stdnum.it import codicefiscale

pytestmark = [pytest.mark.infra]


def _person(name: str, email: str, stem: str) -> dict:
    """A person with a valid codice fiscale built on `stem` (15 characters)."""
    return {**PERSON, "full_name": name, "email": email,
            "tax_code": stem + codicefiscale.calc_check_digit(stem)}


PEOPLE = [
    _person("Giulia Bianchi", "giulia@example.org", "BNCGLI90A41F965"),
    _person("Marco Bianchi", "mb@example.org", "BNCMRC85B12F965"),
    _person("Anna Rossi", "anna.bianchi.rossi@example.org", "RSSNNA92C45F965"),
    _person("Paolo Neri", "paolo@example.org", "NREPLA70D10F965"),
]


async def _registered(svc: Membership) -> dict[str, dict]:
    out = {}
    for body in [*PEOPLE, ORGANISATION]:
        response = await svc.client.post("/v1/members", json=body, headers=svc.token())
        assert response.status_code == 201, response.text
        out[body["full_name"]] = response.json()
    return out


async def _names(svc: Membership, query: str) -> list[str]:
    response = await svc.client.get(f"/v1/members?{query}", headers=svc.token())
    assert response.status_code == 200, response.text
    return [m["full_name"] for m in response.json()["items"]]


async def test_search_by_name_email_or_tax_code_in_any_order(svc: Membership) -> None:
    members = await _registered(svc)
    assert await _names(svc, "q=bianchi") == ["Anna Rossi", "Giulia Bianchi", "Marco Bianchi"]
    assert await _names(svc, "q=Bianchi%20Marco") == ["Marco Bianchi"]
    assert await _names(svc, "q=nrepla70") == ["Paolo Neri"]
    assert await _names(svc, "q=02114050061") == ["Cooperativa Gavi Digitale"]
    assert await _names(svc, "q=%25") == [], "a % is a character, not a wildcard"
    assert await _names(svc, "q=nobody") == []
    assert await _names(svc, "q=") == await _names(svc, ""), "a blank search box lists everyone"
    await svc.client.delete(f"/v1/members/{members['Paolo Neri']['id']}", headers=svc.token())
    assert await _names(svc, "q=paolo") == [], "erased members are not found"


async def test_search_pages_and_shows_memberships(svc: Membership) -> None:
    members = await _registered(svc)
    await svc.client.post("/v1/plans", json=MONTHLY, headers=svc.token())
    giulia = members["Giulia Bianchi"]["id"]
    bought = await svc.client.post(f"/v1/members/{giulia}/memberships",
                                   json={"plan_code": "monthly", "starts_on": "2027-02-01"},
                                   headers=svc.token())
    assert bought.status_code == 201, bought.text
    first = (await svc.client.get("/v1/members?limit=2", headers=svc.token())).json()
    assert [m["full_name"] for m in first["items"]] == ["Anna Rossi", "Cooperativa Gavi Digitale"]
    second = (await svc.client.get(f"/v1/members?limit=2&cursor={first['next_cursor']}",
                                   headers=svc.token())).json()
    assert [m["full_name"] for m in second["items"]] == ["Giulia Bianchi", "Marco Bianchi"]
    third = (await svc.client.get(f"/v1/members?limit=2&cursor={second['next_cursor']}",
                                  headers=svc.token())).json()
    assert [m["full_name"] for m in third["items"]] == ["Paolo Neri"]
    assert third["next_cursor"] is None
    [with_plan] = [m for m in second["items"] if m["id"] == giulia]
    assert [(s["plan_code"], s["status"]) for s in with_plan["memberships"]] == [
        ("monthly", "active")]
    assert second["items"][1]["memberships"] == []


async def test_only_staff_search_and_input_is_bounded(svc: Membership) -> None:
    members = await _registered(svc)
    member = svc.as_member(members["Giulia Bianchi"]["id"])
    assert (await svc.client.get("/v1/members?q=rossi", headers=member)).status_code == 403
    assert (await svc.client.get("/v1/members?q=rossi")).status_code == 401
    for query in ("q=" + "x" * 201, "limit=0", "limit=101", "cursor=not-a-uuid", "q=a%00b"):
        response = await svc.client.get(f"/v1/members?{query}", headers=svc.token())
        assert response.status_code == 422, (query, response.text)
