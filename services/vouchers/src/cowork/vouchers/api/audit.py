"""The auditor's verify of one programme, over HTTP (`cowork-vouchers verify` for all)."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from dataclasses import asdict
from typing import Any
from uuid import UUID

from cowork.shared.api import error_responses, v1_router
from cowork.shared.auth import OfficerCaller, require_roles
from cowork.shared.service import Runtime
from cowork.vouchers.api.dependencies import programme_or_404
from cowork.vouchers.api.schemas import AuditView
from cowork.vouchers.verify import verify

router = v1_router(tags=["audit"])


@router.get("/programmes/{programme_id}/audit", response_model=AuditView,
            responses=error_responses(403, 404))
async def audit(programme_id: UUID, runtime: Runtime, caller: OfficerCaller) -> dict[str, Any]:
    """Recomputes the programme from its append-only ledger and compares: balances; each
    voucher's amount, remaining, paid within its caps, coverage and validity; each subsidy
    dated inside its voucher and accreditation; each issued statement's bytes and SHA-256
    regenerated; the guard triggers in place. `ok` false names every mismatch
    (docs/vouchers-ledger.md, "Verify")."""
    require_roles(caller, "officer")
    async with runtime.db.acquire() as conn:
        await programme_or_404(conn, programme_id)
        report = await verify(conn, programme_id)
    return {"programme_id": str(programme_id), "ok": report.clean, "entries": report.entries,
            "vouchers": report.vouchers, "statements": report.statements,
            "mismatches": [asdict(m) for m in report.mismatches]}
