"""The vouchers API's programme bodies and representations: the programme opened, its rules,
and its ledger (docs/api/ `## vouchers`). The member-side shapes are in `schemas`."""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at runtime.

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from cowork.shared.api import ApiDate, BigCents, Page, Representation, Strict, Text
from cowork.vouchers import domain
from cowork.vouchers.api.schemas import (
    Desks,
    Istat,
    Kind,
    MemberKind,
    Moment,
    PositiveCents,
    SnakeCode,
    in_range,
)

# ---------------------------------------------------------------- requests


class Eligibility(Strict):
    residence_istat: Annotated[list[Istat], Field(max_length=8000)] = []
    min_age: Annotated[int, Field(ge=0, le=150)] | None = None
    max_age: Annotated[int, Field(ge=0, le=150)] | None = None
    disability_lifts_max_age: bool = False
    statuses: Annotated[list[SnakeCode], Field(max_length=20)] = []
    member_kinds: list[MemberKind] = []
    requires_partita_iva: bool = False
    partita_iva_max_age_months: Annotated[int, Field(ge=1, le=600)] | None = None
    partita_iva_grace_days: Annotated[int, Field(ge=1, le=365)] | None = None

    @model_validator(mode="after")
    def ages_in_order(self) -> "Eligibility":
        if self.min_age is not None and self.max_age is not None and self.max_age < self.min_age:
            raise ValueError("max_age is below min_age")
        return self


class Subsidises(Strict):
    memberships: bool = False
    bookings: bool = True
    resource_kinds: list[Kind] = Field(default_factory=list,
                                       description="empty: every kind of resource")


class NewProgramme(Strict):
    name: Text
    budget_cents: PositiveCents
    coverage_pct: Annotated[int, Field(ge=1, le=100)]
    cap_per_beneficiary_cents: PositiveCents
    cap_per_year_cents: PositiveCents | None = None
    kind_caps_cents: dict[Kind, BigCents] = Field(default_factory=dict)
    min_eligible_cost_cents: BigCents = 0
    valid_from: ApiDate
    valid_until: ApiDate
    max_duration_months: Annotated[int, Field(ge=1, le=120)] | None = None
    selection_mode: Literal["first_come", "ranked"]
    application_deadline: ApiDate | None = None
    criteria: list[domain.Criterion] = Field(
        default_factory=list, description="ranking criteria, best first (ranked mode); an "
        "object {min_desks, ranking: [...]} is accepted too")
    rna_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,50}$")] | None = None
    eligibility: Eligibility = Field(default_factory=Eligibility)
    subsidises: Subsidises = Field(default_factory=Subsidises)
    accredited_space_ids: Annotated[list[UUID], Field(max_length=1000)] | None = Field(
        None, description="which accredited spaces count; all of them when omitted")
    min_desks: Desks = 0

    @model_validator(mode="before")
    @classmethod
    def criteria_object(cls, data: Any) -> Any:
        """Alias "criteria such as min_desks" (docs/api/): an object is read as {min_desks, ranking}."""
        if isinstance(data, dict) and isinstance(data.get("criteria"), dict):
            criteria = dict(data["criteria"])
            data = {**data, "criteria": criteria.pop("ranking", [])}
            if "min_desks" in criteria:
                data.setdefault("min_desks", criteria.pop("min_desks"))
            if criteria:
                raise ValueError(f"unknown criteria: {', '.join(sorted(criteria))}")
        return data

    @field_validator("valid_from", "valid_until", "application_deadline")
    @classmethod
    def plausible_date(cls, value: date | None) -> date | None:
        return in_range(value, "a programme date")

    @field_validator("application_deadline")
    @classmethod
    def leaves_time_to_use(cls, deadline: date | None, info: ValidationInfo) -> date | None:
        """The programme closes the day after its deadline: a deadline on (or after) the last
        valid day would grant vouchers with no day left to use them."""
        valid_until = info.data.get("valid_until")
        if deadline is not None and valid_until is not None and deadline >= valid_until:
            raise ValueError("application_deadline must be before valid_until, leaving time "
                             "to use the vouchers")
        return deadline

    @model_validator(mode="after")
    def consistent(self) -> "NewProgramme":
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        if self.cap_per_beneficiary_cents > self.budget_cents:
            raise ValueError("cap_per_beneficiary_cents is above the budget")
        if len(set(self.criteria)) != len(self.criteria):
            raise ValueError("criteria repeat")
        return self

    def spec(self) -> dict[str, Any]:
        """The programme as `commands.open_programme` takes it."""
        spec = self.model_dump()
        spec["kind_caps_cents"] = dict(spec["kind_caps_cents"])
        spec["criteria"] = [c.value for c in self.criteria]
        return spec


# ---------------------------------------------------------------- representations


class EligibilityView(Representation):
    """The rules the programme was opened with (stored whole: every key, defaults included)."""

    residence_istat: list[str] = []
    min_age: int | None = None
    max_age: int | None = None
    disability_lifts_max_age: bool = False
    statuses: list[str] = []
    member_kinds: list[str] = []
    requires_partita_iva: bool = False
    partita_iva_max_age_months: int | None = None
    partita_iva_grace_days: int | None = None


class SubsidisesView(Representation):
    memberships: bool = False
    bookings: bool = True
    resource_kinds: list[str] = []


class Balances(Representation):
    budget_cents: int
    available_cents: int = Field(description="not yet granted")
    committed_cents: int = Field(description="granted to vouchers, not yet paid")
    disbursed_cents: int = Field(description="paid out as subsidies")


class ProgrammeView(Representation):
    id: UUID
    name: str
    status: Literal["open", "closed"]
    budget_cents: int
    available_cents: int = Field(description="not yet granted")
    committed_cents: int = Field(description="granted to vouchers, not yet paid")
    disbursed_cents: int = Field(description="paid out as subsidies")
    coverage_pct: int
    cap_per_beneficiary_cents: int
    cap_per_year_cents: int | None
    kind_caps_cents: dict[str, int]
    min_eligible_cost_cents: int
    valid_from: date
    valid_until: date
    max_duration_months: int | None
    selection_mode: Literal["first_come", "ranked"]
    application_deadline: date | None
    criteria: list[str]
    rna_code: str | None
    eligibility: EligibilityView
    subsidises: SubsidisesView
    accredited_space_ids: list[UUID] | None = Field(
        description="null: every accredited space counts")
    min_desks: int
    opened_at: Moment
    closed_at: Moment | None


class LedgerEntryView(Representation):
    id: UUID
    seq: int = Field(description="the order recorded; the programme's ledger is read by it")
    movement: Literal["open", "grant", "redeem", "reverse", "release"]
    amount_cents: int
    recorded_at: Moment
    postings: dict[str, int] = Field(description="account -> cents (+ into it, - out of it); "
                                                 "sums to zero")
    voucher_id: UUID | None
    member_id: UUID | None
    reason: str | None
    source_type: Literal["booking", "membership"] | None
    source_id: UUID | None
    source_event_id: UUID | None
    space_id: UUID | None
    price_cents: int | None
    statement_period: str | None


class LedgerPage(Page[LedgerEntryView]):
    # A representation like the others: a field added to the answer is never silently lost.
    model_config = ConfigDict(extra="allow")

    entries: list[LedgerEntryView] = Field(description="the page's items, as docs/api/ names them")
    balances: Balances
