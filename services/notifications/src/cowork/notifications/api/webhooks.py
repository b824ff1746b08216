"""Partners' webhook subscriptions (docs/api/ aliases: `POST /v1/webhooks`)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Depends, Response

from cowork.notifications import commands, store
from cowork.notifications.api.dependencies import InTx
from cowork.notifications.api.schemas import (
    NewSubscription,
    NewSubscriptionOut,
    SubscriptionOut,
    subscription_view,
)
from cowork.shared.api import error_responses, v1_router
from cowork.shared.auth import Caller, Principal, caller_with_roles, require_roles
from cowork.shared.http import not_found
from cowork.shared.service import Runtime

router = v1_router(tags=["webhooks"])

# Checked before the body is read: anyone else gets 403, never a 422 describing the input.
PartnerOrOperator = Annotated[Principal, Depends(caller_with_roles("partner", "operator"))]


@router.post("/webhooks", status_code=201, response_model=NewSubscriptionOut,
             responses=error_responses(401, 403, 422))
async def create_webhook(body: NewSubscription, runtime: Runtime, caller: PartnerOrOperator,
                         in_tx: InTx) -> dict[str, Any]:
    """Subscribe a partner's URL to event types. The signing secret is in this answer only."""
    row, secret = await in_tx(lambda conn: commands.create_subscription(
        conn, caller.sub, str(body.url), body.event_types, runtime.clock()))
    return {**subscription_view(row), "secret": secret}


@router.get("/webhooks", response_model=list[SubscriptionOut],
            responses=error_responses(401, 403))
async def list_webhooks(runtime: Runtime, caller: Caller) -> list[dict[str, Any]]:
    require_roles(caller, "partner", "operator")
    owner = None if caller.has("operator") else caller.sub
    async with runtime.db.acquire() as conn:
        return [subscription_view(r) for r in await store.subscriptions_of(conn, owner)]


@router.delete("/webhooks/{subscription_id}", status_code=204,
               responses=error_responses(401, 403, 404, 422))
async def delete_webhook(subscription_id: UUID, caller: Caller, in_tx: InTx) -> Response:
    """A partner ends its own subscriptions (someone else's answers 404); an operator any."""
    require_roles(caller, "partner", "operator")

    async def work(conn: asyncpg.Connection) -> None:
        row = await store.subscription(conn, subscription_id)
        if row is None or not (caller.has("operator") or row["owner_sub"] == caller.sub):
            raise not_found("webhook subscription", subscription_id)
        await store.deactivate_subscription(conn, subscription_id)

    await in_tx(work)
    return Response(status_code=204)
