"""The delivery log and its replay (docs/api/ aliases: `GET /v1/deliveries`,
`POST /v1/deliveries/{id}/replay`)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Query

from cowork.notifications import delivery_store, domain, subscriptions
from cowork.notifications.api.dependencies import InTx, WakeDispatcher
from cowork.notifications.api.schemas import DeliveryOut, StatusFilter, delivery_view
from cowork.shared.api import SearchText, error_responses, v1_router
from cowork.shared.auth import Caller, OperatorCaller, Principal, require_roles
from cowork.shared.http import ApiError, forbidden, not_found
from cowork.shared.service import Runtime

router = v1_router(tags=["deliveries"])


async def visible_refs(conn: asyncpg.Connection, caller: Principal,
                       recipient_ref: str | None) -> list[str] | None:
    """Which recipients the caller may see: staff and operators everyone; a member only
    themself; a partner their subscriptions; an officer the officers' mail."""
    if caller.has("staff", "operator"):
        return [recipient_ref] if recipient_ref else None
    if caller.has("member"):
        own = [caller.sub]
    elif caller.has("partner"):
        own = [str(r["id"]) for r in await subscriptions.subscriptions_of(conn, caller.sub)]
    elif caller.has("officer"):
        own = [domain.OFFICERS]
    else:
        raise forbidden("the delivery log is for staff, operators, and each recipient")
    if recipient_ref is None:
        return own
    if recipient_ref not in own:
        raise forbidden("a recipient may only see their own deliveries")
    return [recipient_ref]


# Not a page (docs/api/ gives the log as a list, newest first): `limit` bounds it, up to 1000.
@router.get("/deliveries", response_model=list[DeliveryOut],
            responses=error_responses(401, 403, 422))
async def deliveries(
        runtime: Runtime, caller: Caller, cause_event_id: UUID | None = None,
        recipient_ref: Annotated[SearchText | None, Query(max_length=100)] = None,
        status: Annotated[StatusFilter | None, Query(description=(
            "the outcome; `failed` is the same as `dead`"))] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """What was sent to whom, when, by which event, with its outcome (newest first)."""
    if status == "failed":
        status = "dead"
    async with runtime.db.acquire() as conn:
        refs = await visible_refs(conn, caller, recipient_ref)
        rows = await delivery_store.list_deliveries(conn, cause_event_id=cause_event_id,
                                           recipient_refs=refs, status=status, limit=limit)
    return [delivery_view(r) for r in rows]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut,
            responses=error_responses(401, 404, 422))
async def read_delivery(delivery_id: UUID, runtime: Runtime, caller: Caller) -> dict[str, Any]:
    """One delivery; someone else's answers 404, as if it did not exist."""
    async with runtime.db.acquire() as conn:
        row = await delivery_store.delivery(conn, delivery_id)
        if row is None:
            raise not_found("delivery", delivery_id)
        try:
            await visible_refs(conn, caller, row["recipient_ref"])
        except ApiError as exc:
            raise not_found("delivery", delivery_id) from exc
    return delivery_view(row)


@router.post("/deliveries/{delivery_id}/replay", response_model=DeliveryOut,
             responses=error_responses(401, 403, 404, 409, 422))
async def replay(delivery_id: UUID, runtime: Runtime, caller: OperatorCaller, in_tx: InTx,
                 wake: WakeDispatcher) -> dict[str, Any]:
    """Send a settled delivery again (e.g. a dead webhook once the partner fixed their
    endpoint). A replayed e-mail keeps its Message-ID. One not settled yet answers 409."""
    require_roles(caller, "operator")

    async def work(conn: asyncpg.Connection) -> asyncpg.Record:
        row = await delivery_store.replay(conn, delivery_id, runtime.clock())
        if row is None:
            existing = await delivery_store.delivery(conn, delivery_id)
            if existing is None:
                raise not_found("delivery", delivery_id)
            raise ApiError(409, "delivery_in_progress",
                           f"the delivery is {existing['status']}; replay a settled one")
        return row

    row = await in_tx(work)
    wake()
    return delivery_view(row)
