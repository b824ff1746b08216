"""The vouchers API's request bodies and representations (docs/api/ `## vouchers`) for
applications, vouchers, accreditations, statements, transparency and audits, and the field
types every body shares. The programme's own shapes are in `programme_schemas`."""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at runtime.

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, PlainSerializer, WithJsonSchema, field_validator

from cowork.shared.api import ApiDate, BigCents, Representation, Strict, Text

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
