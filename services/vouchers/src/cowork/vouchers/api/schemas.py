"""The vouchers API's request bodies and representations (docs/api/ `## vouchers`)."""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at runtime.

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from cowork.shared.api import ApiDate, BigCents, Page, Representation, Strict, Text
from cowork.vouchers import domain

Kind = Literal["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]
MemberKind = Literal["person", "organisation"]
# A snake_case code (a status such as `unemployed`, a reason such as `false_declaration`): not
# the shared `Code` (plan codes, hyphens and capitals taken), because these travel on the
# event topics as docs/events.md writes them and are matched against the programmes' rules as is.
SnakeCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,49}$")]
Istat = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="ISTAT municipality code")]
PositiveCents = Annotated[BigCents, Field(ge=1)]
TAX_CODE = r"^[A-Za-z0-9]{11}$|^[A-Za-z0-9]{16}$"  # codice fiscale (16) or partita IVA (11)
TaxCode = Annotated[str, Field(pattern=TAX_CODE, description="codice fiscale or partita IVA")]
Desks = Annotated[int, Field(ge=0, le=100_000)]
# A time as the service has always written it (`isoformat()`, `+00:00`), not re-spelt `Z`.
Moment = Annotated[datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str),
                   WithJsonSchema({"type": "string", "format": "date-time"})]


def in_range(day: date | None, field: str, low: int = 2000, high: int = 2100) -> date | None:
    """Programme dates within this century, declared ones since 1900: a year typed wrong is
    refused rather than scheduling a job in 9999."""
    if day is not None and not low <= day.year <= high:
        raise ValueError(f"{field} must fall between {low} and {high}")
    return day


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


class Declared(Strict):
    birth_date: ApiDate | None = None
    residence_istat: Istat | None = None
    status: SnakeCode | list[SnakeCode] | None = Field(
        None, description="e.g. unemployed, new_partita_iva")
    statuses: Annotated[list[SnakeCode], Field(max_length=20)] = []
    disability: bool = False
    member_kind: MemberKind | None = Field(
        None, description="used only while the service has not yet learnt the member's kind "
        "from membership's events")
    partita_iva_opened_on: ApiDate | None = None
    tax_code: TaxCode | None = Field(None, description="codice fiscale or partita IVA: the de "
                                                       "minimis undertaking")

    @field_validator("birth_date", "partita_iva_opened_on")
    @classmethod
    def plausible_date(cls, value: date | None) -> date | None:
        return in_range(value, "a declared date", 1900, 2100)

    def stored(self) -> dict[str, Any]:
        statuses = set(self.statuses)
        if isinstance(self.status, str):
            statuses.add(self.status)
        elif self.status:
            statuses.update(self.status)
        return {"birth_date": self.birth_date.isoformat() if self.birth_date else None,
                "residence_istat": self.residence_istat, "statuses": sorted(statuses),
                "disability": self.disability, "member_kind": self.member_kind,
                "partita_iva_opened_on": self.partita_iva_opened_on.isoformat()
                if self.partita_iva_opened_on else None,
                "tax_code": self.tax_code}


class NewApplication(Strict):
    member_id: UUID
    declarations: Declared = Field(default_factory=Declared)


class Revocation(Strict):
    # Optional: v1 revocations name no body (docs/api/) and `voucher.revoked` has
    # `reason|null`. A code, not free text: it travels on the event topic, where free text
    # could carry personal data.
    reason: SnakeCode | None = Field(None, description="a reason code, e.g. false_declaration")


class PartitaIva(Strict):
    opened_on: ApiDate

    @field_validator("opened_on")
    @classmethod
    def plausible_date(cls, value: date) -> date:
        in_range(value, "opened_on", 1900, 2100)
        return value


class NewAccreditation(Strict):
    space_id: UUID
    from_: ApiDate = Field(alias="from")
    reason: Text
    min_desks: Desks | None = Field(
        None, description="refuse when booking's events show fewer desks at the space")

    @field_validator("from_")
    @classmethod
    def plausible_date(cls, value: date) -> date:
        in_range(value, "from")
        return value


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


class ApplicationView(Representation):
    id: UUID
    programme_id: UUID
    member_id: UUID
    status: Literal["pending", "granted", "rejected", "waitlisted"]
    voucher_id: UUID | None
    reasons: list[str] = Field(description="every failed rule, or why a grant was reduced")
    submitted_at: Moment
    condition_deadline: date | None = Field(description="a conditional grant's deadline")
    rank_position: int | None
    submitted_by: str | None = Field(
        description="who sent it (token subject): the member, or the front desk on their "
        "behalf; null for applications recorded before it was kept")


class VoucherView(Representation):
    id: UUID
    programme_id: UUID
    member_id: UUID
    application_id: UUID
    amount_cents: int
    remaining_cents: int
    used_cents: int
    released_cents: int
    status: Literal["active", "expired", "revoked"]
    granted_at: Moment
    valid_from: date
    valid_until: date
    condition_deadline: date | None
    conditions_met: bool
    end_reason: str | None


class StatementLineView(Representation):
    entry_id: UUID
    recorded_at: datetime = Field(description="UTC, six decimals, `Z`")
    kind: Literal["redemption", "reversal"]
    voucher_id: UUID
    member_id: UUID
    space_id: UUID | None
    source_type: Literal["booking", "membership"]
    source_id: UUID
    source_event_id: UUID
    price_cents: int
    amount_cents: int = Field(description="negative for a reversal")


class StatementDocumentView(Representation):
    """The statement's canonical JSON: sorted keys, no spaces, lines by recorded time. Its
    SHA-256 is `X-Statement-SHA256` (and the ETag)."""

    programme_id: UUID
    period: str
    lines: list[StatementLineView]
    redeemed_cents: int
    reversed_cents: int
    net_cents: int


class StatementIssueView(Representation):
    id: UUID
    statement_id: UUID
    programme_id: UUID
    period: str
    status: Literal["issued"]
    sha256: str
    redeemed_cents: int
    reversed_cents: int
    net_cents: int
    lines: int
    issued_at: Moment


class BeneficiaryView(Representation):
    member_id: UUID
    granted_cents: int
    vouchers: int
    programme_ids: list[UUID]
    publication_required: bool = Field(description="above the transparency threshold")


class BeneficiariesView(Representation):
    year: int
    threshold_cents: int
    items: list[BeneficiaryView]
    next_cursor: None = Field(description="always null: one page")


class DeMinimisGrant(Representation):
    granted_on: date
    amount_cents: int


class DeMinimisView(Representation):
    on: date
    ceiling_cents: int
    headroom_cents: int
    grants: list[DeMinimisGrant]


class AccreditationView(Representation):
    id: UUID
    space_id: UUID
    from_: date = Field(alias="from")
    until: date | None = Field(description="exclusive; null while it lasts")
    reason: str
    known_space: bool = Field(description="whether booking has announced the space")
    desks: int
    warning: str | None = Field(None, description="only when the space is not known yet")


class AuditMismatch(Representation):
    check: str = Field(description="what was compared, e.g. `balances`, `statement_sha256`")
    subject: str = Field(description="what it is about, e.g. `voucher <id>`")
    detail: str


class AuditView(Representation):
    programme_id: UUID
    ok: bool = Field(description="true when the ledger and everything beside it agree")
    entries: int
    vouchers: int
    statements: int
    mismatches: list[AuditMismatch]
