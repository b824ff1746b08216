"""Never a 500 for a client's mistake: generated programmes and applications, valid and not,
each answered 201 or a 4xx in the error format — and nothing half-written (the ledger still
balances)."""

from __future__ import annotations

import base64
import json
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vouchers_support import MILAN_2013, OFFICER, Vouchers, member_token

pytestmark = [pytest.mark.infra]

ODD = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                st.text(max_size=12), st.sampled_from(["0001-01-01", "9999-12-31", "2027-02-30",
                                                       "a\x00b", "", "2027-03-01"]),
                st.lists(st.text(max_size=4), max_size=3))


def _generated(strategy: st.SearchStrategy[Any], examples: int) -> list[Any]:
    """Draw examples with hypothesis (deterministically) to replay against the async API."""
    drawn: list[Any] = []

    @settings(max_examples=examples, database=None, derandomize=True, deadline=None)
    @given(strategy)
    def draw(value: Any) -> None:
        drawn.append(value)

    draw()
    return drawn


FIELDS = [*sorted(MILAN_2013), "criteria", "kind_caps_cents", "rna_code", "extra"]
PROGRAMMES = st.dictionaries(st.sampled_from(FIELDS), ODD, max_size=4).map(
    lambda change: {**MILAN_2013, **change})
DECLARATIONS = st.dictionaries(st.sampled_from(["birth_date", "residence_istat", "status",
                                                "disability", "partita_iva_opened_on",
                                                "tax_code", "member_kind"]), ODD, max_size=4)


def _answered_well(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"]


async def test_generated_programmes_and_applications_never_get_a_500(svc: Vouchers) -> None:
    opened = []
    for body in _generated(PROGRAMMES, 60):
        response = await svc.client.post("/v1/programmes", json=body, headers=OFFICER)
        _answered_well(response)
        if response.status_code == 201:
            opened.append(response.json()["id"])
    assert opened, "some generated programmes are valid"
    for n, declarations in enumerate(_generated(DECLARATIONS, 60)):
        member_id = uuid4()
        response = await svc.client.post(
            f"/v1/programmes/{opened[n % len(opened)]}/applications",
            json={"member_id": str(member_id), "declarations": declarations},
            headers=member_token(member_id))
        _answered_well(response)
    for programme_id in opened:
        await svc.ledger_is_balanced(programme_id)


def _raw_cursor(key: Any) -> str:
    """A cursor as a client could forge one: any JSON, base64-encoded."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


MALFORMED_CURSORS = {
    "not base64": "zzz",
    "an id that is a number": _raw_cursor(["2027-03-01T09:00:00+00:00", 5]),
    "a time out of every range": _raw_cursor(["0001-01-01T00:00:00+01:00", str(uuid4())]),
    "a naive time": _raw_cursor(["2027-03-01T09:00:00", str(uuid4())]),
    "an object": _raw_cursor({"seq": 1}),
    "not ASCII": "caf%C3%A9",
}
LISTS = ["/v1/programmes", "/v1/applications?member_id={member}", "/v1/vouchers",
         "/v1/accredited-spaces", "/v1/programmes/{programme}/applications",
         "/v1/programmes/{programme}/ledger"]


@pytest.mark.parametrize("cursor", list(MALFORMED_CURSORS.values()), ids=list(MALFORMED_CURSORS))
async def test_a_malformed_cursor_is_a_422_naming_it_on_every_list(svc: Vouchers,
                                                                   cursor: str) -> None:
    """A cursor is opaque, but a client may send anything as one: never a 500."""
    programme = await svc.programme()
    for path in LISTS:
        url = path.format(member=uuid4(), programme=programme["id"])
        response = await svc.client.get(f"{url}{'&' if '?' in url else '?'}cursor={cursor}",
                                        headers=OFFICER)
        assert response.status_code == 422, (path, response.status_code, response.text)
        assert response.json()["error"]["field"] == "cursor", (path, response.text)


FORGED_CURSORS = {
    "a number where text was given": _raw_cursor(["2027-01-01T00:00:00+00:00", 5]),
    "5,000 nested lists": base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode(),
    "nested lists as deep as fit": base64.urlsafe_b64encode(b"[" * 187 + b"]" * 187).decode(),
    "null": _raw_cursor(None),
    "one part too many": _raw_cursor(["2027-01-01T00:00:00+00:00", str(uuid4()), "1"]),
    "one part too few": _raw_cursor(["2027-01-01T00:00:00+00:00"]),
    "an empty list": _raw_cursor([]),
    "a digit that is not ASCII": _raw_cursor(["\u00b2"]),
}


@pytest.mark.parametrize("cursor", list(FORGED_CURSORS.values()), ids=list(FORGED_CURSORS))
async def test_a_forged_cursor_is_a_422_on_every_list(svc: Vouchers, cursor: str) -> None:
    """Issue 19 case 11: a cursor that decodes to well-formed JSON of the wrong shape (a
    number, deep nesting, null, the wrong length) is a 422, never a 500."""
    programme = await svc.programme()
    for path in LISTS:
        url = path.format(member=uuid4(), programme=programme["id"])
        response = await svc.client.get(f"{url}{'&' if '?' in url else '?'}cursor={cursor}",
                                        headers=OFFICER)
        assert response.status_code == 422, (path, response.status_code, response.text)
        assert response.json()["error"]["field"] in ("cursor", "query.cursor"), (path,
                                                                                 response.text)


@pytest.mark.parametrize("period", ["2027-03%0A", "2027-03%0D", "%0A2027-03", "2027-03%20"])
async def test_a_statement_period_with_a_trailing_newline_is_a_422(svc: Vouchers,
                                                                   period: str) -> None:
    """Issue 19 case 11: `$` matches before a final newline; the period must be exactly
    YYYY-MM, read or issued."""
    programme = await svc.programme()
    url = f"/v1/programmes/{programme['id']}/statements/{period}"
    for response in (await svc.client.get(url, headers=OFFICER),
                     await svc.client.post(f"{url}/issue", headers=OFFICER)):
        assert response.status_code == 422, (period, response.status_code, response.text)
        assert response.json()["error"]["field"] == "period", response.text


@pytest.mark.parametrize(("change", "field"), [
    ({"min_desks": "2"}, "min_desks"), ({"min_desks": True}, "min_desks"),
    ({"min_desks": 2.0}, "min_desks"), ({"max_duration_months": "12"}, "max_duration_months"),
])
async def test_programme_json_types_are_not_coerced(svc: Vouchers, change: dict[str, Any],
                                                    field: str) -> None:
    """Issue 20: a string or a boolean where a number belongs is a 422, not a guess."""
    response = await svc.client.post("/v1/programmes", json={**MILAN_2013, **change},
                                     headers=OFFICER)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
