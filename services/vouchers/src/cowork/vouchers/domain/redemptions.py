"""What a voucher pays for a charge, what a cancellation gives back, and a batch of
redemptions paid in memory: each payment moves its programme's balances and its voucher at
once, so the next payment of the batch sees what the previous ones left."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from cowork.vouchers.domain.ledger import (
    LedgerViolation,
    Movement,
    ProgrammeBalances,
    require_positive_cents,
    share_of,
)
from cowork.vouchers.domain.thresholds import voucher_threshold_crossed


@dataclass(frozen=True)
class SubsidyRules:
    coverage_pct: int
    cap_per_beneficiary_cents: int
    cap_per_year_cents: int | None = None          # Milan: EUR 1,500 per year
    kind_caps_cents: Mapping[str, int] = field(default_factory=dict)  # Puglia's sub-caps
    min_eligible_cost_cents: int = 0              # Milan 2015: a cost under it is not subsidised


@dataclass(frozen=True)
class Usage:
    """What the voucher has already paid (net of reversals)."""

    remaining_cents: int                            # voucher balance
    by_kind_cents: Mapping[str, int] = field(default_factory=dict)  # per resource kind
    this_year_cents: int = 0                        # in the calendar year of the redemption


def subsidy_for(rules: SubsidyRules, charged_cents: int, resource_kind: str | None,
                usage: Usage) -> int:
    """min(coverage% of the charge, remaining balance, applicable caps); 0 when the charge is
    under the minimum eligible cost. `resource_kind` None for a membership."""
    if charged_cents <= 0 or charged_cents < rules.min_eligible_cost_cents:
        return 0
    limits = [share_of(charged_cents, rules.coverage_pct), usage.remaining_cents]
    if rules.cap_per_year_cents is not None:
        limits.append(rules.cap_per_year_cents - usage.this_year_cents)
    if resource_kind is not None and resource_kind in rules.kind_caps_cents:
        limits.append(rules.kind_caps_cents[resource_kind]
                      - usage.by_kind_cents.get(resource_kind, 0))
    return max(0, min(limits))


def reversal_for(subsidy_cents: int, coverage_pct: int, late: bool,
                 late_charge_cents: int) -> int:
    """What a cancellation gives back: all of the subsidy when not late; when late, the member
    still pays `late_charge_cents`, so the subsidy on that part (coverage% of it, at most the
    original subsidy) is kept and only the rest is reversed."""
    subsidy_cents = max(0, subsidy_cents)
    if not late:
        return subsidy_cents
    kept = min(share_of(max(0, late_charge_cents), coverage_pct), subsidy_cents)
    return subsidy_cents - kept


# ---------------------------------------------------------------- a batch of redemptions


@dataclass(frozen=True)
class Source:
    """What a redemption pays for: one booking or one membership purchase or renewal."""

    type: str  # "booking" | "membership"
    id: UUID
    event_id: UUID
    member_id: UUID
    price_cents: int
    charged_cents: int
    used_on: date
    space_id: UUID | None = None
    resource_kind: str | None = None


@dataclass
class VoucherState:
    """A locked voucher as a batch of redemptions changes it; `pay` never takes it below
    zero (LedgerViolation, nothing changed)."""

    id: UUID
    programme_id: UUID
    status: str
    amount_cents: int
    remaining_cents: int
    released_cents: int
    by_kind: dict[str, int]   # paid net of reversals, by resource kind
    by_year: dict[int, int]   # paid net of reversals, by calendar year

    @property
    def used_cents(self) -> int:
        return self.amount_cents - self.remaining_cents - self.released_cents

    def usage(self, year: int) -> Usage:
        """What the subsidy rules weigh a charge of `year` against."""
        return Usage(remaining_cents=self.remaining_cents, by_kind_cents=dict(self.by_kind),
                     this_year_cents=self.by_year.get(year, 0))

    def require_can_pay(self, subsidy: int) -> None:
        require_positive_cents(subsidy)
        if self.status != "active":
            raise LedgerViolation(f"a voucher {self.status}, not active, pays nothing")
        if subsidy > self.remaining_cents:
            raise LedgerViolation(
                f"a subsidy of {subsidy} is more than the voucher has left "
                f"({self.remaining_cents})")

    def pay(self, subsidy: int, kind: str | None, year: int) -> None:
        self.require_can_pay(subsidy)
        self.remaining_cents -= subsidy
        if kind is not None:
            self.by_kind[kind] = self.by_kind.get(kind, 0) + subsidy
        self.by_year[year] = self.by_year.get(year, 0) + subsidy


@dataclass(frozen=True)
class Option:
    """A voucher that could pay for a source, with its programme's rules and balances and the
    statement period a payment from it would land in."""

    voucher: VoucherState
    rules: SubsidyRules
    balances: ProgrammeBalances
    statement_period: str


@dataclass(frozen=True)
class Payment:
    """One redemption of a batch, as paid: `remaining_cents` is what its voucher had left
    after it; `threshold_crossed` when it took the voucher's use to 80 % for the first time."""

    source: Source
    voucher_id: UUID
    programme_id: UUID
    subsidy_cents: int
    remaining_cents: int
    statement_period: str
    threshold_crossed: bool


class PaidBatch:
    """The redemptions a batch pays, in order. At most once per source event, and once per
    booking; each payment moves its programme's balances and its voucher in memory at once —
    a movement that would break an invariant is refused (LedgerViolation) before either
    changes — so the next payment sees what the previous ones left."""

    def __init__(self) -> None:
        self.payments: list[Payment] = []
        self.vouchers: dict[UUID, VoucherState] = {}               # in order of first payment
        self.balances: dict[UUID, ProgrammeBalances] = {}          # by programme
        self._seen: set[UUID] = set()  # events and bookings paid in this batch

    def already_paid(self, source: Source) -> bool:
        return source.event_id in self._seen or (source.type == "booking"
                                                 and source.id in self._seen)

    def pay_first(self, source: Source, options: Sequence[Option]) -> Payment | None:
        """Pay from the first option (best first) whose voucher is active, has money left and
        pays something for this charge; None when none does or the source was paid already."""
        if self.already_paid(source):
            return None
        for option in options:
            voucher = option.voucher
            if voucher.status != "active" or voucher.remaining_cents == 0:
                continue
            subsidy = subsidy_for(option.rules, source.charged_cents, source.resource_kind,
                                  voucher.usage(source.used_on.year))
            if subsidy > 0:
                return self.add(voucher, option.balances, source, subsidy,
                                option.statement_period)
        return None

    def add(self, voucher: VoucherState, balances: ProgrammeBalances, source: Source,
            subsidy: int, statement_period: str) -> Payment:
        """Pay `subsidy` from `voucher` (committed -> disbursed in `balances`)."""
        voucher.require_can_pay(subsidy)
        used_before = voucher.used_cents
        balances.apply(Movement.REDEEM, subsidy)
        voucher.pay(subsidy, source.resource_kind, source.used_on.year)
        self.vouchers[voucher.id] = voucher
        self.balances[voucher.programme_id] = balances
        self._seen.update((source.event_id, source.id))
        payment = Payment(
            source=source, voucher_id=voucher.id, programme_id=voucher.programme_id,
            subsidy_cents=subsidy, remaining_cents=voucher.remaining_cents,
            statement_period=statement_period,
            threshold_crossed=voucher_threshold_crossed(voucher.amount_cents, used_before,
                                                        voucher.used_cents))
        self.payments.append(payment)
        return payment
