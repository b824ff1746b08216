"""Events the vouchers service publishes on cowork.vouchers.events: programmes, applications,
vouchers and their redemptions, statements."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from cowork.shared.events import topics
from cowork.shared.events.contracts.base import Cents, DomainEvent, SourceType
from cowork.shared.events.contracts.membership import AgeBand


class _VoucherEvent(DomainEvent):
    topic: ClassVar[str] = topics.VOUCHERS_EVENTS
    key_field: ClassVar[str] = "voucher_id"


class _ProgrammeEvent(DomainEvent):
    topic: ClassVar[str] = topics.VOUCHERS_EVENTS
    key_field: ClassVar[str] = "programme_id"


class ProgrammeOpened(_ProgrammeEvent):
    event_type: ClassVar[str] = "cowork.vouchers.programme.opened.v1"
    programme_id: UUID
    name: str
    budget_cents: Cents = Field(ge=0)
    coverage_pct: int = Field(ge=0, le=100)
    cap_per_beneficiary_cents: Cents = Field(ge=0)
    valid_from: date
    valid_until: date
    selection_mode: Literal["first_come", "ranked"]


class ProgrammeClosed(_ProgrammeEvent):
    event_type: ClassVar[str] = "cowork.vouchers.programme.closed.v1"
    programme_id: UUID
    at: AwareDatetime


class BudgetThresholdReached(_ProgrammeEvent):
    event_type: ClassVar[str] = "cowork.vouchers.programme.budget_threshold_reached.v1"
    programme_id: UUID
    threshold_pct: Literal[80, 100]
    available_cents: Cents


class StatementIssued(_ProgrammeEvent):
    event_type: ClassVar[str] = "cowork.vouchers.statement.issued.v1"
    statement_id: UUID
    programme_id: UUID
    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    redeemed_cents: Cents
    reversed_cents: Cents
    net_cents: Cents
    lines: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ApplicationRejected(DomainEvent):
    event_type: ClassVar[str] = "cowork.vouchers.application.rejected.v1"
    topic: ClassVar[str] = topics.VOUCHERS_EVENTS
    key_field: ClassVar[str] = "application_id"
    application_id: UUID
    programme_id: UUID
    member_id: UUID
    reasons: list[str]


class VoucherGranted(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.granted.v1"
    voucher_id: UUID
    programme_id: UUID
    member_id: UUID
    amount_cents: Cents = Field(ge=0)
    valid_until: date
    # Optional additions to v1, for the statistics (community's open data): the applicant's
    # declared status (a code: unemployed, new_partita_iva, ...; the first by priority when
    # several were declared) and age band on the grant day. None on records from before them.
    status: str | None = None
    age_band: AgeBand | None = None


class VoucherPartitaIvaDeclared(_VoucherEvent):
    """Addition to v1 (a new type): the holder of a conditional voucher declared the partita
    IVA they opened, by the condition's deadline — a beneficiary who opened one while holding
    a voucher."""

    event_type: ClassVar[str] = "cowork.vouchers.voucher.partita_iva_declared.v1"
    voucher_id: UUID
    member_id: UUID
    at: AwareDatetime


class VoucherRedeemed(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.redeemed.v1"
    voucher_id: UUID
    member_id: UUID
    source_type: SourceType
    source_id: UUID
    price_cents: Cents = Field(ge=0)
    subsidy_cents: Cents = Field(ge=0)
    remaining_cents: Cents = Field(ge=0)


class VoucherRedemptionReversed(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.redemption_reversed.v1"
    voucher_id: UUID
    member_id: UUID
    source_type: SourceType
    source_id: UUID
    reversed_cents: Cents = Field(ge=0)
    remaining_cents: Cents = Field(ge=0)


class VoucherExpiring(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.expiring.v1"
    voucher_id: UUID
    member_id: UUID
    valid_until: date
    remaining_cents: Cents = Field(ge=0)


class VoucherThresholdReached(_VoucherEvent):
    """Addition to v1 (a new type): a voucher's use reached 80% of its amount, once."""

    event_type: ClassVar[str] = "cowork.vouchers.voucher.threshold_reached.v1"
    voucher_id: UUID
    member_id: UUID
    threshold_pct: Literal[80]
    remaining_cents: Cents = Field(ge=0)


class VoucherExpired(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.expired.v1"
    voucher_id: UUID
    member_id: UUID
    released_cents: Cents = Field(ge=0)
    reason: str | None = None


class VoucherRevoked(_VoucherEvent):
    event_type: ClassVar[str] = "cowork.vouchers.voucher.revoked.v1"
    voucher_id: UUID
    member_id: UUID
    released_cents: Cents = Field(ge=0)
    reason: str | None = None
