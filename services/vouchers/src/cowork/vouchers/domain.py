"""Subsidy rules: pure functions over plain values, no I/O.

This module is the single place where public money is computed. Everything is integer euro
cents; the one rounding rule is `share_of` (round down, in favour of the public purse), used
everywhere a percentage is taken.

The interface below is shared by the store/handlers/API (which call it) and by its own unit and
property tests. Signatures are a contract: change one only together with its callers.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

DE_MINIMIS_CEILING_CENTS = 30_000_000  # Regulation (EU) 2023/2831: EUR 300,000 per undertaking
DE_MINIMIS_YEARS = 3                   # over any three years, counted from the grant date
TRANSPARENCY_THRESHOLD_CENTS = 100_000  # D.Lgs. 33/2013 art. 26-27: grants above EUR 1,000/year
BUDGET_THRESHOLDS_PCT = (80, 100)        # programme budget used (committed + disbursed)
VOUCHER_THRESHOLD_PCT = 80               # a voucher's amount used
VOUCHER_EXPIRY_NOTICE_DAYS = 14          # "voucher expiring" is announced this many days before
MAX_CENTS = 2**63 - 1                    # what a PostgreSQL bigint (every *_cents column) holds


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
    if amount_cents < 0:
        raise ValueError(f"share_of a negative amount ({amount_cents})")
    if not 0 <= pct <= 100:
        raise ValueError(f"a percentage is between 0 and 100, not {pct}")
    # Integer arithmetic only: floor(amount * pct / 100) exactly, whatever the size.
    return amount_cents * pct // 100


# Each movement takes money out of the first account (credit) into the second (debit).
MOVEMENT_ACCOUNTS: Mapping[Movement, tuple[Account, Account]] = {
    Movement.OPEN: (Account.FUNDING, Account.AVAILABLE),
    Movement.GRANT: (Account.AVAILABLE, Account.COMMITTED),
    Movement.REDEEM: (Account.COMMITTED, Account.DISBURSED),
    Movement.REVERSE: (Account.DISBURSED, Account.COMMITTED),
    Movement.RELEASE: (Account.COMMITTED, Account.AVAILABLE),
}


def postings(movement: Movement, amount_cents: int) -> tuple[Posting, Posting]:
    """The two postings of a movement of `amount_cents` (> 0); they sum to zero."""
    _require_positive_cents(amount_cents)
    source, destination = MOVEMENT_ACCOUNTS[Movement(movement)]
    return Posting(destination, amount_cents), Posting(source, -amount_cents)


def _require_positive_cents(amount_cents: int) -> None:
    # bool is an int in Python; True must not move one cent of public money.
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise LedgerViolation(f"an amount is whole cents, not {amount_cents!r}")
    if not 0 < amount_cents <= MAX_CENTS:
        raise LedgerViolation(f"a movement moves a positive amount, not {amount_cents}")


@dataclass
class ProgrammeBalances:
    """Balances of one programme's accounts; `apply` refuses what would break an invariant
    (negative balance, unbalanced transaction) by raising LedgerViolation."""

    budget_cents: int
    available_cents: int = 0
    committed_cents: int = 0
    disbursed_cents: int = 0

    def apply(self, movement: Movement, amount_cents: int) -> None:
        """Move `amount_cents` as `movement` says, or raise LedgerViolation and change nothing.
        OPEN is allowed once, on an unopened programme, for exactly the budget."""
        _require_positive_cents(amount_cents)
        movement = Movement(movement)
        self._require_consistent()
        if movement is Movement.OPEN:
            if self.is_open:
                raise LedgerViolation("the programme's budget is already open")
            if amount_cents != self.budget_cents:
                raise LedgerViolation(
                    f"the opening entry is the budget ({self.budget_cents}), not {amount_cents}")
        balances = self.balances()
        for posting in postings(movement, amount_cents):
            balances[posting.account] += posting.amount_cents
        negative = [a.value for a in (Account.AVAILABLE, Account.COMMITTED, Account.DISBURSED)
                    if balances[a] < 0]
        if negative:
            raise LedgerViolation(
                f"{movement.value} of {amount_cents} would make {', '.join(negative)} negative")
        # Only now, all checks passed: a refused movement leaves the balances untouched.
        self.available_cents = balances[Account.AVAILABLE]
        self.committed_cents = balances[Account.COMMITTED]
        self.disbursed_cents = balances[Account.DISBURSED]

    @property
    def is_open(self) -> bool:
        """Whether the opening entry was made (the three stage accounts hold the budget)."""
        return self.available_cents + self.committed_cents + self.disbursed_cents != 0

    @property
    def used_cents(self) -> int:
        """What the thresholds measure: committed to vouchers plus disbursed."""
        return self.committed_cents + self.disbursed_cents

    def balances(self) -> dict[Account, int]:
        """Every account's balance; `funding` holds minus what was opened, so they sum to 0."""
        staged = self.available_cents + self.committed_cents + self.disbursed_cents
        return {Account.FUNDING: -staged, Account.AVAILABLE: self.available_cents,
                Account.COMMITTED: self.committed_cents, Account.DISBURSED: self.disbursed_cents}

    def _require_consistent(self) -> None:
        if self.budget_cents <= 0:
            raise LedgerViolation(f"a programme's budget is positive, not {self.budget_cents}")
        if min(self.available_cents, self.committed_cents, self.disbursed_cents) < 0:
            raise LedgerViolation("a balance is negative")
        if self.is_open and self.available_cents + self.committed_cents + self.disbursed_cents \
                != self.budget_cents:
            raise LedgerViolation("available + committed + disbursed differs from the budget")


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


