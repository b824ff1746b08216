"""Vouchers: what a grant gives a member to spend."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Any
from uuid import UUID

from cowork.shared.api import CursorParam, Limit, Page, error_responses, v1_router
from cowork.shared.auth import Caller, OfficerCaller, require_roles
from cowork.shared.service import Runtime
from cowork.vouchers import commands, store
from cowork.vouchers.api.dependencies import (
    InTx,
    by_time,
    member_filter,
    page_of,
    time_id_after,
    voucher_owned,
)
from cowork.vouchers.api.schemas import PartitaIva, Revocation, VoucherView

router = v1_router(tags=["vouchers"])


@router.get("/vouchers", response_model=Page[VoucherView], responses=error_responses(403, 422))
async def vouchers(runtime: Runtime, caller: Caller, member_id: UUID | None = None,
                   programme_id: UUID | None = None, cursor: CursorParam = None,
                   limit: Limit = 100) -> dict[str, Any]:
    """A member's own vouchers; an officer's, anyone's (`member_id`)."""
    member_id = member_filter(caller, member_id)
    after = time_id_after(cursor)
    async with runtime.db.acquire() as conn:
        rows = await store.vouchers_page(conn, member_id=member_id, programme_id=programme_id,
                                         after=after, limit=limit + 1)
    return page_of([commands.voucher_view(v) for v in rows], rows, limit, by_time("granted_at"))


@router.get("/vouchers/{voucher_id}", response_model=VoucherView,
            responses=error_responses(403, 404))
async def voucher(voucher_id: UUID, runtime: Runtime, caller: Caller) -> dict[str, Any]:
    return commands.voucher_view(await voucher_owned(runtime, voucher_id, caller))


@router.post("/vouchers/{voucher_id}/revoke", response_model=VoucherView,
             responses=error_responses(403, 404, 409, 422))
async def revoke(voucher_id: UUID, runtime: Runtime, in_tx: InTx, caller: OfficerCaller,
                 body: Revocation | None = None) -> dict[str, Any]:
    """What is left returns to the programme's available budget; what was paid stays.
    The body `{"reason": "<code>"}` is optional."""
    require_roles(caller, "officer")
    reason = body.reason if body is not None else None
    revoked = await in_tx(lambda conn: commands.revoke(conn, voucher_id, reason,
                                                       runtime.clock()))
    return commands.voucher_view(revoked)


@router.post("/vouchers/{voucher_id}/partita-iva", response_model=VoucherView,
             responses=error_responses(403, 404, 409, 422))
async def declare_partita_iva(voucher_id: UUID, body: PartitaIva, runtime: Runtime,
                              in_tx: InTx, caller: Caller) -> dict[str, Any]:
    """Meet the condition of a conditional grant: the voucher starts paying. The member, or
    the front desk (staff) for them; the partita IVA must be new by the programme's rule on
    the application day, and be declared by the condition's deadline day (409 otherwise)."""
    await voucher_owned(runtime, voucher_id, caller, "staff")
    declared = await in_tx(lambda conn: commands.declare_partita_iva(
        conn, voucher_id, body.opened_on, runtime.clock()))
    return commands.voucher_view(declared)
