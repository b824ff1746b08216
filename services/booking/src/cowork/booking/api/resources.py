"""Resources of a space (desks, rooms, booths): in OpenAPI under the space's tag."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from typing import Any
from uuid import UUID

from cowork.booking import commands, store
from cowork.booking.api.dependencies import KeptResources, Policy, Transaction
from cowork.booking.api.representations import ResourceOut, resource_view
from cowork.booking.api.schemas import NULLABLE_RESOURCE_FIELDS, NewResource, ResourceChanges
from cowork.shared.api import DEFAULT_PAGE_SIZE, CursorParam, Limit, Page, page_in_memory, v1_router
from cowork.shared.auth import Caller, StaffCaller, require_roles
from cowork.shared.http import invalid, not_found
from cowork.shared.service import Runtime

router = v1_router(tags=["spaces"])


@router.patch("/resources/{resource_id}", response_model=ResourceOut)
async def change_resource(resource_id: UUID, body: ResourceChanges, caller: StaffCaller,
                          runtime: Runtime, policy: Policy, in_tx: Transaction,
                          kept: KeptResources) -> dict[str, Any]:
    """Any field of creation, and `in_service`; `resource.published` again. Out of service:
    its confirmed future bookings are cancelled by the system (`resource_out_of_service`)."""
    require_roles(caller, "staff")
    changes = body.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is None and field not in NULLABLE_RESOURCE_FIELDS:
            raise invalid(field, f"{field} cannot be removed")
    resource = await in_tx(lambda conn: commands.change_resource(
        conn, resource_id, changes, now=runtime.clock(), policy=policy))
    kept.forget()
    return resource_view(resource)


@router.get("/resources/{resource_id}", response_model=ResourceOut)
async def read_resource(resource_id: UUID, caller: Caller, runtime: Runtime) -> dict[str, Any]:
    async with runtime.db.acquire() as conn:
        row = await store.resource_by_id(conn, resource_id)
    if row is None:
        raise not_found("resource", resource_id)
    return resource_view(row)


@router.post("/spaces/{space_id}/resources", status_code=201, response_model=ResourceOut)
async def create_resource(space_id: UUID, body: NewResource, caller: StaffCaller, runtime: Runtime,
                          in_tx: Transaction) -> dict[str, Any]:
    require_roles(caller, "staff")
    if body.max_minutes < body.min_minutes:
        raise invalid("max_minutes", "max_minutes is below min_minutes")
    resource = await in_tx(lambda conn: commands.create_resource(
        conn, space_id, body.model_dump(), runtime.clock()))
    return resource_view(resource)


@router.get("/spaces/{space_id}/resources", response_model=Page[ResourceOut])
async def resources(space_id: UUID, caller: Caller, runtime: Runtime,
                    cursor: CursorParam = None, limit: Limit = DEFAULT_PAGE_SIZE
                    ) -> dict[str, Any]:
    async with runtime.db.acquire() as conn:
        return page_in_memory([resource_view(r) for r in
                               await store.resources_of(conn, space_id)], cursor, limit)
