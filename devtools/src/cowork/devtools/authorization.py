"""An authorization matrix as data: every operation x every role -> the expected status.

Each cell gets fresh targets (`prepare`), so an expected status never depends on what the
cells before it changed. `member_self` is a member token for the cell's own member,
`member_other` one for a stranger; the other roles carry no member id.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from cowork.shared.auth import issue_token
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

ROLES = ("anonymous", "member_self", "member_other", "staff", "officer", "operator", "partner")

Context = dict[str, Any]
Headers = Callable[[str, Context], dict[str, str]]


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str                                     # formatted with the cell's context
    expected: Mapping[str, int]                   # role -> status
    body: Callable[[Context], Any] | None = None
    params: Callable[[Context], dict[str, str]] | None = None
    prepare: Callable[[], Awaitable[Context]] | None = None
    notes: str = field(default="")


def expect(*, anonymous: int = 401, member_self: int, member_other: int = 403, staff: int,
           officer: int = 403, operator: int = 403, partner: int = 403) -> dict[str, int]:
    return {"anonymous": anonymous, "member_self": member_self, "member_other": member_other,
            "staff": staff, "officer": officer, "operator": operator, "partner": partner}


# Open to everyone (docs/api/README.md), so they have no row.
PROBES = frozenset({"healthz", "readyz", "prometheus_metrics", "kafka_health"})


# The operators' jobs API (cowork.shared.jobs_api), which the runtime mounts on every service
# with scheduled jobs: each such service's matrix includes these rows. An operator retrying a
# job that does not exist gets past the role check to the 404.
JOBS_OPERATIONS = [
    Operation("jobs", "GET", "/v1/jobs",
              expect(member_self=403, staff=403, officer=403, operator=200),
              params=lambda ctx: {"status": "failed"}),
    Operation("retry_job", "POST", "/v1/jobs/999999999/retry",
              expect(member_self=403, staff=403, officer=403, operator=404)),
]


def local_token(role: str, sub: str) -> str:
    """A token signed with the local stack's secret, as the services under test accept."""
    return issue_token(LOCAL_DEV_JWT_SECRET, sub=sub, roles=[role])


def operations_without_a_row(app: FastAPI, operations: list[Operation]) -> set[str]:
    """Operation ids the service documents (probes aside) that the matrix does not cover."""
    documented = {op["operationId"] for item in app.openapi()["paths"].values()
                  for op in item.values()}
    return documented - PROBES - {op.name for op in operations}


def role_headers(token: Callable[[str, str], str] = local_token) -> Headers:
    """Headers for a role, given `token(role, sub)` for the service's secret."""

    def headers(role: str, ctx: Context) -> dict[str, str]:
        if role == "anonymous":
            return {}
        if role == "member_self":
            return {"Authorization": f"Bearer {token('member', str(ctx['member']))}"}
        if role == "member_other":
            return {"Authorization": f"Bearer {token('member', str(uuid.uuid4()))}"}
        return {"Authorization": f"Bearer {token(role, f'{role}-1')}"}

    return headers


async def run_matrix(client: httpx.AsyncClient, operations: list[Operation], headers: Headers,
                     default_prepare: Callable[[], Awaitable[Context]]
                     ) -> list[tuple[str, str, int, int, str]]:
    """Every cell; returns the mismatches as (operation, role, expected, got, body)."""
    mismatches = []
    for op in operations:
        for role in ROLES:
            ctx = await (op.prepare or default_prepare)()
            response = await client.request(
                op.method, op.path.format(**ctx), headers=headers(role, ctx),
                json=op.body(ctx) if op.body else None,
                params=op.params(ctx) if op.params else None)
            if response.status_code != op.expected[role]:
                mismatches.append((op.name, role, op.expected[role], response.status_code,
                                   response.text[:200]))
    return mismatches
