"""What the OpenAPI document promises is what a client gets: every JSON answer of the 21
routes, walked field by field, has each field documented (representations still send a field
they do not declare, so a forgotten one would go unnoticed) and each required field present."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from vouchers_support import MILAN_2013, OFFICER, Vouchers, member_token

pytestmark = [pytest.mark.infra]

PUGLIA = {**MILAN_2013, "name": "Puglia", "coverage_pct": 100,
          "cap_per_beneficiary_cents": 300_000, "cap_per_year_cents": None,
          "eligibility": {"min_age": 18, "requires_partita_iva": True,
                          "partita_iva_grace_days": 30}}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def undocumented(value: Any, schema: dict[str, Any], components: dict[str, Any],
                 at: str = "") -> list[str]:
    """Where `value` strays from `schema`: fields not declared, required fields missing."""
    schema = _resolve(schema, components)
    if "anyOf" in schema:
        if value is None:
            return []
        options = [_resolve(s, components) for s in schema["anyOf"]]
        return min((undocumented(value, o, components, at) for o in options
                    if o.get("type") != "null"), key=len)
    if isinstance(value, list) and "items" in schema:
        return [p for n, item in enumerate(value)
                for p in undocumented(item, schema["items"], components, f"{at}[{n}]")]
    if not isinstance(value, dict) or "properties" not in schema:
        return []
    problems = [f"{at}.{name} is required" for name in schema.get("required", [])
                if name not in value]
    for name, item in value.items():
        if name not in schema["properties"]:
            problems.append(f"{at}.{name} is not documented")
        else:
            problems += undocumented(item, schema["properties"][name], components,
                                     f"{at}.{name}")
    return problems


async def _answers(svc: Vouchers) -> list[tuple[str, str, Any]]:
    """(method, path template, response) for every route, in a month of a programme's life."""
    calls: list[tuple[str, str, Any]] = []

    async def call(method: str, template: str, url: str, **kwargs: Any) -> Any:
        response = await svc.client.request(method, url, headers=kwargs.pop("headers", OFFICER),
                                            **kwargs)
        assert response.status_code < 300, (method, url, response.text)
        calls.append((method, template, response))
        return response.json()

    p = "/v1/programmes/{programme_id}"
    programme = await call("POST", "/v1/programmes", "/v1/programmes", json={
        **MILAN_2013, "kind_caps_cents": {"hot_desk": 100_000}, "rna_code": "RNA-1"})
    pid = programme["id"]
    space_id = await svc.space()
    await call("POST", "/v1/accredited-spaces", "/v1/accredited-spaces",
               json={"space_id": str(uuid4()), "from": "2027-03-01", "reason": "new"})
    member_id, voucher_id = await svc.granted(pid, tax_code="RSSMRA90E17F205X")
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=2_000))
    puglia = await call("POST", "/v1/programmes", "/v1/programmes", json=PUGLIA)
    newcomer = await svc.member()
    conditional = await call("POST", f"{p}/applications", f"/v1/programmes/{puglia['id']}"
                             "/applications", json={"member_id": str(newcomer), "declarations":
                                                    {"birth_date": "1990-05-17"}},
                             headers=member_token(newcomer))
    await call("POST", "/v1/vouchers/{voucher_id}/partita-iva",
               f"/v1/vouchers/{conditional['voucher_id']}/partita-iva",
               json={"opened_on": "2027-03-01"}, headers=member_token(newcomer))
    for template in ("/v1/programmes", p, f"{p}/ledger", f"{p}/applications",
                     f"{p}/beneficiaries?year=2027", f"{p}/statements/2027-03"):
        await call("GET", template.split("?")[0], template.format(programme_id=pid))
    await call("POST", f"{p}/statements/{{period}}/issue", f"/v1/programmes/{pid}/statements/"
               "2027-03/issue")
    own = member_token(member_id)
    await call("GET", "/v1/applications", "/v1/applications", headers=own)
    application_id = (await call("GET", "/v1/vouchers", "/v1/vouchers", headers=own)
                      )["items"][0]["application_id"]
    await call("GET", "/v1/applications/{application_id}",
               f"/v1/applications/{application_id}", headers=own)
    await call("GET", "/v1/vouchers/{voucher_id}", f"/v1/vouchers/{voucher_id}", headers=own)
    await call("GET", "/v1/transparency", "/v1/transparency?year=2027")
    await call("GET", "/v1/de-minimis", "/v1/de-minimis?on=2027-04-01&tax_code=RSSMRA90E17F205X")
    await call("GET", "/v1/accredited-spaces", "/v1/accredited-spaces")
    await call("POST", "/v1/vouchers/{voucher_id}/revoke", f"/v1/vouchers/{voucher_id}/revoke")
    await call("POST", f"{p}/close", f"/v1/programmes/{pid}/close")
    await call("DELETE", "/v1/accredited-spaces/{space_id}", f"/v1/accredited-spaces/{space_id}")
    return calls


async def test_every_answer_is_documented_field_by_field(svc: Vouchers) -> None:
    spec = (await svc.client.get("/openapi.json")).json()
    components = spec["components"]["schemas"]
    answered = await _answers(svc)
    for method, template, response in answered:
        template = template.replace("statements/2027-03", "statements/{period}")
        operation = spec["paths"][template][method.lower()]
        content = operation["responses"][str(response.status_code)]["content"]
        schema = content["application/json"]["schema"]
        problems = undocumented(response.json(), schema, components)
        assert not problems, (method, template, problems)
    routes = {(m, t) for m, t, _ in answered}
    assert len(routes) == 21, sorted(routes)
