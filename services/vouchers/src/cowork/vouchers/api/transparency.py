"""Transparency (D.Lgs. 33/2013) and the de minimis ceiling (Regulation (EU) 2023/2831)."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query

from cowork.shared.api import ApiDate, error_responses, v1_router
from cowork.shared.auth import OfficerCaller, require_roles
from cowork.shared.http import invalid
from cowork.shared.service import Runtime, ServiceRuntime
from cowork.vouchers import commands, domain, store
from cowork.vouchers.api.dependencies import Year, programme_or_404
from cowork.vouchers.api.schemas import TAX_CODE, BeneficiariesView, DeMinimisView, in_range
from cowork.vouchers.api.views import beneficiary_view

router = v1_router(tags=["transparency"])


async def _beneficiaries(runtime: ServiceRuntime, programme_id: UUID | None, year: int,
                         *, published_only: bool) -> dict[str, Any]:
    async with runtime.db.acquire() as conn:
        if programme_id is not None:
            await programme_or_404(conn, programme_id)
        rows = await store.grants_by_beneficiary(conn, programme_id, year)
    items = [beneficiary_view(r) for r in rows]
    if published_only:
        items = [i for i in items if i["publication_required"]]
    return {"year": year, "threshold_cents": domain.TRANSPARENCY_THRESHOLD_CENTS,
            "items": items, "next_cursor": None}


@router.get("/programmes/{programme_id}/beneficiaries", response_model=BeneficiariesView,
            responses=error_responses(403, 404, 422))
async def programme_beneficiaries(programme_id: UUID, year: Year, runtime: Runtime,
                                  caller: OfficerCaller, published_only: bool = False
                                  ) -> dict[str, Any]:
    """Grants per beneficiary in a calendar year; above EUR 1,000 they must be published
    (D.Lgs. 33/2013) before payment."""
    require_roles(caller, "officer")
    return await _beneficiaries(runtime, programme_id, year, published_only=published_only)


@router.get("/transparency", response_model=BeneficiariesView,
            responses=error_responses(403, 422))
async def transparency(year: Year, runtime: Runtime, caller: OfficerCaller) -> dict[str, Any]:
    """The export to publish: beneficiaries whose grants exceed EUR 1,000 in the year."""
    require_roles(caller, "officer")
    return await _beneficiaries(runtime, None, year, published_only=True)


TaxCodeQuery = Annotated[str, Query(pattern=TAX_CODE)]


@router.get("/de-minimis", response_model=DeMinimisView, responses=error_responses(403, 422))
async def de_minimis(runtime: Runtime, caller: OfficerCaller, on: ApiDate,
                     tax_code: TaxCodeQuery | None = None,
                     member_id: UUID | None = None) -> dict[str, Any]:
    """An undertaking's grants in the three years up to `on` and what it may still get. By
    `member_id`: the undertaking the member declared (every key they declared is one)."""
    require_roles(caller, "officer")
    if (tax_code is None) == (member_id is None):
        raise invalid("tax_code", "give tax_code or member_id")
    _plausible(on, "on")
    async with runtime.db.acquire() as conn:
        undertaking = (await commands.member_undertaking(conn, member_id)
                       if member_id is not None
                       else await commands.undertaking_of_tax_code(conn, tax_code or ""))
        grants = await store.de_minimis_grants_of(conn, undertaking)
    return {"on": on.isoformat(), "ceiling_cents": domain.DE_MINIMIS_CEILING_CENTS,
            "headroom_cents": domain.de_minimis_headroom(grants, on),
            "grants": [{"granted_on": g.isoformat(), "amount_cents": a}
                       for g, a in sorted(grants)]}


def _plausible(day: date, field: str) -> None:
    try:
        in_range(day, field)
    except ValueError as exc:
        raise invalid(field, str(exc)) from exc
