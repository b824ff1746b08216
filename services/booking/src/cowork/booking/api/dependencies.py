"""What booking routes take by dependency besides `Runtime` and `Caller`: the booking policy
from settings, the kept resource rows, a transaction with the service's errors translated; and
the reads several routes share."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Depends

from cowork.booking import commands, domain, store
from cowork.booking.api.representations import booking_view
from cowork.booking.resource_cache import ResourceCache
from cowork.shared.api import decode_cursor, transactions
from cowork.shared.api import translated_errors as api_errors
from cowork.shared.auth import Principal, require_self_or_roles
from cowork.shared.http import ApiError, NotFound, invalid
from cowork.shared.service import Runtime, ServiceRuntime


def _rule_violation(exc: Exception) -> ApiError | None:
    if isinstance(exc, commands.Taken):
        return ApiError(409, "slot_taken", f"the resource is {exc}", field="start",
                        details={"conflict": {"start": exc.start.isoformat(),
                                              "end": exc.end.isoformat()}})
    if isinstance(exc, domain.RuleViolation):
        return ApiError(exc.status, exc.code, str(exc), field=exc.field)
    return None


# The rules' and the database's refusals (a deadlock PostgreSQL rolled back: nothing
# half-done, 409 try again) become API errors (docs/api/).
translated_errors = api_errors(_rule_violation)


# The dependencies here are `async def` though none awaits: FastAPI runs a plain `def`
# dependency in a worker thread, a hand-off per request (test_booking_hot_path.py).
async def current_policy(runtime: Runtime) -> commands.Policy:
    # The runtime's settings are BookingSettings (app.py, which imports this package).
    settings: Any = runtime.settings
    policy: commands.Policy = settings.policy()
    return policy


Policy = Annotated[commands.Policy, Depends(current_policy)]

KEPT_RESOURCES = "booking.kept_resources"


async def kept_resources(runtime: Runtime) -> ResourceCache:
    """One per runtime. Bookings and availability try the resource row kept from an earlier
    request (resource_cache: the booking statement and the availability query check its
    version; a refusal or an answer on a stale row is made again on a fresh one); everything
    else reads it on every request: staff change resources and spaces (PATCH, closures) through
    any replica."""
    cache = runtime.components.get(KEPT_RESOURCES)
    if cache is None:
        cache = runtime.components[KEPT_RESOURCES] = ResourceCache()
    assert isinstance(cache, ResourceCache)
    return cache


KeptResources = Annotated[ResourceCache, Depends(kept_resources)]

InTx = Callable[[Callable[[asyncpg.Connection], Awaitable[Any]]], Awaitable[Any]]


async def in_transaction(runtime: Runtime) -> InTx:
    return transactions(runtime, translated_errors)


# `in_tx(work)`: runs `work(conn)` in one transaction, the service's refusals translated.
Transaction = Annotated[InTx, Depends(in_transaction)]


def booked_by(caller: Principal) -> str:
    return "staff" if caller.has("staff") else "member"


def whose(caller: Principal, member_id: UUID | None) -> UUID | None:
    """The member a list is of: staff see anyone's (or everyone's), a member their own (by
    default, and only)."""
    if not caller.has("staff"):
        if member_id is None and caller.has("member"):
            member_id = UUID(caller.sub)
        require_self_or_roles(caller, member_id, "staff")
    return member_id


def position_after(cursor: str | None, *parse: Callable[[str], Any]) -> tuple[Any, ...] | None:
    """The keyset position a list's cursor holds, each part parsed; 422 naming `cursor` for
    one this API did not give out."""
    if cursor is None:
        return None
    parts = decode_cursor(cursor, len(parse))
    try:
        return tuple(convert(part) for convert, part in zip(parse, parts, strict=True))
    except ValueError as exc:
        raise invalid("cursor", "not a cursor this API gave out") from exc


async def resource_or_404(conn: asyncpg.Connection, resource_id: UUID) -> asyncpg.Record:
    resource = await store.resource_by_id(conn, resource_id)
    if resource is None:
        raise NotFound("resource", resource_id)
    return resource


async def shown(runtime: ServiceRuntime, booking: asyncpg.Record) -> dict[str, Any]:
    """A booking as its member reads it: times in its space's timezone."""
    async with runtime.db.acquire() as conn:
        return booking_view(booking, await store.space_timezone(conn, booking["space_id"]))
