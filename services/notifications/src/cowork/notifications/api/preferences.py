"""Members' preferences: the categories of mail they opted out of (docs/api/:
`PUT /v1/members/{id}/preferences`)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from typing import Any
from uuid import UUID

from cowork.notifications import store
from cowork.notifications.api.dependencies import InTx
from cowork.notifications.api.schemas import Preferences, PreferencesOut, preferences_view
from cowork.shared.api import error_responses, v1_router
from cowork.shared.auth import Caller, require_self_or_roles
from cowork.shared.service import Runtime

router = v1_router(tags=["preferences"])


@router.put("/members/{member_id}/preferences", response_model=PreferencesOut,
            responses=error_responses(401, 403, 422))
async def set_preferences(member_id: UUID, body: Preferences, runtime: Runtime,
                          caller: Caller, in_tx: InTx) -> dict[str, Any]:
    """The member themself, or the front desk on their behalf; essential mail cannot be
    opted out of."""
    require_self_or_roles(caller, member_id, "staff")
    await in_tx(lambda conn: store.set_preferences(conn, member_id, body.opted_out,
                                                   runtime.clock()))
    return preferences_view(member_id, body.opted_out)


@router.get("/members/{member_id}/preferences", response_model=PreferencesOut,
            responses=error_responses(401, 403, 422))
async def get_preferences(member_id: UUID, runtime: Runtime, caller: Caller) -> dict[str, Any]:
    require_self_or_roles(caller, member_id, "staff")
    async with runtime.db.acquire() as conn:
        opted_out = await store.opted_out(conn, member_id)
    return preferences_view(member_id, opted_out)
