"""Request and response models of the membership API (docs/api/), and the views that turn the
store's records into response bodies."""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at runtime.

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, EmailStr, Field, field_validator

from cowork.membership import commands
from cowork.shared.api import (
    INT32_MAX,
    ApiDate,
    Cents,
    Code,
    LongText,
    Representation,
    Strict,
    Text,
)
from cowork.shared.http import invalid

ResourceKind = Literal["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]
# As people write them — `0143-555123`, `(0143) 555.123`, `+39 0143/555123` — and kept with
# digits and spaces only: the separators say nothing a dialler or the front desk needs.
Phone = Annotated[str, BeforeValidator(lambda v: re.sub(r"[-./()]", " ", v).strip()
                                       if isinstance(v, str) else v),
                  AfterValidator(lambda v: " ".join(v.split())),
                  Field(pattern=r"^\+?[0-9][0-9 ]{5,19}$")]
Istat = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="ISTAT municipality code")]
Reason = Annotated[LongText, Field(min_length=3, max_length=500)]
StatusReason = Literal["non_payment", "conduct", "request", "other"]
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
    # Absent: unchanged. null only where a value can be removed (phone, residence); the others
    # are typed without null, so the schema says so and a null is 422 naming the field.
    full_name: Text = Field(default=None)
    email: EmailStr = Field(default=None)
    phone: Phone | None = None
    language: Literal["it", "en"] = Field(default=None)
    residence_istat: Istat | None = None
    marketing_consent: bool = Field(default=None)


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
    # The reason travels on the event to every subscriber (webhooks included): a code, never
    # free text. What the desk wants to remember goes in `note`, kept here for staff only.
    reason: StatusReason = Field(description="non_payment | conduct | request | other")
    note: Reason | None = Field(None, description="staff only: never leaves membership")


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
    status_reason: str | None = Field(description="a code for suspend and reinstate; the "
                                                  "member's words for a cancellation")
    status_note: str | None = Field(None, description="the desk's note on a suspension or "
                                                      "reinstatement: staff only, null for others")


class MemberFoundOut(MemberOut):
    memberships: list[MembershipOut]


class PersonOut(Representation):
    id: UUID
    full_name: str
    email: str


# ---------------------------------------------------------------- views of the records


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


def membership_view(s: asyncpg.Record, *, staff: bool = False) -> dict[str, Any]:
    """`staff`: the caller is staff, who alone see the desk's note."""
    return {
        "id": str(s["id"]), "member_id": str(s["member_id"]), "plan_code": s["plan_code"],
        "status": s["status"], "period_start": s["period_start"], "period_end": s["period_end"],
        "price_cents": s["price_cents"], "status_reason": s["status_reason"],
        "status_note": s["status_note"] if staff else None,
    }


def person_view(p: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(p["id"]), "full_name": p["full_name"], "email": p["email"]}
