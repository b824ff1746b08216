"""Partners' webhook subscriptions (docs/api/ aliases: `POST /v1/webhooks`)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, cast
from uuid import UUID

import asyncpg
from fastapi import Depends, Response

from cowork.notifications import commands, subscriptions
from cowork.notifications.addresses import url_problem
from cowork.notifications.api.dependencies import InTx
from cowork.notifications.api.schemas import (
    NewSubscription,
    NewSubscriptionOut,
    RotatedSecretOut,
    SubscriptionOut,
    subscription_view,
)
from cowork.shared.api import error_responses, v1_router
from cowork.shared.auth import Caller, Principal, caller_with_roles, require_roles
from cowork.shared.http import conflict, invalid, not_found
from cowork.shared.service import Runtime, ServiceRuntime

if TYPE_CHECKING:
    from cowork.notifications.app import NotificationsSettings

router = v1_router(tags=["webhooks"])

# Checked before the body is read: anyone else gets 403, never a 422 describing the input.
PartnerOrOperator = Annotated[Principal, Depends(caller_with_roles("partner", "operator"))]


def _settings(runtime: ServiceRuntime) -> "NotificationsSettings":
    return cast("NotificationsSettings", runtime.settings)


@router.post("/webhooks", status_code=201, response_model=NewSubscriptionOut,
             responses=error_responses(401, 403, 409, 422))
async def create_webhook(body: NewSubscription, runtime: Runtime, caller: PartnerOrOperator,
                         in_tx: InTx) -> dict[str, Any]:
    """Subscribe a partner's URL to event types. The signing secret is in this answer only.
    Outside the local stack the URL is `https`; it never carries credentials nor points to an
    internal or reserved address (a name is checked again, by its address, at every
    delivery). A partner has at most `WEBHOOK_SUBSCRIPTIONS_PER_PARTNER` active ones (409)."""
    settings = _settings(runtime)
    url = str(body.url)
    problem = url_problem(url, settings.address_policy())
    if problem is not None:
        raise invalid("url", f"the webhook URL {problem}")

    async def work(conn: asyncpg.Connection) -> tuple[asyncpg.Record, str]:
        try:
            created: tuple[asyncpg.Record, str] = await commands.create_subscription(
                conn, settings.secret_box(), caller.sub, url, body.event_types, runtime.clock(),
                limit=settings.webhook_subscriptions_per_partner)
        except commands.SubscriptionLimit as exc:
            raise conflict("subscription_limit", str(exc)) from exc
        return created

    row, secret = await in_tx(work)
    return {**subscription_view(row), "secret": secret}


@router.post("/webhooks/{subscription_id}/rotate-secret", response_model=RotatedSecretOut,
             responses=error_responses(401, 403, 404, 422))
async def rotate_webhook_secret(subscription_id: UUID, runtime: Runtime, caller: Caller,
                                in_tx: InTx) -> dict[str, Any]:
    """A new signing secret, in this answer only. The previous one keeps signing too until
    `previous_secret_expires_at` (`WEBHOOK_SECRET_OVERLAP_HOURS`, 24): deliveries carry both
    signatures meanwhile, so the partner switches without losing any. Rotating again during
    that overlap keeps the older previous secret signing too (a retried call)."""
    require_roles(caller, "partner", "operator")
    settings = _settings(runtime)

    async def work(conn: asyncpg.Connection) -> tuple[asyncpg.Record, str]:
        row = await subscriptions.subscription(conn, subscription_id)
        if row is None or not row["active"] or not (
                caller.has("operator") or row["owner_sub"] == caller.sub):
            raise not_found("webhook subscription", subscription_id)
        rotated = await commands.rotate_secret(
            conn, settings.secret_box(), subscription_id, runtime.clock(),
            timedelta(hours=settings.webhook_secret_overlap_hours))
        if rotated is None:
            raise not_found("webhook subscription", subscription_id)
        result: tuple[asyncpg.Record, str] = rotated
        return result

    row, secret = await in_tx(work)
    return {**subscription_view(row), "secret": secret,
            "previous_secret_expires_at": row["previous_secret_until"]}


@router.get("/webhooks", response_model=list[SubscriptionOut],
            responses=error_responses(401, 403))
async def list_webhooks(runtime: Runtime, caller: Caller) -> list[dict[str, Any]]:
    require_roles(caller, "partner", "operator")
    owner = None if caller.has("operator") else caller.sub
    async with runtime.db.acquire() as conn:
        return [subscription_view(r) for r in await subscriptions.subscriptions_of(conn, owner)]


@router.delete("/webhooks/{subscription_id}", status_code=204,
               responses=error_responses(401, 403, 404, 422))
async def delete_webhook(subscription_id: UUID, caller: Caller, in_tx: InTx) -> Response:
    """A partner ends its own subscriptions (someone else's answers 404); an operator any.
    Its signing secrets are erased at once."""
    require_roles(caller, "partner", "operator")

    async def work(conn: asyncpg.Connection) -> None:
        row = await subscriptions.subscription(conn, subscription_id)
        if row is None or not (caller.has("operator") or row["owner_sub"] == caller.sub):
            raise not_found("webhook subscription", subscription_id)
        await subscriptions.deactivate_subscription(conn, subscription_id)

    await in_tx(work)
    return Response(status_code=204)