class Reason(StrEnum):
    """Stable codes of failed eligibility rules and of reduced or refused grants."""

    RESIDENCE_NOT_ELIGIBLE = "residence_not_eligible"   # also when no residence is declared
    BIRTH_DATE_MISSING = "birth_date_missing"
    BIRTH_DATE_INVALID = "birth_date_invalid"           # after the application date
    AGE_BELOW_MIN = "age_below_min"
    AGE_ABOVE_MAX = "age_above_max"
    STATUS_NOT_ELIGIBLE = "status_not_eligible"
    MEMBER_KIND_NOT_ELIGIBLE = "member_kind_not_eligible"
    PARTITA_IVA_MISSING = "partita_iva_missing"
    PARTITA_IVA_TOO_OLD = "partita_iva_too_old"
    BUDGET_EXHAUSTED = "budget_exhausted"
    BUDGET_REDUCED = "budget_reduced"
    DE_MINIMIS_EXCEEDED = "de_minimis_exceeded"
    DE_MINIMIS_REDUCED = "de_minimis_reduced"
    CAP_ZERO = "cap_zero"


NEW_PARTITA_IVA = "new_partita_iva"


def check_eligibility(rules: EligibilityRules, member_kind: str | None, declared: Declarations,
                      on: date) -> EligibilityOutcome:
    """Evaluate every rule at the application date `on`; reasons name each rule that failed
    (never stop at the first)."""
    reasons: list[Reason] = []
    if rules.residence_istat and declared.residence_istat not in rules.residence_istat:
        reasons.append(Reason.RESIDENCE_NOT_ELIGIBLE)
    reasons.extend(_age_reasons(rules, declared, on))
    if rules.member_kinds and member_kind not in rules.member_kinds:
        reasons.append(Reason.MEMBER_KIND_NOT_ELIGIBLE)

    # A partita IVA counts from the day it was opened: one dated after `on` did not exist yet.
    opened_on = declared.partita_iva_opened_on
    has_partita_iva = opened_on is not None and opened_on <= on
    is_new = (has_partita_iva and rules.partita_iva_max_age_months is not None
              and not _partita_iva_too_old(opened_on, rules.partita_iva_max_age_months, on))
    if rules.statuses and not (
            declared.statuses | ({NEW_PARTITA_IVA} if is_new else set())) & rules.statuses:
        reasons.append(Reason.STATUS_NOT_ELIGIBLE)
    if (has_partita_iva and rules.partita_iva_max_age_months is not None
            and _partita_iva_too_old(opened_on, rules.partita_iva_max_age_months, on)):
        reasons.append(Reason.PARTITA_IVA_TOO_OLD)
    condition_deadline = None
    if rules.requires_partita_iva and not has_partita_iva:
        if rules.partita_iva_grace_days is None:
            reasons.append(Reason.PARTITA_IVA_MISSING)
        else:
            condition_deadline = on + timedelta(days=rules.partita_iva_grace_days)

    if reasons:
        return EligibilityOutcome(False, tuple(r.value for r in reasons))
    return EligibilityOutcome(True, (), condition_deadline)


def _age_reasons(rules: EligibilityRules, declared: Declarations, on: date) -> list[Reason]:
    max_age = rules.max_age
    if max_age is not None and rules.disability_lifts_max_age and declared.disability:
        max_age = None
    if rules.min_age is None and max_age is None:
        return []
    if declared.birth_date is None:
        return [Reason.BIRTH_DATE_MISSING]
    if declared.birth_date > on:
        return [Reason.BIRTH_DATE_INVALID]
    age = age_on(declared.birth_date, on)
    if rules.min_age is not None and age < rules.min_age:
        return [Reason.AGE_BELOW_MIN]
    if max_age is not None and age > max_age:
        return [Reason.AGE_ABOVE_MAX]
    return []


