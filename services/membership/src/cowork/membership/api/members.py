"""Members: registration, search, a member's details, GDPR erasure, and the people of an
organisation."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID, uuid4

import asyncpg
from fastapi import Query, Request, Response

from cowork.membership import commands, domain, registration_limits, store
from cowork.membership.api.dependencies import InTx
from cowork.membership.api.schemas import (
    MemberChanges,
    MemberFoundOut,
    MemberOut,
    NewMember,
    NewPerson,
    PersonOut,
    member_view,
    membership_view,
    person_view,
)
from cowork.shared.api import (
    DEFAULT_PAGE_SIZE,
    CursorParam,
    Limit,
    Page,
    SearchText,
    decode_cursor,
    encode_cursor,
    error_responses,
    page_in_memory,
    v1_router,
)
from cowork.shared.auth import (
    Caller,
    OptionalCaller,
    StaffCaller,
    require_self_or_roles,
)
from cowork.shared.http import ApiError, invalid, not_found
from cowork.shared.logging import get_logger
from cowork.shared.service import Runtime

log = get_logger(__name__)

router = v1_router(tags=["members"])


def unsaved_member(body: NewMember, tax_code: str, now: datetime) -> dict[str, Any]:
    """What a new registration answers, for one that was not saved: an anonymous caller must
    not learn whether a tax code or email is registered (GDPR), so a duplicate gets the same
    answer as a success, with an id that was never stored."""
    return {"id": uuid4(), "kind": body.kind, "full_name": body.full_name,
            "email": str(body.email).lower(), "phone": body.phone, "language": body.language,
            "tax_code": tax_code, "residence_istat": body.residence_istat,
            "privacy_consent_at": now, "marketing_consent": body.consents.marketing,
            "marketing_consent_at": now if body.consents.marketing else None,
            "registered_at": now, "updated_at": now}


def _tax_code_of(body: NewMember) -> str:
    try:
        return domain.normalise_tax_code(body.kind, body.tax_code)
    except domain.RuleViolation as exc:
        raise invalid("tax_code", str(exc), exc.code) from exc


async def _within_registration_limits(request: Request, runtime: Runtime, email: str) -> None:
    """An anonymous registration counts against its inbox and its client: 429 with
    Retry-After above either limit (registration_limits says how each is recognised)."""
    settings: Any = runtime.settings  # MembershipSettings (app.py imports this module)
    networks = registration_limits.trusted_networks(settings.trusted_proxies)
    client = registration_limits.client_address(
        request.client.host if request.client else None,
        # Every X-Forwarded-For line, in order (RFC 9110 5.3): a proxy that appends its own
        # line leaves the client's forged one first.
        ", ".join(request.headers.getlist("x-forwarded-for")), networks)
    key = settings.limit_key
    limits = {
        registration_limits.digest(key, "address", registration_limits.address_identity(email)):
            settings.registration_limit_per_address,
        registration_limits.digest(key, "client", registration_limits.client_identity(client)):
            settings.registration_limit_per_client,
    }
    window = timedelta(seconds=settings.registration_limit_window_seconds)
    async with runtime.db.acquire() as conn, conn.transaction():
        retry_after = await commands.registration_retry_after(conn, limits, runtime.clock(),
                                                              window)
    if retry_after is not None:
        log.info("anonymous registration refused", outcome="rate_limited")
        raise ApiError(429, "too_many_registrations",
                       "too many registrations from here or for this address; try later",
                       headers={"Retry-After": str(retry_after)})


@router.post("/members", status_code=201, response_model=MemberOut,
             responses=error_responses(429))
async def register(body: NewMember, runtime: Runtime, in_tx: InTx, request: Request,
                   caller: OptionalCaller) -> dict[str, Any]:
    """Self-registration needs no token; staff may register anyone.

    An anonymous registration whose tax code or e-mail is already registered gets the same
    201 as a new one and saves nothing; the member(s) it collided with are told by mail
    (at most once an hour each). Staff get 409 `tax_code_taken` / `email_taken`."""
    if caller is not None and not caller.has("staff"):
        raise ApiError(403, "forbidden", "only staff register members on their behalf")
    tax_code = _tax_code_of(body)
    email = str(body.email).lower()
    if caller is None:
        await _within_registration_limits(request, runtime, email)
    now = runtime.clock()
    try:
        member = await in_tx(lambda conn: commands.register_member(
            conn, kind=body.kind, full_name=body.full_name, email=email,
            phone=body.phone, language=body.language, tax_code=tax_code,
            residence_istat=body.residence_istat, marketing=body.consents.marketing,
            now=now))
    except ApiError as exc:
        if caller is not None or exc.code not in ("tax_code_taken", "email_taken"):
            raise
        # The caller learns nothing; the members whose details were used learn it by mail.
        told = await in_tx(lambda conn: commands.registration_repeated(
            conn, tax_code=tax_code, email=email, now=now))
        log.info("anonymous registration not saved", outcome="already_registered",
                 members_told=told)
        return member_view(unsaved_member(body, tax_code, now))  # type: ignore[arg-type]
    return member_view(member)


def _search_position(cursor: str | None) -> UUID | None:
    if cursor is None:
        return None
    (id_text,) = decode_cursor(cursor, 1)
    try:
        return UUID(id_text)
    except ValueError as exc:
        raise invalid("cursor", "not a cursor this API gave out") from exc


@router.get("/members", response_model=Page[MemberFoundOut])
async def search_members(
        runtime: Runtime,
        caller: StaffCaller,
        q: Annotated[SearchText | None, Query(description="words found in the name, e-mail or "
                                        "tax code, in any order")] = None,
        cursor: CursorParam = None,
        # Each member comes with their memberships: a smaller page than other lists.
        limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    """Staff find members by name, e-mail or tax code (case-insensitive, every word must
    match somewhere), by name, paginated; each with their memberships, so the desk sees a
    member's plans on one call (their bookings: booking's `GET /v1/bookings?member_id=`)."""
    after = _search_position(cursor)
    words = (q or "").split()
    async with runtime.db.acquire() as conn:
        rows = await store.search_members(conn, words, after=after, limit=limit + 1)
        page = rows[:limit]
        memberships = await store.memberships_of_members(conn, [m["id"] for m in page])
    by_member: dict[UUID, list[dict[str, Any]]] = {}
    for membership in memberships:
        by_member.setdefault(membership["member_id"], []).append(membership_view(membership,
                                                                              staff=True))
    return {"items": [{**member_view(m), "memberships": by_member.get(m["id"], [])}
                      for m in page],
            "next_cursor": encode_cursor(page[-1]["id"]) if len(rows) > limit else None}


@router.get("/members/{member_id}", response_model=MemberOut)
async def read_member(member_id: UUID, in_tx: InTx, caller: Caller) -> dict[str, Any]:
    require_self_or_roles(caller, member_id, "staff")
    return member_view(await in_tx(lambda conn: commands.live_member(conn, member_id)))


@router.patch("/members/{member_id}", response_model=MemberOut)
async def change_member(member_id: UUID, body: MemberChanges, runtime: Runtime, in_tx: InTx,
                        caller: Caller) -> dict[str, Any]:
    require_self_or_roles(caller, member_id, "staff")
    changes = body.model_dump(exclude_unset=True)
    for field in ("full_name", "email", "language", "marketing_consent"):
        if field in changes and changes[field] is None:
            raise invalid(field, f"{field} cannot be removed")
    if "email" in changes:
        changes["email"] = str(changes["email"]).lower()
    member = await in_tx(lambda conn: commands.update_member(conn, member_id, changes,
                                                             runtime.clock()))
    return member_view(member)


@router.delete("/members/{member_id}", status_code=204)
async def erase(member_id: UUID, runtime: Runtime, in_tx: InTx, caller: Caller) -> Response:
    """GDPR erasure: personal data is removed here and from the contacts topic."""
    require_self_or_roles(caller, member_id, "staff")
    await in_tx(lambda conn: commands.erase_member(conn, member_id, runtime.clock()))
    return Response(status_code=204)


# -- the people of an organisation


@router.post("/members/{member_id}/people", status_code=201, response_model=PersonOut)
async def add_person(member_id: UUID, body: NewPerson, runtime: Runtime, in_tx: InTx,
                     caller: Caller) -> dict[str, Any]:
    require_self_or_roles(caller, member_id, "staff")

    async def work(conn: asyncpg.Connection) -> asyncpg.Record:
        member = await commands.live_member(conn, member_id, for_update=True)
        if member["kind"] != "organisation":
            raise domain.RuleViolation("not_an_organisation",
                                       "only an organisation has people under it")
        return await store.insert_person(conn, person_id=uuid4(), member_id=member_id,
                                         full_name=body.full_name,
                                         email=str(body.email).lower(), now=runtime.clock())

    return person_view(await in_tx(work))


@router.get("/members/{member_id}/people", response_model=Page[PersonOut])
async def list_people(member_id: UUID, in_tx: InTx, caller: Caller, cursor: CursorParam = None,
                      limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
    require_self_or_roles(caller, member_id, "staff")

    async def work(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        await commands.live_member(conn, member_id)
        return await store.people_of(conn, member_id)

    return page_in_memory([person_view(p) for p in await in_tx(work)], cursor, limit)


@router.delete("/members/{member_id}/people/{person_id}", status_code=204)
async def remove_person(member_id: UUID, person_id: UUID, in_tx: InTx,
                        caller: Caller) -> Response:
    require_self_or_roles(caller, member_id, "staff")
    if not await in_tx(lambda conn: store.delete_person(conn, member_id, person_id)):
        raise not_found("person", person_id)
    return Response(status_code=204)
