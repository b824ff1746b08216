"""Subsidy rules: pure functions over plain values, no I/O.

This module is the single place where public money is computed. Everything is integer euro
cents; the one rounding rule is `share_of` (round down, in favour of the public purse), used
everywhere a percentage is taken.

The interface below is shared by the store/handlers/API (which call it) and by its own unit and
property tests. Signatures are a contract: change one only together with its callers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

DE_MINIMIS_CEILING_CENTS = 30_000_000  # Regulation (EU) 2023/2831: EUR 300,000 per undertaking
DE_MINIMIS_YEARS = 3                   # over any three years, counted from the grant date
TRANSPARENCY_THRESHOLD_CENTS = 100_000  # D.Lgs. 33/2013 art. 26-27: grants above EUR 1,000/year


class Account(StrEnum):
    """A programme's ledger accounts. `funding` is the municipality's side of the opening
    entry (it holds -budget), so that every transaction sums to zero."""

    FUNDING = "funding"
    AVAILABLE = "available"
    COMMITTED = "committed"
    DISBURSED = "disbursed"


class Movement(StrEnum):
    """Why money moves; each has exactly one pair of accounts (see `postings`)."""

    OPEN = "open"          # funding -> available (the budget)
    GRANT = "grant"        # available -> committed (a voucher granted)
    REDEEM = "redeem"      # committed -> disbursed (a redemption)
    REVERSE = "reverse"    # disbursed -> committed (a redemption reversed)
    RELEASE = "release"    # committed -> available (expiry, revocation, reduction)


@dataclass(frozen=True)
class Posting:
    account: Account
    amount_cents: int  # signed: + debit into the account, - credit out of it


def share_of(amount_cents: int, pct: int) -> int:
    """pct percent of amount, rounded down to the cent. The project's only rounding rule."""
    raise NotImplementedError


def postings(movement: Movement, amount_cents: int) -> tuple[Posting, Posting]:
    """The two postings of a movement of `amount_cents` (> 0); they sum to zero."""
    raise NotImplementedError


@dataclass
class ProgrammeBalances:
    """Balances of one programme's accounts; `apply` refuses what would break an invariant
    (negative balance, unbalanced transaction) by raising LedgerViolation."""

    budget_cents: int
    available_cents: int = 0
    committed_cents: int = 0
    disbursed_cents: int = 0

    def apply(self, movement: Movement, amount_cents: int) -> None:
        raise NotImplementedError


class LedgerViolation(ValueError):
    """A movement that would make a balance negative or break available+committed+disbursed
    = budget."""


# ---------------------------------------------------------------- eligibility


@dataclass(frozen=True)
class EligibilityRules:
    """A programme's eligibility, as data. Empty sets and None mean "no restriction"."""

    residence_istat: frozenset[str] = frozenset()
    min_age: int | None = None
    max_age: int | None = None
    disability_lifts_max_age: bool = False     # Tuscany: no upper limit with disability
    statuses: frozenset[str] = frozenset()     # any of: "unemployed", "new_partita_iva", ...
    member_kinds: frozenset[str] = frozenset()  # "person" | "organisation"
    requires_partita_iva: bool = False
    partita_iva_max_age_months: int | None = None  # e.g. opened no more than 36 months ago
    # Puglia: an applicant without a partita IVA is admitted on condition of opening one within
    # this many days; None means such an applicant is rejected when requires_partita_iva.
    partita_iva_grace_days: int | None = None


@dataclass(frozen=True)
class Declarations:
    """What the applicant declares (self-certification, checked by the officer later)."""

    birth_date: date | None = None
    residence_istat: str | None = None
    statuses: frozenset[str] = frozenset()
    disability: bool = False
    partita_iva_opened_on: date | None = None  # None: no partita IVA (yet)


@dataclass(frozen=True)
class EligibilityOutcome:
    eligible: bool
    reasons: tuple[str, ...] = ()          # every failed rule, as a stable code, e.g. "age_above_max"
    condition_deadline: date | None = None  # set when admitted conditionally


def check_eligibility(rules: EligibilityRules, member_kind: str | None, declared: Declarations,
                      on: date) -> EligibilityOutcome:
    """Evaluate every rule at the application date `on`; reasons name each rule that failed
    (never stop at the first)."""
    raise NotImplementedError


