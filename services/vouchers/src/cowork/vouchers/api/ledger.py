"""The programme's append-only double-entry ledger."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Any
from uuid import UUID

from cowork.shared.api import CursorParam, Limit, error_responses, v1_router
from cowork.shared.auth import OfficerCaller, require_roles
from cowork.shared.service import Runtime
from cowork.vouchers import store
from cowork.vouchers.api.dependencies import page_of, programme_or_404, seq_after
from cowork.vouchers.api.programme_schemas import LedgerPage
from cowork.vouchers.api.views import balances_view, ledger_view

router = v1_router(tags=["ledger"])


@router.get("/programmes/{programme_id}/ledger", response_model=LedgerPage,
            responses=error_responses(403, 404, 422))
async def ledger(programme_id: UUID, runtime: Runtime, caller: OfficerCaller,
                 cursor: CursorParam = None, limit: Limit = 100) -> dict[str, Any]:
    """Every transaction of the programme in the order recorded, with its postings
    (+ into an account, - out of it; each transaction sums to zero). The page is in
    `items`, and in `entries`, its alias (docs/api/)."""
    require_roles(caller, "officer")
    after = seq_after(cursor)
    # One snapshot: a movement committing between the two reads would otherwise show in the
    # balances and not in the entries (or the other way round).
    async with runtime.db.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                              readonly=True):
        programme = await programme_or_404(conn, programme_id)
        rows = await store.ledger_page(conn, programme_id, after, limit + 1)
    result = page_of([ledger_view(t) for t in rows], rows, limit, lambda t: (t["seq"],))
    # docs/api/ aliases: "GET /v1/programmes/{id}/ledger — entries". The page's `items` under the
    # spec's name too.
    result["entries"] = result["items"]
    result["balances"] = balances_view(programme)
    return result
