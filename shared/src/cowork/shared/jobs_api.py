"""The operators' view of a service's scheduled jobs: which are parked as failed, and retrying
one once its cause is fixed (`GET /v1/jobs?status=failed`, `POST /v1/jobs/{id}/retry`).

Written once here and mounted by the runtime on every service that has scheduled jobs
(`ServiceRuntime.create_app`). A job's payload is not shown (it may name a person); its key
is the id of what it is about.
"""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field

from cowork.shared.api import (
    CursorParam,
    Limit,
    Page,
    Representation,
    SearchText,
    decode_cursor,
    encode_cursor,
    error_responses,
    v1_router,
)
from cowork.shared.auth import OperatorCaller, require_roles
from cowork.shared.http import conflict, invalid, not_found
from cowork.shared.scheduler import retry_failed

JobStatus = Literal["failed", "pending", "done", "cancelled"]

# Each status as a condition on the row: one status per job, whatever its history.
_STATUS_WHERE: dict[str, str] = {
    "failed": "failed_at IS NOT NULL AND done_at IS NULL AND NOT cancelled",
    "pending": "failed_at IS NULL AND done_at IS NULL AND NOT cancelled",
    "done": "done_at IS NOT NULL",
    "cancelled": "cancelled AND done_at IS NULL",
}


class JobView(Representation):
    id: int
    kind: str = Field(description="what the job does, e.g. vouchers.close")
    key: str = Field(description="what it is about (an id)")
    status: JobStatus
    due_at: datetime
    attempts: int
    failures: int = Field(description="failures that counted towards parking (not the "
                                      "database's or a lost race)")
    failed_at: datetime | None = Field(description="when it was parked as failed")
    last_error: str | None = Field(description="the exception's class and a short reason")
    done_at: datetime | None


def _runtime(request: Request) -> Any:
    """The service's runtime (`db`, `clock`, `scheduler`): not `service.Runtime`, which
    imports this module to mount it."""
    return request.app.state.runtime


JobsRuntime = Annotated[Any, Depends(_runtime)]


def _status_of(row: asyncpg.Record) -> str:
    if row["done_at"] is not None:
        return "done"
    if row["cancelled"]:
        return "cancelled"
    return "failed" if row["failed_at"] is not None else "pending"


def job_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "key": row["key"], "status": _status_of(row),
            "due_at": row["due_at"], "attempts": row["attempts"], "failures": row["failures"],
            "failed_at": row["failed_at"], "last_error": row["last_error"],
            "done_at": row["done_at"]}


_COLUMNS = "id, kind, key, due_at, attempts, failures, failed_at, last_error, done_at, cancelled"


def _after(cursor: str | None) -> int:
    if cursor is None:
        return 0
    (position,) = decode_cursor(cursor, 1)
    if not position.isascii() or not position.isdigit() or int(position) >= 2**63:
        raise invalid("cursor", "not a cursor this API gave out")
    return int(position)


def jobs_router() -> APIRouter:
    router = v1_router(tags=["jobs"])

    @router.get("/jobs", response_model=Page[JobView], responses=error_responses(403, 422))
    async def jobs(runtime: JobsRuntime, caller: OperatorCaller,
                   status: Annotated[JobStatus, Query(description="failed: parked, waiting "
                                                                  "for an operator")] = "failed",
                   kind: Annotated[SearchText | None, Query(max_length=100)] = None,
                   cursor: CursorParam = None, limit: Limit = 100) -> dict[str, Any]:
        """The service's scheduled jobs by status (operator): `status=failed` lists the jobs
        parked after failing for a reason that is not transient, oldest first."""
        require_roles(caller, "operator")
        rows = await runtime.db.fetch(
            f"SELECT {_COLUMNS} FROM scheduled_jobs WHERE {_STATUS_WHERE[status]} "  # noqa: S608 - from code
            "AND ($1::text IS NULL OR kind = $1) AND id > $2 ORDER BY id LIMIT $3",
            kind, _after(cursor), limit + 1)
        more = len(rows) > limit
        return {"items": [job_view(r) for r in rows[:limit]],
                "next_cursor": encode_cursor(rows[limit - 1]["id"]) if more else None}

    @router.post("/jobs/{job_id}/retry", response_model=JobView,
                 responses=error_responses(403, 404, 409))
    async def retry_job(job_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                        runtime: JobsRuntime, caller: OperatorCaller) -> dict[str, Any]:
        """Retry a job parked as failed (operator), once its cause is fixed: due now, with
        its full number of attempts again. 409 `job_not_failed` for a job that is not parked."""
        require_roles(caller, "operator")
        async with runtime.db.acquire() as conn:
            retried = await retry_failed(conn, job_id, runtime.clock())
            if retried is None:
                raise not_found("job", job_id)
            if not retried:
                raise conflict("job_not_failed", "only a job parked as failed is retried")
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM scheduled_jobs WHERE id = $1",  # noqa: S608 - from code
                                      job_id)
        if runtime.scheduler is not None:
            runtime.scheduler.wake()
        return job_view(row)

    return router
