"""HTTP API v1 of the membership service (API.md)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from cowork.membership import commands, domain, store
from cowork.shared.auth import Principal, require_roles, require_self_or_roles, verify_token
from cowork.shared.http import ApiError, conflict, invalid, not_found
from cowork.shared.service import ServiceRuntime

ResourceKind = Literal["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ]{5,19}$")]
Istat = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="ISTAT municipality code")]
Reason = Annotated[str, Field(min_length=3, max_length=500)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Consents(Strict):
    privacy: bool
    marketing: bool = False


class NewMember(Strict):
    kind: Literal["person", "organisation"]
    full_name: Text
    email: EmailStr
    phone: Phone | None = None
    language: Literal["it", "en"] = "it"
    tax_code: Annotated[str, Field(min_length=11, max_length=16)]
    residence_istat: Istat | None = None
    consents: Consents

    @field_validator("consents")
    @classmethod
    def privacy_is_required(cls, consents: Consents) -> Consents:
        if not consents.privacy:
            raise ValueError("the privacy consent is required to register")
        return consents


class MemberChanges(Strict):
    full_name: Text | None = None
    email: EmailStr | None = None
    phone: Phone | None = None
    language: Literal["it", "en"] | None = None
    residence_istat: Istat | None = None
    marketing_consent: bool | None = None


class NewPerson(Strict):
    full_name: Text
    email: EmailStr


class NewPlan(Strict):
    code: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,39}$")]
    name: Text
    kind: Literal["day_pass", "carnet", "monthly", "quarterly", "annual"]
    price_cents: Annotated[int, Field(ge=0, le=10_000_000)]
    resource_kinds: Annotated[list[ResourceKind], Field(min_length=1)]
    days: Annotated[int, Field(ge=1, le=366)] | None = None
    max_bookings_per_day: Annotated[int, Field(ge=1)] | None = None
    max_bookings_per_week: Annotated[int, Field(ge=1)] | None = None
    meeting_room_minutes_per_month: Annotated[int, Field(ge=0)] | None = None
    stackable: bool = False
    included_kinds: list[ResourceKind] | None = Field(
        None, description="kinds whose use the plan includes free of charge (absent: all of "
                          "resource_kinds); the other kinds it may book are charged at the tariff")
    overage: dict[ResourceKind, Literal["refuse", "charge"]] | None = Field(
        None, description="per kind, use beyond an allowance (carnet days, meeting-room "
                          "minutes): refused (default) or charged at the tariff")

    def check_consistency(self) -> None:
        """Rules across fields, reported on the field to blame."""
        if self.kind == "carnet" and self.days is None:
            raise invalid("days", "a carnet plan needs its number of days")
        if self.kind != "carnet" and self.days is not None:
            raise invalid("days", "only a carnet plan has a number of days")
        if len(set(self.resource_kinds)) != len(self.resource_kinds):
            raise invalid("resource_kinds", "list each resource kind once")
        if self.included_kinds is not None and not set(self.included_kinds) <= set(
                self.resource_kinds):
            raise invalid("included_kinds", "only kinds the plan may book (resource_kinds)")
        if self.overage and not set(self.overage) <= set(self.resource_kinds):
            raise invalid("overage", "only kinds the plan may book (resource_kinds)")


class NewMembership(Strict):
    plan_code: Annotated[str, Field(min_length=1, max_length=40)]
    starts_on: date


class StatusChange(Strict):
    reason: Reason


class OptionalReason(Strict):
    reason: Reason | None = None


# ---------------------------------------------------------------- representations


def member_view(m: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(m["id"]), "kind": m["kind"], "full_name": m["full_name"], "email": m["email"],
        "phone": m["phone"], "language": m["language"], "tax_code": m["tax_code"],
        "residence_istat": m["residence_istat"],
        "consents": {"privacy_at": m["privacy_consent_at"], "marketing": m["marketing_consent"],
                     "marketing_at": m["marketing_consent_at"]},
        "registered_at": m["registered_at"], "updated_at": m["updated_at"],
    }


def plan_view(p: asyncpg.Record) -> dict[str, Any]:
    return {
        "code": p["code"], "name": p["name"], "kind": p["kind"], "price_cents": p["price_cents"],
        "resource_kinds": list(p["resource_kinds"]), "days": p["carnet_days"],
        "max_bookings_per_day": p["max_bookings_per_day"],
        "max_bookings_per_week": p["max_bookings_per_week"],
        "meeting_room_minutes_per_month": p["meeting_room_minutes_per_month"],
        "stackable": p["stackable"], "retired": p["retired_at"] is not None,
        "included_kinds": (list(p["included_kinds"]) if p["included_kinds"] is not None
                           else list(p["resource_kinds"])),
        "overage": commands.overage_policy(p),
    }


def membership_view(s: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(s["id"]), "member_id": str(s["member_id"]), "plan_code": s["plan_code"],
        "status": s["status"], "period_start": s["period_start"], "period_end": s["period_end"],
        "price_cents": s["price_cents"], "status_reason": s["status_reason"],
    }


def person_view(p: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(p["id"]), "full_name": p["full_name"], "email": p["email"]}


# ---------------------------------------------------------------- errors


_UNIQUE = {
    "members_tax_code_unique": ("tax_code_taken", "tax_code", "this tax code is already registered"),
    "members_email_unique": ("email_taken", "email", "this email is already registered"),
    "plans_pkey": ("plan_code_taken", "code", "a plan with this code exists"),
    "memberships_one_live_per_member": (
        "live_membership_exists", "plan_code",
        "the member already has a live membership; cancel it or let it expire first"),
}


@contextlib.asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """The rules' and the database's refusals become API.md errors."""
    try:
        yield
    except domain.RuleViolation as exc:
        status = 409 if exc.code in ("invalid_transition", "plan_retired") and not exc.field else 422
        raise ApiError(status, exc.code, str(exc), field=exc.field) from exc
    except asyncpg.UniqueViolationError as exc:
        code, field, message = _UNIQUE.get(exc.constraint_name or "",
                                           ("conflict", None, "conflicts with existing data"))
        raise conflict(code, message, field=field) from exc


# ---------------------------------------------------------------- the router


def router(runtime: ServiceRuntime) -> APIRouter:
    authenticated = runtime.authenticator().principal()
    Caller = Annotated[Principal, Depends(authenticated)]
    secret = runtime.settings.jwt_secret.get_secret_value()
    issuer = runtime.settings.jwt_issuer

    async def optional_caller(request: Request) -> Principal | None:
        header = request.headers.get("authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "unauthenticated", "use 'Authorization: Bearer <JWT>'")
        return verify_token(token, secret, issuer=issuer)

    MaybeCaller = Annotated[Principal | None, Depends(optional_caller)]
    api = APIRouter(prefix="/v1")

    async def in_tx(work: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        async with translated_errors(), runtime.db.acquire() as conn, conn.transaction():
            return await work(conn)

    async def member_of_membership(membership_id: UUID) -> asyncpg.Record:
        async with runtime.db.acquire() as conn:
            membership = await store.membership_by_id(conn, membership_id)
        if membership is None:
            raise not_found("membership", membership_id)
        return membership

    # -- members

    @api.post("/members", status_code=201, tags=["members"])
    async def register(body: NewMember, caller: MaybeCaller) -> dict[str, Any]:
        """Self-registration needs no token; staff may register anyone."""
        if caller is not None and not caller.has("staff"):
            raise ApiError(403, "forbidden", "only staff register members on their behalf")
        try:
            tax_code = domain.normalise_tax_code(body.kind, body.tax_code)
        except domain.RuleViolation as exc:
            raise invalid("tax_code", str(exc), exc.code) from exc
        member = await in_tx(lambda conn: commands.register_member(
            conn, kind=body.kind, full_name=body.full_name, email=str(body.email).lower(),
            phone=body.phone, language=body.language, tax_code=tax_code,
            residence_istat=body.residence_istat, marketing=body.consents.marketing,
            now=runtime.clock()))
        return member_view(member)

    @api.get("/members", tags=["members"])
    async def search_members(
            caller: Caller,
            q: Annotated[str | None, Query(max_length=200, description="words found in the "
                                           "name, e-mail or tax code, in any order")] = None,
            cursor: UUID | None = None,
            limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
        """Staff find members by name, e-mail or tax code (case-insensitive, every word must
        match somewhere), by name, paginated; each with their memberships, so the desk sees a
        member's plans on one call (their bookings: booking's `GET /v1/bookings?member_id=`)."""
        require_roles(caller, "staff")
        if q is not None and "\x00" in q:
            raise invalid("q", "q cannot hold NUL characters")
        words = (q or "").split()
        async with runtime.db.acquire() as conn:
            rows = await store.search_members(conn, words, after=cursor, limit=limit + 1)
            page = rows[:limit]
            memberships = await store.memberships_of_members(conn, [m["id"] for m in page])
        by_member: dict[UUID, list[dict[str, Any]]] = {}
        for membership in memberships:
            by_member.setdefault(membership["member_id"], []).append(
                membership_view(membership))
        return {"items": [{**member_view(m), "memberships": by_member.get(m["id"], [])}
                          for m in page],
                "next_cursor": str(page[-1]["id"]) if len(rows) > limit else None}

    @api.get("/members/{member_id}", tags=["members"])
    async def read_member(member_id: UUID, caller: Caller) -> dict[str, Any]:
        require_self_or_roles(caller, member_id, "staff")
        return member_view(await in_tx(lambda conn: commands.live_member(conn, member_id)))

    @api.patch("/members/{member_id}", tags=["members"])
    async def change_member(member_id: UUID, body: MemberChanges, caller: Caller
                            ) -> dict[str, Any]:
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

    @api.delete("/members/{member_id}", status_code=204, tags=["members"])
    async def erase(member_id: UUID, caller: Caller) -> Response:
        """GDPR erasure: personal data is removed here and from the contacts topic."""
        require_self_or_roles(caller, member_id, "staff")
        await in_tx(lambda conn: commands.erase_member(conn, member_id, runtime.clock()))
        return Response(status_code=204)

    # -- people of an organisation

    @api.post("/members/{member_id}/people", status_code=201, tags=["members"])
    async def add_person(member_id: UUID, body: NewPerson, caller: Caller) -> dict[str, Any]:
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

    @api.get("/members/{member_id}/people", tags=["members"])
    async def list_people(member_id: UUID, caller: Caller) -> list[dict[str, Any]]:
        require_self_or_roles(caller, member_id, "staff")

        async def work(conn: asyncpg.Connection) -> list[asyncpg.Record]:
            await commands.live_member(conn, member_id)
            return await store.people_of(conn, member_id)

        return [person_view(p) for p in await in_tx(work)]

    @api.delete("/members/{member_id}/people/{person_id}", status_code=204, tags=["members"])
    async def remove_person(member_id: UUID, person_id: UUID, caller: Caller) -> Response:
        require_self_or_roles(caller, member_id, "staff")
        if not await in_tx(lambda conn: store.delete_person(conn, member_id, person_id)):
            raise not_found("person", person_id)
        return Response(status_code=204)

    # -- plans

    @api.get("/plans", tags=["plans"])
    async def plans(caller: Caller, include_retired: bool = False) -> list[dict[str, Any]]:
        async with runtime.db.acquire() as conn:
            return [plan_view(p) for p in await store.list_plans(
                conn, include_retired=include_retired)]

    @api.post("/plans", status_code=201, tags=["plans"])
    async def create_plan(body: NewPlan, caller: Caller) -> dict[str, Any]:
        require_roles(caller, "staff")
        body.check_consistency()
        plan = await in_tx(lambda conn: store.insert_plan(conn, body.model_dump(),
                                                          runtime.clock()))
        return plan_view(plan)

    @api.post("/plans/{code}/retire", tags=["plans"])
    async def retire_plan(code: str, caller: Caller) -> dict[str, Any]:
        """No new memberships on a retired plan; existing ones run their course."""
        require_roles(caller, "staff")
        plan = await in_tx(lambda conn: store.retire_plan(conn, code, runtime.clock()))
        if plan is None:
            raise not_found("plan", code)
        return plan_view(plan)

    # -- memberships

    @api.post("/members/{member_id}/memberships", status_code=201, tags=["memberships"])
    async def buy(member_id: UUID, body: NewMembership, caller: Caller) -> dict[str, Any]:
        require_self_or_roles(caller, member_id, "staff")
        membership = await in_tx(lambda conn: commands.start_membership(
            conn, member_id=member_id, plan_code=body.plan_code, starts_on=body.starts_on,
            now=runtime.clock()))
        return membership_view(membership)

    @api.get("/members/{member_id}/memberships", tags=["memberships"])
    async def memberships(member_id: UUID, caller: Caller) -> list[dict[str, Any]]:
        require_self_or_roles(caller, member_id, "staff")
        async with runtime.db.acquire() as conn:
            return [membership_view(s) for s in await store.memberships_of(conn, member_id)]

    @api.get("/memberships/{membership_id}", tags=["memberships"])
    async def read_membership(membership_id: UUID, caller: Caller) -> dict[str, Any]:
        membership = await member_of_membership(membership_id)
        require_self_or_roles(caller, membership["member_id"], "staff")
        return membership_view(membership)

    @api.post("/memberships/{membership_id}/renew", tags=["memberships"])
    async def renew(membership_id: UUID, caller: Caller) -> dict[str, Any]:
        membership = await member_of_membership(membership_id)
        require_self_or_roles(caller, membership["member_id"], "staff")
        return membership_view(await in_tx(
            lambda conn: commands.renew(conn, membership_id, runtime.clock())))

    @api.post("/memberships/{membership_id}/suspend", tags=["memberships"])
    async def suspend(membership_id: UUID, body: StatusChange, caller: Caller) -> dict[str, Any]:
        require_roles(caller, "staff")
        await member_of_membership(membership_id)
        return membership_view(await in_tx(
            lambda conn: commands.suspend(conn, membership_id, body.reason, runtime.clock())))

    @api.post("/memberships/{membership_id}/reinstate", tags=["memberships"])
    async def reinstate(membership_id: UUID, body: StatusChange, caller: Caller
                        ) -> dict[str, Any]:
        require_roles(caller, "staff")
        await member_of_membership(membership_id)
        return membership_view(await in_tx(
            lambda conn: commands.reinstate(conn, membership_id, body.reason, runtime.clock())))

    @api.post("/memberships/{membership_id}/cancel", tags=["memberships"])
    async def cancel(membership_id: UUID, caller: Caller,
                     body: OptionalReason | None = None) -> dict[str, Any]:
        membership = await member_of_membership(membership_id)
        require_self_or_roles(caller, membership["member_id"], "staff")
        reason = body.reason if body else None
        return membership_view(await in_tx(
            lambda conn: commands.cancel(conn, membership_id, runtime.clock(), reason)))

    return api

