"""Monthly statements: the redemptions and reversals of a month, frozen once issued."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Header, Response

from cowork.shared.api import error_responses, v1_router
from cowork.shared.auth import OfficerCaller, OfficerOrStaffCaller, require_roles
from cowork.shared.service import Runtime
from cowork.vouchers import commands, store
from cowork.vouchers.api.dependencies import InTx, checked_period, programme_or_404
from cowork.vouchers.api.schemas import StatementDocumentView, StatementIssueView
from cowork.vouchers.api.views import statement_issue_view

router = v1_router(tags=["statements"])

_DOCUMENT = {
    200: {"description": "The statement as canonical JSON, or CSV with `Accept: text/csv`; "
                         "`X-Statement-Status` (`draft` | `issued`), `X-Statement-SHA256`",
          "content": {"text/csv": {"schema": {"type": "string"}}}},
    **error_responses(403, 404, 422),
}


async def _document(conn: asyncpg.Connection, programme_id: UUID, period: str,
                    space_id: UUID | None) -> tuple[bytes, bytes, str, str]:
    """(JSON, CSV, SHA-256 of the JSON, status): the issued bytes, or a draft from the
    ledger; one space's lines are always rendered from the ledger."""
    issued = await store.issued_statement(conn, programme_id, period)
    status = "issued" if issued is not None else "draft"
    if issued is not None and space_id is None:
        return bytes(issued["json_bytes"]), bytes(issued["csv_bytes"]), issued["sha256"], status
    document = await commands.render_statement(conn, programme_id, period, space_id=space_id)
    return document.json_bytes, document.csv_bytes, document.sha256, status


@router.get("/programmes/{programme_id}/statements/{period}",
            response_model=StatementDocumentView, responses=_DOCUMENT)
async def statement(programme_id: UUID, period: str, runtime: Runtime, caller: OfficerOrStaffCaller,
                    accept: Annotated[str | None, Header()] = None,
                    space_id: UUID | None = None) -> Response:
    """JSON (canonical: sorted keys, lines by recorded time), or CSV with
    `Accept: text/csv`. Once issued, the frozen bytes; before, a draft from the ledger.
    With `space_id`: the same month's lines at one accredited space (a view rendered from
    the same ledger lines; the programme's statement is the document that is issued)."""
    require_roles(caller, "officer", "staff")
    checked_period(period)
    async with runtime.db.acquire() as conn:
        await programme_or_404(conn, programme_id)
        json_bytes, csv_bytes, sha256, status = await _document(conn, programme_id, period,
                                                                space_id)
    headers = {"X-Statement-Status": status, "X-Statement-SHA256": sha256,
               "ETag": f'"{sha256}"'}
    if accept and "text/csv" in accept:
        headers["Content-Disposition"] = (f'attachment; filename="statement-{programme_id}-'
                                          f'{period}.csv"')
        return Response(csv_bytes, media_type="text/csv; charset=utf-8", headers=headers)
    return Response(json_bytes, media_type="application/json", headers=headers)


@router.post("/programmes/{programme_id}/statements/{period}/issue", status_code=201,
             response_model=StatementIssueView, responses=error_responses(403, 404, 409, 422))
async def issue_statement(programme_id: UUID, period: str, runtime: Runtime, in_tx: InTx,
                          caller: OfficerCaller) -> dict[str, Any]:
    """Freezes the month's statement: its bytes and hash never change afterwards."""
    require_roles(caller, "officer")
    checked_period(period)
    issued = await in_tx(lambda conn: commands.issue_statement(conn, programme_id, period,
                                                               runtime.clock()))
    return statement_issue_view(issued)