def _partita_iva_too_old(opened_on: date, max_age_months: int, on: date) -> bool:
    """Opened more than `max_age_months` before `on` (36 months: opened 2024-03-10 is still
    new on 2027-03-10 and too old from 2027-03-11)."""
    return add_months(opened_on, max_age_months) < on


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier); a day the month lacks becomes its last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def age_on(birth_date: date, on: date) -> int:
    """Completed years on a date (29 February birthdays count on 1 March in common years)."""
    if birth_date > on:
        raise ValueError(f"born {birth_date}, after {on}")
    # Comparing (month, day) pairs: on 28 February of a common year (2, 28) < (2, 29), so a
    # 29 February birthday is not yet reached; on 1 March it is.
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def condition_deadline_missed(deadline: date, partita_iva_opened_on: date | None,
                              today: date) -> bool:
    """A conditional grant lapses when, after its deadline day, no partita IVA was opened on
    or before the deadline (opening it on the deadline day itself is in time)."""
    met = partita_iva_opened_on is not None and partita_iva_opened_on <= deadline
    return today > deadline and not met


# ---------------------------------------------------------------- grants


def de_minimis_headroom(previous_grants: Sequence[tuple[date, int]], on: date,
                        ceiling_cents: int = DE_MINIMIS_CEILING_CENTS) -> int:
    """How much more an undertaking may receive on `on`: the ceiling less the grants dated in
    the three years up to and including `on` (rolling window). Never negative."""
    window_start = de_minimis_window_start(on)
    received = sum(amount for granted_on, amount in previous_grants
                   if window_start <= granted_on <= on)
    return max(0, ceiling_cents - received)


def de_minimis_window_start(on: date) -> date:
    """First day of the three years ending on `on`: on 2027-03-10 the window is 2024-03-11 ..
    2027-03-10, so a grant of 2024-03-10 no longer counts (three years = 36 months)."""
    return add_months(on, -12 * DE_MINIMIS_YEARS) + timedelta(days=1)


@dataclass(frozen=True)
class GrantDecision:
    amount_cents: int          # 0 means refused
    reasons: tuple[str, ...]   # why reduced or refused, e.g. ("de_minimis_reduced",), ("budget_exhausted",)


def grant_amount(cap_per_beneficiary_cents: int, available_cents: int,
                 de_minimis_headroom_cents: int) -> GrantDecision:
    """The voucher amount: the cap, reduced to what the budget and de minimis allow."""
    if cap_per_beneficiary_cents <= 0:
        return GrantDecision(0, (Reason.CAP_ZERO.value,))
    amount = max(0, min(cap_per_beneficiary_cents, available_cents, de_minimis_headroom_cents))
    reasons: list[Reason] = []
    if amount == 0:
        if available_cents <= 0:
            reasons.append(Reason.BUDGET_EXHAUSTED)
        if de_minimis_headroom_cents <= 0:
            reasons.append(Reason.DE_MINIMIS_EXCEEDED)
    else:
        if available_cents < cap_per_beneficiary_cents:
            reasons.append(Reason.BUDGET_REDUCED)
        if de_minimis_headroom_cents < cap_per_beneficiary_cents:
            reasons.append(Reason.DE_MINIMIS_REDUCED)
    return GrantDecision(amount, tuple(r.value for r in reasons))


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
    criteria = [Criterion(c) for c in criteria]

    def key(candidate: Candidate) -> tuple[object, ...]:
        scores = tuple(_score(c, candidate.declared, programme_istat) for c in criteria)
        return (*scores, _utc(candidate.submitted_at), candidate.application_id.int)

    return [c.application_id for c in sorted(candidates, key=key)]


def _score(criterion: Criterion, declared: Declarations,
           programme_istat: frozenset[str]) -> tuple[int, int]:
    """(group, order within the group), smaller first; group 1 or 2 is a missing value."""
    match criterion:
        case Criterion.YOUNGER_FIRST:
            born = declared.birth_date
            return (0, -born.toordinal()) if born else (1, 0)
        case Criterion.NEWER_PARTITA_IVA_FIRST:
            opened = declared.partita_iva_opened_on
            return (0, -opened.toordinal()) if opened else (1, 0)
        case Criterion.UNEMPLOYED_FIRST:
            return (0, 0) if "unemployed" in declared.statuses else (1, 0)
        case Criterion.RESIDENT_FIRST:
            if declared.residence_istat is None:
                return (2, 0)
            return (0, 0) if declared.residence_istat in programme_istat else (1, 0)
    raise ValueError(f"unknown criterion {criterion!r}")  # pragma: no cover - StrEnum guards


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"a time without a timezone is ambiguous: {moment}")
    return moment.astimezone(UTC)


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


# ---------------------------------------------------------------- thresholds


