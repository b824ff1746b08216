"""Who may receive a voucher: a programme's eligibility rules, as data, checked against what
the applicant declares on the application date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from cowork.vouchers.domain.dates import add_months


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
    DECLARATION_INCONSISTENT = "declaration_inconsistent"  # birth date vs codice fiscale
    PROGRAMME_ENDED = "programme_ended"  # a ranked programme closed after its last valid day


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
    # Where the programme says how old a new partita IVA may be, that status is the opening
    # date measured against it, never a bare declaration (a 2015 partita IVA kept quiet).
    statuses = declared.statuses
    if rules.partita_iva_max_age_months is not None:
        statuses = statuses - {NEW_PARTITA_IVA}
    if rules.statuses and not (statuses | ({NEW_PARTITA_IVA} if is_new else set())) \
            & rules.statuses:
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


def age_on(birth_date: date, on: date) -> int:
    """Completed years on a date (29 February birthdays count on 1 March in common years)."""
    if birth_date > on:
        raise ValueError(f"born {birth_date}, after {on}")
    # Comparing (month, day) pairs: on 28 February of a common year (2, 28) < (2, 29), so a
    # 29 February birthday is not yet reached; on 1 March it is.
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def partita_iva_declaration_refusal(rules: EligibilityRules, opened_on: date,
                                    applied_on: date, deadline: date, today: date
                                    ) -> str | None:
    """Why a conditional grant's partita IVA, declared `today`, does not meet the condition
    (None when it does): declared by the deadline day itself, opened by then and not in the
    future, and new by the programme's rule measured on the application day, as it would have
    been had it been declared with the application."""
    if today > deadline:
        return "condition_deadline_passed"
    if opened_on > today:
        return "opened_on_in_future"
    if opened_on > deadline:
        return "deadline_missed"
    if (rules.partita_iva_max_age_months is not None
            and _partita_iva_too_old(opened_on, rules.partita_iva_max_age_months, applied_on)):
        return Reason.PARTITA_IVA_TOO_OLD.value
    return None


def condition_deadline_missed(deadline: date, partita_iva_opened_on: date | None,
                              today: date) -> bool:
    """A conditional grant lapses when, after its deadline day, no partita IVA was opened on
    or before the deadline (opening it on the deadline day itself is in time)."""
    met = partita_iva_opened_on is not None and partita_iva_opened_on <= deadline
    return today > deadline and not met


# ---------------------------------------------------------------- as stored (JSON)


def declarations_of(data: dict[str, Any]) -> Declarations:
    """An application's declarations as stored (JSON: ISO dates, lists)."""

    def day(key: str) -> date | None:
        value = data.get(key)
        return date.fromisoformat(value) if value else None

    return Declarations(
        birth_date=day("birth_date"), residence_istat=data.get("residence_istat"),
        statuses=frozenset(data.get("statuses") or ()), disability=bool(data.get("disability")),
        partita_iva_opened_on=day("partita_iva_opened_on"))


def eligibility_rules(data: dict[str, Any]) -> EligibilityRules:
    """A programme's eligibility as stored (JSON); a missing key is no restriction."""
    return EligibilityRules(
        residence_istat=frozenset(data.get("residence_istat") or ()),
        min_age=data.get("min_age"), max_age=data.get("max_age"),
        disability_lifts_max_age=bool(data.get("disability_lifts_max_age")),
        statuses=frozenset(data.get("statuses") or ()),
        member_kinds=frozenset(data.get("member_kinds") or ()),
        requires_partita_iva=bool(data.get("requires_partita_iva")),
        partita_iva_max_age_months=data.get("partita_iva_max_age_months"),
        partita_iva_grace_days=data.get("partita_iva_grace_days"))
