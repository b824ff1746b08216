"""HTTP API v1 of the membership service (API.md)."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AfterValidator, BeforeValidator, EmailStr, Field, field_validator

from cowork.membership import commands, domain, store
from cowork.shared.api import (
    DEFAULT_PAGE_SIZE,
    INT32_MAX,
    ApiDate,
    Cents,
    Code,
    CursorParam,
    Limit,
    LongText,
    Page,
    Representation,
    SearchText,
    Strict,
    Text,
    decode_cursor,
    encode_cursor,
    page_in_memory,
    transactions,
    v1_router,
)
from cowork.shared.api import translated_errors as api_errors
from cowork.shared.auth import Authenticator, Principal, require_roles, require_self_or_roles
from cowork.shared.http import ApiError, invalid, not_found
from cowork.shared.logging import get_logger
from cowork.shared.service import ServiceRuntime

log = get_logger(__name__)

ResourceKind = Literal["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]
# As people write them — `0143-555123`, `(0143) 555.123`, `+39 0143/555123` — and kept with
# digits and spaces only: the separators say nothing a dialler or the front desk needs.
Phone = Annotated[str, BeforeValidator(lambda v: re.sub(r"[-./()]", " ", v).strip()
                                       if isinstance(v, str) else v),
                  AfterValidator(lambda v: " ".join(v.split())),
                  Field(pattern=r"^\+?[0-9][0-9 ]{5,19}$")]
Istat = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="ISTAT municipality code")]
Reason = Annotated[LongText, Field(min_length=3, max_length=500)]
TaxCode = Annotated[str, Field(min_length=11, max_length=16, pattern=r"^[A-Za-z0-9]+$")]
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]
PlanCode = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", max_length=40)]


class Consents(Strict):
    privacy: bool
    marketing: bool = False

    @field_validator("privacy")
    @classmethod
    def privacy_is_required(cls, privacy: bool) -> bool:
        if not privacy:
            raise ValueError("the privacy consent is required to register")
        return privacy


class NewMember(Strict):
    kind: Literal["person", "organisation"]
    full_name: Text
    email: EmailStr
    phone: Phone | None = None
    language: Literal["it", "en"] = "it"
    tax_code: TaxCode
    residence_istat: Istat | None = None
    consents: Consents


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
    code: Annotated[Code, Field(min_length=2)]
    name: Text
    kind: Literal["day_pass", "carnet", "monthly", "quarterly", "annual"]
    price_cents: Annotated[Cents, Field(le=10_000_000)]
    resource_kinds: Annotated[list[ResourceKind], Field(min_length=1, max_length=5)]
    days: Annotated[int, Field(ge=1, le=366)] | None = None
    max_bookings_per_day: PositiveInt32 | None = None
    max_bookings_per_week: PositiveInt32 | None = None
    meeting_room_minutes_per_month: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
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
    plan_code: Code
    starts_on: ApiDate


class StatusChange(Strict):
    reason: Reason


class OptionalReason(Strict):
    reason: Reason | None = None


# ---------------------------------------------------------------- representations
# Output enums are plain strings: a value added later must not fail a response. Personal
# fields are null once the member is erased.


class ConsentsOut(Representation):
    privacy_at: datetime | None
    marketing: bool | None
    marketing_at: datetime | None


class MemberOut(Representation):
    id: UUID
    kind: str
    full_name: str | None
    email: str | None
    phone: str | None
    language: str
    tax_code: str | None
    residence_istat: str | None
    consents: ConsentsOut
    registered_at: datetime
    updated_at: datetime


class PlanOut(Representation):
    code: str
    name: str
    kind: str
    price_cents: int
    resource_kinds: list[str]
    days: int | None
    max_bookings_per_day: int | None
    max_bookings_per_week: int | None
    meeting_room_minutes_per_month: int | None
    stackable: bool
    retired: bool
    included_kinds: list[str] = Field(description="kinds the plan includes free of charge")
    overage: dict[str, str] = Field(description="per kind: refuse | charge beyond an allowance")


class MembershipOut(Representation):
    id: UUID
    member_id: UUID
    plan_code: str
    status: str = Field(description="active | suspended | expired | cancelled")
    period_start: date
    period_end: date
    price_cents: int
    status_reason: str | None


class MemberFoundOut(MemberOut):
    memberships: list[MembershipOut]


class PersonOut(Representation):
    id: UUID
    full_name: str
    email: str



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


def _rule_violation(exc: Exception) -> ApiError | None:
    if not isinstance(exc, domain.RuleViolation):
        return None
    status = 409 if exc.code in ("invalid_transition", "plan_retired") and not exc.field else 422
    return ApiError(status, exc.code, str(exc), field=exc.field)


# The rules' and the database's refusals become API.md errors.
translated_errors = api_errors(_rule_violation, _UNIQUE)


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


# ---------------------------------------------------------------- the router


def router(runtime: ServiceRuntime) -> APIRouter:
    authenticator = Authenticator.from_settings(runtime.settings)
    Caller = Annotated[Principal, Depends(authenticator.principal())]
    MaybeCaller = Annotated[Principal | None, Depends(authenticator.optional_principal())]
    api = v1_router()
    in_tx = transactions(runtime, translated_errors)

    async def member_of_membership(membership_id: UUID) -> asyncpg.Record:
        async with runtime.db.acquire() as conn:
            membership = await store.membership_by_id(conn, membership_id)
        if membership is None:
            raise not_found("membership", membership_id)
        return membership

    # -- members

    @api.post("/members", status_code=201, tags=["members"], response_model=MemberOut)
    async def register(body: NewMember, caller: MaybeCaller) -> dict[str, Any]:
        """Self-registration needs no token; staff may register anyone.

        An anonymous registration whose tax code or e-mail is already registered gets the same
        201 as a new one and saves nothing; the member(s) it collided with are told by mail
        (at most once an hour each). Staff get 409 `tax_code_taken` / `email_taken`."""
        if caller is not None and not caller.has("staff"):
            raise ApiError(403, "forbidden", "only staff register members on their behalf")
        try:
            tax_code = domain.normalise_tax_code(body.kind, body.tax_code)
        except domain.RuleViolation as exc:
            raise invalid("tax_code", str(exc), exc.code) from exc
        now = runtime.clock()
        email = str(body.email).lower()
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

    @api.get("/members", tags=["members"], response_model=Page[MemberFoundOut])
    async def search_members(
            caller: Caller,
            q: Annotated[SearchText | None, Query(description="words found in the name, e-mail or "
                                            "tax code, in any order")] = None,
            cursor: CursorParam = None,
            # Each member comes with their memberships: a smaller page than other lists.
            limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
        """Staff find members by name, e-mail or tax code (case-insensitive, every word must
        match somewhere), by name, paginated; each with their memberships, so the desk sees a
        member's plans on one call (their bookings: booking's `GET /v1/bookings?member_id=`)."""
        require_roles(caller, "staff")
        after = None
        if cursor is not None:
            (id_text,) = decode_cursor(cursor, 1)
            try:
                after = UUID(id_text)
            except ValueError as exc:
                raise invalid("cursor", "not a cursor this API gave out") from exc
        words = (q or "").split()
        async with runtime.db.acquire() as conn:
            rows = await store.search_members(conn, words, after=after, limit=limit + 1)
            page = rows[:limit]
            memberships = await store.memberships_of_members(conn, [m["id"] for m in page])
        by_member: dict[UUID, list[dict[str, Any]]] = {}
        for membership in memberships:
            by_member.setdefault(membership["member_id"], []).append(
                membership_view(membership))
        return {"items": [{**member_view(m), "memberships": by_member.get(m["id"], [])}
                          for m in page],
                "next_cursor": encode_cursor(page[-1]["id"]) if len(rows) > limit else None}

    @api.get("/members/{member_id}", tags=["members"], response_model=MemberOut)
    async def read_member(member_id: UUID, caller: Caller) -> dict[str, Any]:
        require_self_or_roles(caller, member_id, "staff")
        return member_view(await in_tx(lambda conn: commands.live_member(conn, member_id)))

    @api.patch("/members/{member_id}", tags=["members"], response_model=MemberOut)
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

    @api.post("/members/{member_id}/people", status_code=201, tags=["members"],
              response_model=PersonOut)
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

    @api.get("/members/{member_id}/people", tags=["members"], response_model=Page[PersonOut])
    async def list_people(member_id: UUID, caller: Caller, cursor: CursorParam = None,
                          limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        require_self_or_roles(caller, member_id, "staff")

        async def work(conn: asyncpg.Connection) -> list[asyncpg.Record]:
            await commands.live_member(conn, member_id)
            return await store.people_of(conn, member_id)

        return page_in_memory([person_view(p) for p in await in_tx(work)], cursor, limit)

    @api.delete("/members/{member_id}/people/{person_id}", status_code=204, tags=["members"])
    async def remove_person(member_id: UUID, person_id: UUID, caller: Caller) -> Response:
        require_self_or_roles(caller, member_id, "staff")
        if not await in_tx(lambda conn: store.delete_person(conn, member_id, person_id)):
            raise not_found("person", person_id)
        return Response(status_code=204)

    # -- plans

    @api.get("/plans", tags=["plans"], response_model=Page[PlanOut])
    async def plans(caller: Caller, include_retired: bool = False, cursor: CursorParam = None,
                    limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            return page_in_memory([plan_view(p) for p in await store.list_plans(
                conn, include_retired=include_retired)], cursor, limit)

    @api.post("/plans", status_code=201, tags=["plans"], response_model=PlanOut)
    async def create_plan(body: NewPlan, caller: Caller) -> dict[str, Any]:
        require_roles(caller, "staff")
        body.check_consistency()
        plan = await in_tx(lambda conn: store.insert_plan(conn, body.model_dump(),
                                                          runtime.clock()))
        return plan_view(plan)

    @api.post("/plans/{code}/retire", tags=["plans"], response_model=PlanOut)
    async def retire_plan(code: PlanCode, caller: Caller) -> dict[str, Any]:
        """No new memberships on a retired plan; existing ones run their course."""
        require_roles(caller, "staff")
        plan = await in_tx(lambda conn: store.retire_plan(conn, code, runtime.clock()))
        if plan is None:
            raise not_found("plan", code)
        return plan_view(plan)

    # -- memberships

    @api.post("/members/{member_id}/memberships", status_code=201, tags=["memberships"],
              response_model=MembershipOut)
    async def buy(member_id: UUID, body: NewMembership, caller: Caller) -> dict[str, Any]:
        require_self_or_roles(caller, member_id, "staff")
        membership = await in_tx(lambda conn: commands.start_membership(
            conn, member_id=member_id, plan_code=body.plan_code, starts_on=body.starts_on,
            now=runtime.clock()))
        return membership_view(membership)

    @api.get("/members/{member_id}/memberships", tags=["memberships"],
             response_model=Page[MembershipOut])
    async def memberships(member_id: UUID, caller: Caller, cursor: CursorParam = None,
                          limit: Limit = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
        """Newest first."""
        require_self_or_roles(caller, member_id, "staff")
        async with runtime.db.acquire() as conn:
            return page_in_memory([membership_view(s) for s in
                                   await store.memberships_of(conn, member_id)], cursor, limit)

    @api.get("/memberships/{membership_id}", tags=["memberships"],
             response_model=MembershipOut)
    async def read_membership(membership_id: UUID, caller: Caller) -> dict[str, Any]:
        membership = await member_of_membership(membership_id)
        require_self_or_roles(caller, membership["member_id"], "staff")
        return membership_view(membership)

    @api.post("/memberships/{membership_id}/renew", tags=["memberships"],
              response_model=MembershipOut)
    async def renew(membership_id: UUID, caller: Caller) -> dict[str, Any]:
        membership = await member_of_membership(membership_id)
        require_self_or_roles(caller, membership["member_id"], "staff")
        return membership_view(await in_tx(
            lambda conn: commands.renew(conn, membership_id, runtime.clock())))

    @api.post("/memberships/{membership_id}/suspend", tags=["memberships"],
              response_model=MembershipOut)
    async def suspend(membership_id: UUID, body: StatusChange, caller: Caller) -> dict[str, Any]:
        require_roles(caller, "staff")
        await member_of_membership(membership_id)
        return membership_view(await in_tx(
            lambda conn: commands.suspend(conn, membership_id, body.reason, runtime.clock())))

    @api.post("/memberships/{membership_id}/reinstate", tags=["memberships"],
              response_model=MembershipOut)
    async def reinstate(membership_id: UUID, body: StatusChange, caller: Caller
                        ) -> dict[str, Any]:
        require_roles(caller, "staff")
        await member_of_membership(membership_id)
        return membership_view(await in_tx(
            lambda conn: commands.reinstate(conn, membership_id, body.reason, runtime.clock())))

    @api.post("/memberships/{membership_id}/cancel", tags=["memberships"],
              response_model=MembershipOut)
    async def cancel(membership_id: UUID, caller: Caller,
                     body: OptionalReason | None = None) -> dict[str, Any]:
        membership = await member_of_membership(membership_id)
        require_self_or_roles(caller, membership["member_id"], "staff")
        reason = body.reason if body else None
        return membership_view(await in_tx(
            lambda conn: commands.cancel(conn, membership_id, runtime.clock(), reason)))

    return api

