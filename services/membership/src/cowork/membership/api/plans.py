"""Plans: what a member can buy."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from typing import Any

from cowork.membership import store
from cowork.membership.api.dependencies import InTx
from cowork.membership.api.schemas import NewPlan, PlanCode, PlanOut, plan_view
from cowork.shared.api import DEFAULT_PAGE_SIZE, CursorParam, Limit, Page, page_in_memory, v1_router
from cowork.shared.auth import Caller, StaffCaller, require_roles
from cowork.shared.http import not_found
from cowork.shared.service import Runtime

router = v1_router(tags=["plans"])


@router.get("/plans", response_model=Page[PlanOut])
async def plans(runtime: Runtime, caller: Caller, include_retired: bool = False,
                cursor: CursorParam = None, limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
    async with runtime.db.acquire() as conn:
        return page_in_memory([plan_view(p) for p in await store.list_plans(
            conn, include_retired=include_retired)], cursor, limit)


@router.post("/plans", status_code=201, response_model=PlanOut)
async def create_plan(body: NewPlan, runtime: Runtime, in_tx: InTx,
                      caller: StaffCaller) -> dict[str, Any]:
    require_roles(caller, "staff")
    body.check_consistency()
    plan = await in_tx(lambda conn: store.insert_plan(conn, body.model_dump(), runtime.clock()))
    return plan_view(plan)


@router.post("/plans/{code}/retire", response_model=PlanOut)
async def retire_plan(code: PlanCode, runtime: Runtime, in_tx: InTx,
                      caller: StaffCaller) -> dict[str, Any]:
    """No new memberships on a retired plan; existing ones run their course."""
    require_roles(caller, "staff")
    plan = await in_tx(lambda conn: store.retire_plan(conn, code, runtime.clock()))
    if plan is None:
        raise not_found("plan", code)
    return plan_view(plan)
