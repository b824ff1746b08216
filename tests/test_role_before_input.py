"""A route only some roles may call answers anyone else 403 before it validates the query or
the body (docs/service-conventions.md, Auth; issue 20): a 422 would tell a member what a staff
or officer endpoint checks. Only two routes did (`GET /v1/members`, `POST /v1/webhooks`); a
member probing the desk's, the officers' and the operators' routes got 422s naming their
fields (attack-identity). No database is needed: the role is checked before anything else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from cowork.shared.auth import issue_token
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

sys.path.insert(0, str(Path(__file__).parent))
from test_every_endpoint_needs_a_token import APPS

ID = "5f0c6a9e-1b2c-4d3e-8f70-0a1b2c3d4e5f"
BAD: dict[str, Any] = {"__bogus__": [1]}
BAD_QUERY = {"cursor": "!!", "status": "x", "year": "x", "space_id": "x", "on": "x",
             "from": "x", "to": "x", "kind": "\x00"}

# (service, method, path) of routes only staff, officers, operators or partners may call.
ROLE_ONLY = [
    ("membership", "POST", "/v1/plans"),
    ("membership", "POST", "/v1/memberships/{id}/suspend"),
    ("membership", "POST", "/v1/memberships/{id}/reinstate"),
    ("membership", "GET", "/v1/jobs"),
    ("booking", "POST", "/v1/spaces"),
    ("booking", "PATCH", "/v1/spaces/{id}"),
    ("booking", "POST", "/v1/spaces/{id}/closures"),
    ("booking", "PATCH", "/v1/resources/{id}"),
    ("booking", "POST", "/v1/spaces/{id}/resources"),
    ("booking", "GET", "/v1/reports/occupancy"),
    ("booking", "GET", "/v1/jobs"),
    ("notifications", "GET", "/v1/jobs"),
    ("vouchers", "POST", "/v1/accredited-spaces"),
    ("vouchers", "GET", "/v1/accredited-spaces"),
    ("vouchers", "GET", "/v1/programmes/{id}/applications"),
    ("vouchers", "GET", "/v1/programmes/{id}/ledger"),
    ("vouchers", "POST", "/v1/programmes"),
    ("vouchers", "GET", "/v1/programmes/{id}/statements/2027-01"),
    ("vouchers", "GET", "/v1/programmes/{id}/beneficiaries"),
    ("vouchers", "GET", "/v1/transparency"),
    ("vouchers", "GET", "/v1/de-minimis"),
    ("vouchers", "POST", "/v1/vouchers/{id}/revoke"),
    ("vouchers", "GET", "/v1/jobs"),
]


@pytest.mark.parametrize(("service", "method", "path"), ROLE_ONLY)
async def test_a_member_gets_403_whatever_the_input(service: str, method: str,
                                                    path: str) -> None:
    app = APPS[service]()
    token = issue_token(LOCAL_DEV_JWT_SECRET, sub=ID, roles=["member"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://svc") as client:
        response = await client.request(
            method, path.replace("{id}", ID), params=BAD_QUERY,
            json=BAD if method in ("POST", "PATCH", "PUT") else None,
            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403, response.text