def budget_thresholds_crossed(budget_cents: int, used_before_cents: int,
                              used_after_cents: int) -> list[int]:
    """Which of 80 and 100 (% of the budget used = committed + disbursed) a change crosses
    upwards. Emitted exactly once each: the store records what was emitted."""
    if budget_cents <= 0:
        return []
    # Compare used*100 with budget*pct: exact, no percentage is ever rounded.
    return [pct for pct in BUDGET_THRESHOLDS_PCT
            if used_before_cents * 100 < budget_cents * pct <= used_after_cents * 100]


def voucher_threshold_crossed(amount_cents: int, used_before_cents: int,
                              used_after_cents: int) -> bool:
    """True when a redemption takes a voucher's use to 80% or more for the first time."""
    if amount_cents <= 0:
        return False
    line = amount_cents * VOUCHER_THRESHOLD_PCT
    return used_before_cents * 100 < line <= used_after_cents * 100


def voucher_expiry_notice_due(valid_until: date, today: date,
                              days: int = VOUCHER_EXPIRY_NOTICE_DAYS) -> bool:
    """Whether "expiring in 14 days" is due on `today`: from 14 days before the last valid day
    up to that day itself (the store emits it once)."""
    return valid_until - timedelta(days=days) <= today <= valid_until


def voucher_valid_until(granted_on: date, max_months: int | None, programme_valid_until: date
                        ) -> date:
    """A voucher's last valid day: `max_months` from the grant (12 months from 2027-03-10 is
    up to 2028-03-09), never beyond the programme's own last day."""
    if max_months is None:
        return programme_valid_until
    return min(add_months(granted_on, max_months) - timedelta(days=1), programme_valid_until)


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
    if not _PERIOD.fullmatch(period):
        raise ValueError(f"a statement period is YYYY-MM, not {period!r}")
    ordered = sorted(lines, key=lambda line: (_utc(line.recorded_at), line.entry_id.int))
    for line in ordered:
        _check_line(line)
    ids = [line.entry_id for line in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("a ledger entry appears twice in the statement")
    redeemed = sum(line.amount_cents for line in ordered if line.amount_cents > 0)
    reversed_ = -sum(line.amount_cents for line in ordered if line.amount_cents < 0)
    rows = [_line_fields(line) for line in ordered]
    document = {"programme_id": str(programme_id), "period": period, "lines": rows,
                "redeemed_cents": redeemed, "reversed_cents": reversed_,
                "net_cents": redeemed - reversed_}
    json_bytes = canonical_json(document)
    return StatementDocument(
        json_bytes=json_bytes, csv_bytes=_csv(rows),
        sha256=hashlib.sha256(json_bytes).hexdigest(), redeemed_cents=redeemed,
        reversed_cents=reversed_, net_cents=redeemed - reversed_, lines=len(rows))


STATEMENT_COLUMNS = ("entry_id", "recorded_at", "kind", "voucher_id", "member_id", "space_id",
                     "source_type", "source_id", "source_event_id", "price_cents", "amount_cents")
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def canonical_json(document: object) -> bytes:
    """The one serialisation that is hashed: keys sorted, no spaces, UTF-8 (not \\u-escaped)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def rfc3339_utc(moment: datetime) -> str:
    """A time as the statement writes it: UTC, always six decimals, 'Z'."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_line(line: StatementLine) -> None:
    expected_sign = {"redemption": 1, "reversal": -1}.get(line.kind)
    if expected_sign is None:
        raise ValueError(f"a statement line is a redemption or a reversal, not {line.kind!r}")
    if line.amount_cents * expected_sign <= 0:
        raise ValueError(f"a {line.kind} of {line.amount_cents} cents has the wrong sign")


def _line_fields(line: StatementLine) -> dict[str, object]:
    return {"entry_id": str(line.entry_id), "recorded_at": rfc3339_utc(line.recorded_at),
            "kind": line.kind, "voucher_id": str(line.voucher_id),
            "member_id": str(line.member_id),
            "space_id": None if line.space_id is None else str(line.space_id),
            "source_type": line.source_type, "source_id": str(line.source_id),
            "source_event_id": str(line.source_event_id), "price_cents": line.price_cents,
            "amount_cents": line.amount_cents}


def _csv(rows: Sequence[Mapping[str, object]]) -> bytes:
    """RFC 4180 CSV (CRLF line ends), header first, the JSON's lines in the same order; an
    empty cell is a null (a membership has no space)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STATEMENT_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in STATEMENT_COLUMNS])
    return out.getvalue().encode("utf-8")


def needs_publication(granted_in_year_cents: int) -> bool:
    """D.Lgs. 33/2013: grants above EUR 1,000 to one beneficiary in a calendar year are
    published before payment."""
    return granted_in_year_cents > TRANSPARENCY_THRESHOLD_CENTS
