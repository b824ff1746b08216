"""HTTP API v1 of the notifications service (API.md): webhook subscriptions, the delivery log
and its replay, members' preferences."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Query, Response
from pydantic import AliasChoices, AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from cowork.notifications import commands, domain, store
from cowork.shared.api import v1_router
from cowork.shared.auth import Caller, Principal, require_roles, require_self_or_roles
from cowork.shared.http import ApiError, forbidden, not_found
from cowork.shared.service import ServiceRuntime

Status = Literal["pending", "sending", "sent", "dead", "cancelled"]
# The filter also takes `failed`, the word of the `notification.failed` event, for `dead`.
StatusFilter = Literal["pending", "sending", "sent", "dead", "failed", "cancelled"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NewSubscription(Strict):
    url: Annotated[AnyHttpUrl, Field(description="http(s) URL that receives the POSTs")]
    event_types: Annotated[list[Annotated[str, Field(max_length=200)]],
                           Field(min_length=1, max_length=100,
                                 description="CloudEvents types, or '*' for every type")]

    @field_validator("url")
    @classmethod
    def bounded_url(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(url)) > 2000:
            raise ValueError("at most 2000 characters")
        return url

    @field_validator("event_types")
    @classmethod
    def known_types(cls, types: list[str]) -> list[str]:
        allowed = {*domain.WEBHOOK_EVENT_TYPES, domain.ANY_EVENT}
        unknown = [t for t in types if t not in allowed]
        if unknown:
            raise ValueError(f"unknown or not subscribable event type {unknown[0]!r}")
        return sorted(set(types))


class Preferences(Strict):
    # API.md: "PUT /v1/members/{id}/preferences — categories opted out of": a client reading
    # it sends `categories`, one reading the OpenAPI `opted_out`; both mean the same list.
    opted_out: Annotated[list[str], Field(
        max_length=20, validation_alias=AliasChoices("opted_out", "categories"),
        description=("categories the member receives no mail for: "
                     + ", ".join(domain.CATEGORIES) + " (also accepted as `categories`)"))]

    @field_validator("opted_out")
    @classmethod
    def known_categories(cls, categories: list[str]) -> list[str]:
        for category in categories:
            if category == "essential":
                raise ValueError("essential messages (booking confirmations and "
                                 "cancellations, voucher decisions) cannot be opted out of")
            if category not in domain.CATEGORIES:
                raise ValueError(f"unknown category {category[:50]!r}; one of "
                                 + ", ".join(domain.CATEGORIES))
        return sorted(set(categories))


def subscription_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "url": row["url"], "event_types": list(row["event_types"]),
            "active": row["active"], "created_at": row["created_at"]}


def delivery_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "cause_event_id": str(row["cause_event_id"]),
            "cause_event_type": row["cause_event_type"], "channel": row["channel"],
            "template": row["template"], "recipient_ref": row["recipient_ref"],
            "status": row["status"], "attempts": row["attempts"],
            "created_at": row["created_at"], "next_attempt_at": row["next_attempt_at"],
            "sent_at": row["sent_at"], "settled_at": row["settled_at"],
            "last_error": row["last_error"]}


def router(runtime: ServiceRuntime, wake: Callable[[], None]) -> APIRouter:
    api = v1_router()

    async def in_tx(work: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        async with runtime.db.acquire() as conn, conn.transaction():
            return await work(conn)

    # -- webhooks

    @api.post("/webhooks", status_code=201, tags=["webhooks"])
    async def create_webhook(body: NewSubscription, caller: Caller) -> dict[str, Any]:
        """Subscribe a partner's URL to event types. The signing secret is in this answer only."""
        require_roles(caller, "partner", "operator")
        row, secret = await in_tx(lambda conn: commands.create_subscription(
            conn, caller.sub, str(body.url), body.event_types, runtime.clock()))
        return {**subscription_view(row), "secret": secret}

    @api.get("/webhooks", tags=["webhooks"])
    async def list_webhooks(caller: Caller) -> list[dict[str, Any]]:
        require_roles(caller, "partner", "operator")
        owner = None if caller.has("operator") else caller.sub
        async with runtime.db.acquire() as conn:
            return [subscription_view(r) for r in await store.subscriptions_of(conn, owner)]

    @api.delete("/webhooks/{subscription_id}", status_code=204, tags=["webhooks"])
    async def delete_webhook(subscription_id: UUID, caller: Caller) -> Response:
        require_roles(caller, "partner", "operator")

        async def work(conn: asyncpg.Connection) -> None:
            row = await store.subscription(conn, subscription_id)
            if row is None or not (caller.has("operator") or row["owner_sub"] == caller.sub):
                raise not_found("webhook subscription", subscription_id)
            await store.deactivate_subscription(conn, subscription_id)

        await in_tx(work)
        return Response(status_code=204)

    # -- the delivery log

    async def visible_refs(conn: asyncpg.Connection, caller: Principal,
                           recipient_ref: str | None) -> list[str] | None:
        """Which recipients the caller may see: staff and operators everyone; a member only
        themself; a partner their subscriptions; an officer the officers' mail."""
        if caller.has("staff", "operator"):
            return [recipient_ref] if recipient_ref else None
        if caller.has("member"):
            own = [caller.sub]
        elif caller.has("partner"):
            own = [str(r["id"]) for r in await store.subscriptions_of(conn, caller.sub)]
        elif caller.has("officer"):
            own = [domain.OFFICERS]
        else:
            raise forbidden("the delivery log is for staff, operators, and each recipient")
        if recipient_ref is None:
            return own
        if recipient_ref not in own:
            raise forbidden("a recipient may only see their own deliveries")
        return [recipient_ref]

    @api.get("/deliveries", tags=["deliveries"])
    async def deliveries(
            caller: Caller, cause_event_id: UUID | None = None,
            recipient_ref: Annotated[str | None, Query(max_length=100)] = None,
            status: Annotated[StatusFilter | None, Query(description=(
                "the outcome; `failed` is the same as `dead`"))] = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        """What was sent to whom, when, by which event, with its outcome (newest first)."""
        if status == "failed":
            status = "dead"
        if recipient_ref is not None and "\x00" in recipient_ref:
            raise ApiError(422, "validation_error", "recipient_ref: NUL is not allowed",
                           field="recipient_ref")
        async with runtime.db.acquire() as conn:
            refs = await visible_refs(conn, caller, recipient_ref)
            rows = await store.list_deliveries(conn, cause_event_id=cause_event_id,
                                               recipient_refs=refs, status=status, limit=limit)
        return [delivery_view(r) for r in rows]

    @api.get("/deliveries/{delivery_id}", tags=["deliveries"])
    async def read_delivery(delivery_id: UUID, caller: Caller) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            row = await store.delivery(conn, delivery_id)
            if row is None:
                raise not_found("delivery", delivery_id)
            try:
                await visible_refs(conn, caller, row["recipient_ref"])
            except ApiError as exc:  # someone else's: as if it did not exist
                raise not_found("delivery", delivery_id) from exc
        return delivery_view(row)

    @api.post("/deliveries/{delivery_id}/replay", tags=["deliveries"])
    async def replay(delivery_id: UUID, caller: Caller) -> dict[str, Any]:
        """Send a settled delivery again (e.g. a dead webhook once the partner fixed their
        endpoint). A replayed e-mail keeps its Message-ID."""
        require_roles(caller, "operator")

        async def work(conn: asyncpg.Connection) -> asyncpg.Record:
            row = await store.replay(conn, delivery_id, runtime.clock())
            if row is None:
                existing = await store.delivery(conn, delivery_id)
                if existing is None:
                    raise not_found("delivery", delivery_id)
                raise ApiError(409, "delivery_in_progress",
                               f"the delivery is {existing['status']}; replay a settled one")
            return row

        row = await in_tx(work)
        wake()
        return delivery_view(row)

    # -- preferences

    @api.put("/members/{member_id}/preferences", tags=["preferences"])
    async def set_preferences(member_id: UUID, body: Preferences,
                              caller: Caller) -> dict[str, Any]:
        require_self_or_roles(caller, member_id, "staff")
        await in_tx(lambda conn: store.set_preferences(conn, member_id, body.opted_out,
                                                       runtime.clock()))
        return {"member_id": str(member_id), "opted_out": body.opted_out,
                "categories": list(domain.CATEGORIES)}

    @api.get("/members/{member_id}/preferences", tags=["preferences"])
    async def get_preferences(member_id: UUID, caller: Caller) -> dict[str, Any]:
        require_self_or_roles(caller, member_id, "staff")
        async with runtime.db.acquire() as conn:
            opted_out = await store.opted_out(conn, member_id)
        return {"member_id": str(member_id), "opted_out": opted_out,
                "categories": list(domain.CATEGORIES)}

    return api
