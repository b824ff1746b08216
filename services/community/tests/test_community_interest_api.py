"""The expression-of-interest form and the council's summary, through the HTTP API on real
PostgreSQL: what is stored, what is announced (never the address), the summary as JSON, CSV
and PNG, who may read it, and bad input answered 422 naming the field."""

from __future__ import annotations

import csv
import io
import struct

import pytest
from interest_support import FORM, OFFICER, STAFF, Community, community, new_address

from cowork.devtools.authorization import ROLES, Operation, expect, role_headers, run_matrix

pytestmark = [pytest.mark.infra]
__all__ = ["community"]


async def test_a_citizen_expresses_interest_without_a_token(community: Community) -> None:
    email = new_address()
    interest_id = await community.interest(email=email)
    events = await community.outbox("cowork.community.interest.expressed.v1")
    assert events[-1] == {"interest_id": interest_id, "who": "partita_iva",
                          "desk_kinds": ["hot_desk"], "weekdays": ["mon", "wed"],
                          "time_bands": ["morning"], "would_help_run": True}
    stored = await community.runtime.db.fetchval(
        "SELECT email FROM interest_expressions WHERE id = $1::uuid", interest_id)
    assert stored == email.lower()  # found whatever capitals an erasure request uses


async def test_the_summary_counts_by_kind_weekday_and_band(community: Community) -> None:
    await community.interest()  # hot desk, mon+wed morning, weekly, helps
    await community.interest(who="association", desk_kinds=["hot_desk", "meeting_room"],
                             weekdays=["mon"], time_bands=["morning", "evening"],
                             frequency="monthly", would_help_run=False)
    await community.interest(who="citizen", frequency="occasional", would_help_run=False)
    summary = await community.summary()
    assert summary["total_respondents"] == 3
    assert summary["by_who"] == {"citizen": 1, "professional": 0, "partita_iva": 1,
                                 "association": 1, "company": 0}
    assert summary["would_help_run"] == {"count": 1, "share": pytest.approx(1 / 3, abs=1e-4)}
    cells = {(c["desk_kind"], c["weekday"], c["time_band"]): c["respondents"]
             for c in summary["demand"]}
    assert cells["hot_desk", "mon", "morning"] == 3
    assert cells["hot_desk", "wed", "morning"] == 2
    assert cells["meeting_room", "mon", "evening"] == 1
    assert cells["fixed_desk", "mon", "morning"] == 0
    # Monday morning: 1 (weekly) + 0.25 (monthly) + 0.1 (occasional) = 1.35 -> 2 desks
    desks = summary["implied_desks"]
    assert (desks["desks"], desks["peak_weekday"], desks["peak_time_band"]) == (2, "mon",
                                                                                "morning")
    assert desks["expected_desk_users_at_peak"] == pytest.approx(1.35)


async def test_the_summary_of_a_period(community: Community) -> None:
    await community.interest()
    community.clock.advance(days=31)
    await community.interest(who="company")
    april = await community.summary(**{"from": "2027-04-01", "to": "2027-04-30"})
    assert april["total_respondents"] == 1 and april["by_who"]["company"] == 1
    march = await community.summary(**{"from": "2027-03-01", "to": "2027-03-31"})
    assert march["total_respondents"] == 1 and march["by_who"]["partita_iva"] == 1
    backwards = await community.client.get("/v1/interest/summary", headers=OFFICER,
                                           params={"from": "2027-04-01", "to": "2027-03-01"})
    assert backwards.status_code == 422 and backwards.json()["error"]["field"] == "to"


async def test_the_summary_as_csv(community: Community) -> None:
    await community.interest()
    response = await community.client.get("/v1/interest/summary",
                                          headers={**STAFF, "Accept": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["X-Implied-Desks"] == "1"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["desk_kind", "weekday", "time_band", "respondents"]
    assert len(rows) == 1 + 5 * 7 * 3
    assert ["hot_desk", "mon", "morning", "1"] in rows
    assert ["fixed_desk", "mon", "morning", "0"] in rows


async def test_the_summary_as_a_png_chart(community: Community) -> None:
    for _ in range(3):
        await community.interest()
    response = await community.client.get("/v1/interest/summary.png", headers=OFFICER)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    png = response.content
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert 300 <= width <= 2000 and 200 <= height <= 2000
    assert 5_000 < len(png) < 500_000


BAD_FORMS = [
    ({"who": "alien"}, "who"),
    ({"residence_istat": "6114"}, "residence_istat"),
    ({"desk_kinds": []}, "desk_kinds"),
    ({"desk_kinds": ["hot_desk", "hot_desk"]}, "desk_kinds"),
    ({"desk_kinds": ["sofa"]}, "desk_kinds.0"),
    ({"weekdays": ["mon", "funday"]}, "weekdays.1"),
    ({"weekdays": ["mon"] * 8}, "weekdays"),
    ({"time_bands": ["night"]}, "time_bands.0"),
    ({"frequency": "hourly"}, "frequency"),
    ({"would_help_run": "yes"}, "would_help_run"),
    ({"would_help_run": 1}, "would_help_run"),
    ({"email": "not an address"}, "email"),
    ({"email": "a\x00b@example.org"}, "email"),
    ({"email": "x" * 250 + "@example.org"}, "email"),
    ({"consents": {"privacy": False}}, "consents.privacy"),
    ({"consents": {}}, "consents.privacy"),
    ({"extra": 1}, "extra"),
]


@pytest.mark.parametrize(("change", "field"), BAD_FORMS, ids=[f for _, f in BAD_FORMS])
async def test_bad_forms_are_refused_naming_the_field(community: Community, change: dict,
                                                      field: str) -> None:
    response = await community.client.post("/v1/interest", json={**FORM, **change})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    fields = {error.get("field")} | {p.get("field") for p in error.get("problems") or []}
    assert field in fields, error
    assert await community.runtime.db.fetchval("SELECT count(*) FROM interest_expressions") == 0


async def test_missing_fields_are_named(community: Community) -> None:
    body = {k: v for k, v in FORM.items() if k not in ("who", "weekdays")}
    response = await community.client.post("/v1/interest", json=body)
    assert response.status_code == 422
    problems = {p["field"] for p in response.json()["error"]["problems"]}
    assert {"who", "weekdays"} <= problems


async def test_who_may_do_what(community: Community) -> None:
    """The form and the erasure requests are public; the summary is the council's."""
    officer_or_staff = expect(member_self=403, staff=200, officer=200)
    public_201 = {role: 201 for role in ROLES}
    public_202 = {role: 202 for role in ROLES}
    operations = [
        Operation("express", "POST", "/v1/interest", public_201, body=lambda ctx: FORM),
        Operation("interest_summary", "GET", "/v1/interest/summary", officer_or_staff),
        Operation("interest_summary_chart", "GET", "/v1/interest/summary.png",
                  officer_or_staff),
        Operation("ask_for_erasure", "POST", "/v1/erasure-requests", public_202,
                  body=lambda ctx: {"email": new_address()}),
        Operation("erase_by_link", "POST", "/v1/erasure-requests/confirm",
                  {role: 404 for role in ROLES},
                  params=lambda ctx: {"token": "never-given-out-0123456789"}),
    ]

    async def context() -> dict[str, str]:
        return {"member": "00000000-0000-4000-8000-000000000001"}

    mismatches = await run_matrix(community.client, operations, role_headers(), context)
    assert mismatches == [], "\n".join(map(str, mismatches))
