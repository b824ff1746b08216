"""Eligibility with plain values: every failed rule named, conditional admissions, ages and
the months of a partita IVA."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cowork.vouchers.domain.dates import add_months, rome_date, start_of_day
from cowork.vouchers.domain.eligibility import (
    Declarations,
    EligibilityOutcome,
    EligibilityRules,
    age_on,
    check_eligibility,
    condition_deadline_missed,
    declarations_of,
    eligibility_rules,
    partita_iva_declaration_refusal,
)
from cowork.vouchers.domain.tax_codes import birth_date_agrees

TUSCANY = EligibilityRules(
    residence_istat=frozenset({"048017", "050026", "046017"}),  # Firenze, Pisa, Lucca
    min_age=18, max_age=40, disability_lifts_max_age=True, requires_partita_iva=True)
PUGLIA = EligibilityRules(min_age=18, requires_partita_iva=True, partita_iva_grace_days=30)
APPLIED_ON = date(2027, 3, 10)


def tuscan(born: date | None = date(1990, 5, 1), *, disability: bool = False,
           istat: str | None = "048017", opened: date | None = date(2026, 1, 15)) -> Declarations:
    return Declarations(birth_date=born, residence_istat=istat, disability=disability,
                        partita_iva_opened_on=opened)


@pytest.mark.parametrize(("declared", "reasons"), [
    (tuscan(), ()),
    (tuscan(date(1986, 3, 11)), ()),                        # 40, turns 41 tomorrow: still in
    (tuscan(date(1986, 3, 10)), ("age_above_max",)),        # 41 today
    (tuscan(date(1986, 3, 10), disability=True), ()),
    (tuscan(date(1960, 1, 1), disability=True), ()),        # no upper limit with disability
    (tuscan(date(2009, 3, 11)), ("age_below_min",)),        # 17, turns 18 tomorrow
    (tuscan(date(2009, 3, 10)), ()),                        # 18 today
    (tuscan(None), ("birth_date_missing",)),
    (tuscan(istat="006114"), ("residence_not_eligible",)),  # Novi Ligure is in Piedmont
    (tuscan(istat=None), ("residence_not_eligible",)),
    (tuscan(opened=None), ("partita_iva_missing",)),
    (tuscan(opened=date(2027, 4, 1)), ("partita_iva_missing",)),  # not open yet on the day
    (tuscan(date(1970, 1, 1), istat="006114", opened=None),
     ("residence_not_eligible", "age_above_max", "partita_iva_missing")),
])
def test_tuscany_eligibility_names_every_failed_rule(declared: Declarations,
                                                     reasons: tuple[str, ...]) -> None:
    outcome = check_eligibility(TUSCANY, "person", declared, APPLIED_ON)
    assert (outcome.eligible, outcome.reasons, outcome.condition_deadline) == (
        not reasons, reasons, None)


def test_puglia_admits_without_partita_iva_on_condition_of_opening_one_within_30_days() -> None:
    declared = Declarations(birth_date=date(2000, 1, 1))
    outcome = check_eligibility(PUGLIA, "person", declared, APPLIED_ON)
    assert outcome == EligibilityOutcome(True, (), date(2027, 4, 9))
    with_one = Declarations(birth_date=date(2000, 1, 1), partita_iva_opened_on=date(2025, 1, 1))
    assert check_eligibility(PUGLIA, "person", with_one, APPLIED_ON) == \
        EligibilityOutcome(True, (), None)


def test_a_conditional_admission_needs_the_other_rules_too() -> None:
    minor = Declarations(birth_date=date(2010, 1, 1))
    outcome = check_eligibility(PUGLIA, "person", minor, APPLIED_ON)
    assert outcome == EligibilityOutcome(False, ("age_below_min",), None)


def test_a_conditional_grant_lapses_the_day_after_its_deadline() -> None:
    deadline = date(2027, 4, 9)
    assert not condition_deadline_missed(deadline, None, deadline)
    assert condition_deadline_missed(deadline, None, deadline + timedelta(days=1))
    assert not condition_deadline_missed(deadline, deadline, deadline + timedelta(days=5))
    assert condition_deadline_missed(deadline, deadline + timedelta(days=1),
                                     deadline + timedelta(days=2))  # opened too late


@pytest.mark.parametrize(("born", "on", "age"), [
    (date(2000, 2, 29), date(2018, 2, 28), 17),
    (date(2000, 2, 29), date(2018, 3, 1), 18),   # a leap-day birthday counts on 1 March
    (date(2000, 2, 29), date(2020, 2, 29), 20),
    (date(1990, 5, 1), date(2027, 4, 30), 36),
    (date(1990, 5, 1), date(2027, 5, 1), 37),
    (date(2027, 3, 10), date(2027, 3, 10), 0),
])
def test_age_on(born: date, on: date, age: int) -> None:
    assert age_on(born, on) == age


def test_a_birth_date_after_the_application_is_refused_as_such() -> None:
    outcome = check_eligibility(
        TUSCANY, "person", tuscan(date(2030, 1, 1)), APPLIED_ON)
    assert outcome.reasons == ("birth_date_invalid",)


def test_new_partita_iva_status_and_its_age_in_months() -> None:
    rules = EligibilityRules(statuses=frozenset({"unemployed", "new_partita_iva"}),
                             partita_iva_max_age_months=36, member_kinds=frozenset({"person"}))
    opened_36_months_ago = Declarations(partita_iva_opened_on=date(2024, 3, 10))
    assert check_eligibility(rules, "person", opened_36_months_ago, APPLIED_ON).eligible
    too_old = Declarations(partita_iva_opened_on=date(2024, 3, 9))
    assert check_eligibility(rules, "person", too_old, APPLIED_ON).reasons == (
        "status_not_eligible", "partita_iva_too_old")
    unemployed = Declarations(statuses=frozenset({"unemployed"}))
    assert check_eligibility(rules, "person", unemployed, APPLIED_ON).eligible
    assert check_eligibility(rules, "organisation", unemployed, APPLIED_ON).reasons == (
        "member_kind_not_eligible",)
    assert check_eligibility(rules, None, Declarations(), APPLIED_ON).reasons == (
        "member_kind_not_eligible", "status_not_eligible")


def test_no_rules_means_everyone_is_eligible() -> None:
    assert check_eligibility(EligibilityRules(), None, Declarations(), APPLIED_ON) == \
        EligibilityOutcome(True)


@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2027, 1, 31), 1, date(2027, 2, 28)),
    (date(2027, 3, 31), -1, date(2027, 2, 28)),
    (date(2027, 12, 15), 1, date(2028, 1, 15)),
    (date(2027, 1, 15), -13, date(2025, 12, 15)),
    (date(2028, 2, 29), -36, date(2025, 2, 28)),
])
def test_add_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_declarations_and_rules_as_stored() -> None:
    assert declarations_of({}) == Declarations()
    assert declarations_of({"birth_date": "1990-05-01", "residence_istat": "048017",
                            "statuses": ["unemployed"], "disability": True,
                            "partita_iva_opened_on": "2026-01-15", "tax_code": "X"}) == \
        Declarations(date(1990, 5, 1), "048017", frozenset({"unemployed"}), True,
                     date(2026, 1, 15))
    assert eligibility_rules({}) == EligibilityRules()
    assert eligibility_rules({"residence_istat": ["048017"], "min_age": 18, "max_age": 40,
                              "disability_lifts_max_age": True, "requires_partita_iva": True,
                              "partita_iva_grace_days": 30}) == EligibilityRules(
        residence_istat=frozenset({"048017"}), min_age=18, max_age=40,
        disability_lifts_max_age=True, requires_partita_iva=True, partita_iva_grace_days=30)


def test_a_deadline_falls_due_at_midnight_in_rome() -> None:
    assert rome_date(datetime(2027, 3, 31, 22, 0, tzinfo=UTC)) == date(2027, 4, 1)
    assert start_of_day(date(2027, 4, 1)) == datetime(2027, 3, 31, 22, 0, tzinfo=UTC)
    assert start_of_day(date(2027, 1, 1)) == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


def test_a_late_partita_iva_declaration_follows_the_rule_of_the_application_day() -> None:
    rules = EligibilityRules(requires_partita_iva=True, partita_iva_max_age_months=36,
                             partita_iva_grace_days=30)
    applied, deadline = date(2027, 3, 1), date(2027, 3, 31)

    def refusal(opened_on: date, today: date) -> str | None:
        return partita_iva_declaration_refusal(rules, opened_on, applied, deadline, today)

    assert refusal(date(2024, 3, 1), date(2027, 3, 11)) is None  # new on 1 March, not on 11
    assert refusal(date(2024, 2, 28), date(2027, 3, 2)) == "partita_iva_too_old"
    assert refusal(date(2027, 3, 31), date(2027, 3, 31)) is None  # the deadline day itself
    assert refusal(date(2027, 3, 20), date(2027, 4, 1)) == "condition_deadline_passed"
    assert refusal(date(2027, 3, 20), date(2027, 3, 10)) == "opened_on_in_future"
    no_age_rule = EligibilityRules(requires_partita_iva=True, partita_iva_grace_days=30)
    assert partita_iva_declaration_refusal(no_age_rule, date(2015, 1, 1), applied, deadline,
                                           date(2027, 3, 5)) is None


@pytest.mark.parametrize(("tax_code", "born", "agrees"), [
    ("RSSMRA90E17F205Z", date(1990, 5, 17), True),
    ("RSSMRAVLE17F205Z", date(1990, 5, 17), True),     # omocodia
    ("BNCGLI90A41F965D", date(1990, 1, 1), True),      # a woman: day + 40
    ("BNCGLI90A41F965D", date(1890, 1, 1), True),      # two digits of the year only
    ("RSSMRA90E17F205Z", date(1990, 5, 18), False),
    ("RSSMRA90E17F205Z", date(1991, 5, 17), False),
    ("XXXXXXXXXXXXXXXX", date(1990, 5, 17), False),    # no date to read
    ("01234567897", date(1990, 5, 17), True),          # a partita IVA: nothing to compare
])
def test_the_birth_date_a_codice_fiscale_encodes(tax_code: str, born: date, agrees: bool) -> None:
    assert birth_date_agrees(born, tax_code) is agrees


def test_new_partita_iva_is_not_taken_as_a_bare_declared_status() -> None:
    """Where the programme says how old a "new" partita IVA may be, the status comes from the
    opening date measured against it: declaring `new_partita_iva` without the date (a 2015
    partita IVA kept quiet) does not escape the age rule."""
    rules = EligibilityRules(statuses=frozenset({"unemployed", "new_partita_iva"}),
                             partita_iva_max_age_months=36, member_kinds=frozenset({"person"}))
    bare = Declarations(statuses=frozenset({"new_partita_iva"}))
    assert check_eligibility(rules, "person", bare, APPLIED_ON).reasons == (
        "status_not_eligible",)
    dated = Declarations(statuses=frozenset({"new_partita_iva"}),
                         partita_iva_opened_on=date(2025, 1, 7))
    assert check_eligibility(rules, "person", dated, APPLIED_ON).eligible
    # A programme with no age for a new partita IVA takes the declared status as declared.
    undated_rule = EligibilityRules(statuses=frozenset({"new_partita_iva"}))
    assert check_eligibility(undated_rule, "person", bare, APPLIED_ON).eligible