def age_on(birth_date: date, on: date) -> int:
    """Completed years on a date (29 February birthdays count on 1 March in common years)."""
    raise NotImplementedError


# ---------------------------------------------------------------- grants


def de_minimis_headroom(previous_grants: Sequence[tuple[date, int]], on: date,
                        ceiling_cents: int = DE_MINIMIS_CEILING_CENTS) -> int:
    """How much more an undertaking may receive on `on`: the ceiling less the grants dated in
    the three years up to and including `on` (rolling window). Never negative."""
    raise NotImplementedError


@dataclass(frozen=True)
class GrantDecision:
    amount_cents: int          # 0 means refused
    reasons: tuple[str, ...]   # why reduced or refused, e.g. ("de_minimis_reduced",), ("budget_exhausted",)


def grant_amount(cap_per_beneficiary_cents: int, available_cents: int,
                 de_minimis_headroom_cents: int) -> GrantDecision:
    """The voucher amount: the cap, reduced to what the budget and de minimis allow."""
    raise NotImplementedError


# ---------------------------------------------------------------- ranking


class Criterion(StrEnum):
    YOUNGER_FIRST = "younger_first"
    NEWER_PARTITA_IVA_FIRST = "newer_partita_iva_first"
    UNEMPLOYED_FIRST = "unemployed_first"
    RESIDENT_FIRST = "resident_first"  # declared residence among the programme's ISTAT codes


@dataclass(frozen=True)
class Candidate:
    application_id: UUID
    submitted_at: datetime
    declared: Declarations


def rank(candidates: Sequence[Candidate], criteria: Sequence[Criterion],
         programme_istat: frozenset[str] = frozenset()) -> list[UUID]:
    """Application ids best first: criteria in the order given (a missing value ranks last for
    that criterion), ties broken by earlier submission, then by id (total, deterministic)."""
    raise NotImplementedError


# ---------------------------------------------------------------- redemptions


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
    raise NotImplementedError


def reversal_for(subsidy_cents: int, coverage_pct: int, late: bool,
                 late_charge_cents: int) -> int:
    """What a cancellation gives back: all of the subsidy when not late; when late, the member
    still pays `late_charge_cents`, so the subsidy on that part (coverage% of it, at most the
    original subsidy) is kept and only the rest is reversed."""
    raise NotImplementedError


# ---------------------------------------------------------------- thresholds


def budget_thresholds_crossed(budget_cents: int, used_before_cents: int,
                              used_after_cents: int) -> list[int]:
    """Which of 80 and 100 (% of the budget used = committed + disbursed) a change crosses
    upwards. Emitted exactly once each: the store records what was emitted."""
    raise NotImplementedError


def voucher_threshold_crossed(amount_cents: int, used_before_cents: int,
                              used_after_cents: int) -> bool:
    """True when a redemption takes a voucher's use to 80% or more for the first time."""
    raise NotImplementedError


# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class StatementLine:
    entry_id: UUID
    recorded_at: datetime
    kind: str              # "redemption" | "reversal"
    voucher_id: UUID
    member_id: UUID
    space_id: UUID | None
    source_type: str       # "booking" | "membership"
    source_id: UUID
    source_event_id: UUID
    price_cents: int
    amount_cents: int      # positive for a redemption, negative for a reversal


@dataclass(frozen=True)
class StatementDocument:
    json_bytes: bytes      # canonical: sorted keys, no spaces, lines in (recorded_at, entry_id)
    csv_bytes: bytes
    sha256: str            # of json_bytes
    redeemed_cents: int
    reversed_cents: int
    net_cents: int
    lines: int


def render_statement(programme_id: UUID, period: str, lines: Sequence[StatementLine]
                     ) -> StatementDocument:
    """The same lines always give the same bytes, whatever order they come in."""
    raise NotImplementedError


def needs_publication(granted_in_year_cents: int) -> bool:
    """D.Lgs. 33/2013: grants above EUR 1,000 to one beneficiary in a calendar year are
    published before payment."""
    raise NotImplementedError
