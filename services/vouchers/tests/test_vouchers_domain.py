"""Subsidy rules with plain values: the ledger's invariants, the real programmes' amounts,
eligibility, ranking, de minimis, thresholds and the statement's bytes."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cowork.vouchers import domain
from cowork.vouchers.domain import (
    Account,
    Candidate,
    Criterion,
    Declarations,
    EligibilityRules,
    LedgerViolation,
    Movement,
    ProgrammeBalances,
    StatementLine,
    SubsidyRules,
    Usage,
)

EUR = 100  # cents

# ---------------------------------------------------------------- the real programmes

MILAN_2013 = SubsidyRules(coverage_pct=50, cap_per_beneficiary_cents=1_500 * EUR,
                          cap_per_year_cents=1_500 * EUR)
MILAN_2015 = SubsidyRules(coverage_pct=50, cap_per_beneficiary_cents=1_500 * EUR,
                          cap_per_year_cents=1_500 * EUR, min_eligible_cost_cents=1_000 * EUR)
TUSCANY_SUBSIDY = SubsidyRules(coverage_pct=100, cap_per_beneficiary_cents=2_000 * EUR)
TUSCANY = EligibilityRules(
    residence_istat=frozenset({"048017", "050026", "046017"}),  # Firenze, Pisa, Lucca
    min_age=18, max_age=40, disability_lifts_max_age=True, requires_partita_iva=True)
# Puglia pays the cost up to the caps; its sub-caps by desk type, in this product's resource kinds
PUGLIA_SUBSIDY = SubsidyRules(
    coverage_pct=100, cap_per_beneficiary_cents=3_000 * EUR,
    kind_caps_cents={"meeting_room": 2_000 * EUR,   # private room
                     "fixed_desk": 1_500 * EUR,     # reserved desk
                     "hot_desk": 1_000 * EUR})      # shared desk
PUGLIA = EligibilityRules(min_age=18, requires_partita_iva=True, partita_iva_grace_days=30)
APPLIED_ON = date(2027, 3, 10)


def fresh_voucher(amount_cents: int) -> Usage:
    return Usage(remaining_cents=amount_cents)


def after(usage: Usage, subsidy: int, kind: str | None) -> Usage:
    """What the voucher has paid once `subsidy` is redeemed (the store's job, done by hand)."""
    by_kind = dict(usage.by_kind_cents)
    if kind is not None:
        by_kind[kind] = by_kind.get(kind, 0) + subsidy
    return Usage(usage.remaining_cents - subsidy, by_kind, usage.this_year_cents + subsidy)


@pytest.mark.parametrize(("spent", "subsidy"), [
    (3_000 * EUR, 1_500 * EUR),   # the reported example: spend 3,000 -> 1,500
    (800 * EUR, 400 * EUR),       # spend 800 -> 400
    (1 * EUR, 50),
    (1, 0),                        # half a cent rounds down, in favour of the public purse
    (333, 166),
])
def test_milan_2013_pays_half_up_to_1500_a_year(spent: int, subsidy: int) -> None:
    assert domain.subsidy_for(MILAN_2013, spent, None, fresh_voucher(1_500 * EUR)) == subsidy


def test_milan_2013_twelve_months_of_desk_rent_stop_at_the_yearly_cap() -> None:
    usage = fresh_voucher(1_500 * EUR)
    paid = []
    for _ in range(14):  # EUR 300 a month: EUR 150 a month until the cap is reached
        subsidy = domain.subsidy_for(MILAN_2013, 300 * EUR, "hot_desk", usage)
        paid.append(subsidy)
        usage = after(usage, subsidy, "hot_desk")
    assert paid == [150 * EUR] * 10 + [0] * 4
    assert usage.remaining_cents == 0


def test_milan_the_yearly_cap_binds_even_with_balance_left() -> None:
    usage = Usage(remaining_cents=1_000 * EUR, this_year_cents=1_400 * EUR)
    assert domain.subsidy_for(MILAN_2013, 800 * EUR, None, usage) == 100 * EUR
    assert domain.subsidy_for(MILAN_2013, 800 * EUR, None,
                              Usage(1_000 * EUR, this_year_cents=1_500 * EUR)) == 0


def test_milan_voucher_lasts_at_most_12_months_within_the_programme() -> None:
    assert domain.voucher_valid_until(date(2013, 3, 10), 12, date(2014, 12, 31)) == date(2014, 3, 9)
    assert domain.voucher_valid_until(date(2014, 6, 1), 12, date(2014, 12, 31)) == date(2014, 12, 31)
    assert domain.voucher_valid_until(date(2014, 6, 1), None, date(2014, 12, 31)) == date(2014, 12, 31)


@pytest.mark.parametrize(("cost", "subsidy"), [
    (999_99, 0),                   # under EUR 1,000: not counted at all
    (1_000 * EUR, 500 * EUR),
    (1_000 * EUR + 1, 500 * EUR),  # 50,000.5 cents rounds down
    (4_000 * EUR, 1_500 * EUR),
])
def test_milan_2015_counts_only_costs_of_at_least_1000(cost: int, subsidy: int) -> None:
    assert domain.subsidy_for(MILAN_2015, cost, None, fresh_voucher(1_500 * EUR)) == subsidy


def test_tuscany_pays_up_to_2000() -> None:
    usage = fresh_voucher(2_000 * EUR)
    first = domain.subsidy_for(TUSCANY_SUBSIDY, 1_200 * EUR, "fixed_desk", usage)
    second = domain.subsidy_for(TUSCANY_SUBSIDY, 1_200 * EUR, "fixed_desk",
                                after(usage, first, "fixed_desk"))
    assert (first, second) == (1_200 * EUR, 800 * EUR)


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
    outcome = domain.check_eligibility(TUSCANY, "person", declared, APPLIED_ON)
    assert (outcome.eligible, outcome.reasons, outcome.condition_deadline) == (
        not reasons, reasons, None)


def test_puglia_admits_without_partita_iva_on_condition_of_opening_one_within_30_days() -> None:
    declared = Declarations(birth_date=date(2000, 1, 1))
    outcome = domain.check_eligibility(PUGLIA, "person", declared, APPLIED_ON)
    assert outcome == domain.EligibilityOutcome(True, (), date(2027, 4, 9))
    with_one = Declarations(birth_date=date(2000, 1, 1), partita_iva_opened_on=date(2025, 1, 1))
    assert domain.check_eligibility(PUGLIA, "person", with_one, APPLIED_ON) == \
        domain.EligibilityOutcome(True, (), None)


def test_a_conditional_admission_needs_the_other_rules_too() -> None:
    minor = Declarations(birth_date=date(2010, 1, 1))
    outcome = domain.check_eligibility(PUGLIA, "person", minor, APPLIED_ON)
    assert outcome == domain.EligibilityOutcome(False, ("age_below_min",), None)


def test_a_conditional_grant_lapses_the_day_after_its_deadline() -> None:
    deadline = date(2027, 4, 9)
    assert not domain.condition_deadline_missed(deadline, None, deadline)
    assert domain.condition_deadline_missed(deadline, None, deadline + timedelta(days=1))
    assert not domain.condition_deadline_missed(deadline, deadline, deadline + timedelta(days=5))
    assert domain.condition_deadline_missed(deadline, deadline + timedelta(days=1),
                                            deadline + timedelta(days=2))  # opened too late


def test_puglia_sub_caps_by_desk_type() -> None:
    usage = fresh_voucher(3_000 * EUR)
    shared = domain.subsidy_for(PUGLIA_SUBSIDY, 1_200 * EUR, "hot_desk", usage)
    assert shared == 1_000 * EUR                      # shared desk capped at 1,000
    usage = after(usage, shared, "hot_desk")
    assert domain.subsidy_for(PUGLIA_SUBSIDY, 100 * EUR, "hot_desk", usage) == 0
    reserved = domain.subsidy_for(PUGLIA_SUBSIDY, 1_800 * EUR, "fixed_desk", usage)
    assert reserved == 1_500 * EUR                    # reserved desk capped at 1,500
    usage = after(usage, reserved, "fixed_desk")
    room = domain.subsidy_for(PUGLIA_SUBSIDY, 2_000 * EUR, "meeting_room", usage)
    assert room == 500 * EUR                          # private room: only the 3,000 left over
    assert domain.subsidy_for(PUGLIA_SUBSIDY, 400 * EUR, "phone_booth",
                              fresh_voucher(3_000 * EUR)) == 400 * EUR  # no sub-cap for it
    assert domain.subsidy_for(PUGLIA_SUBSIDY, 2_500 * EUR, "meeting_room",
                              fresh_voucher(3_000 * EUR)) == 2_000 * EUR


@given(st.integers(0, 10**9), st.integers(0, 100), st.integers(-10**6, 10**8),
       st.integers(0, 10**8), st.integers(0, 10**8), st.integers(0, 10**6))
def test_a_subsidy_never_exceeds_any_of_its_limits(charged: int, pct: int, remaining: int,
                                                   year_used: int, kind_used: int,
                                                   minimum: int) -> None:
    rules = SubsidyRules(pct, 10**8, cap_per_year_cents=5 * 10**7,
                         kind_caps_cents={"hot_desk": 3 * 10**7}, min_eligible_cost_cents=minimum)
    usage = Usage(remaining, {"hot_desk": kind_used}, year_used)
    subsidy = domain.subsidy_for(rules, charged, "hot_desk", usage)
    assert 0 <= subsidy <= domain.share_of(charged, pct)
    assert subsidy <= max(0, remaining)
    assert subsidy <= max(0, 5 * 10**7 - year_used)
    assert subsidy <= max(0, 3 * 10**7 - kind_used)
    if charged < minimum:
        assert subsidy == 0


# ---------------------------------------------------------------- rounding


@given(st.integers(0, 10**15), st.integers(0, 100))
def test_share_of_never_exceeds_the_exact_value_and_is_within_a_cent(amount: int,
                                                                     pct: int) -> None:
    exact = Fraction(amount * pct, 100)
    share = domain.share_of(amount, pct)
    assert isinstance(share, int)
    assert exact - 1 < share <= exact


def test_share_of_refuses_what_is_not_a_share() -> None:
    for amount, pct in ((-1, 50), (100, -1), (100, 101)):
        with pytest.raises(ValueError):
            domain.share_of(amount, pct)


# ---------------------------------------------------------------- the ledger


def test_postings_of_each_movement() -> None:
    expected = {
        Movement.OPEN: (Account.AVAILABLE, Account.FUNDING),
        Movement.GRANT: (Account.COMMITTED, Account.AVAILABLE),
        Movement.REDEEM: (Account.DISBURSED, Account.COMMITTED),
        Movement.REVERSE: (Account.COMMITTED, Account.DISBURSED),
        Movement.RELEASE: (Account.AVAILABLE, Account.COMMITTED),
    }
    for movement, (debited, credited) in expected.items():
        assert domain.postings(movement, 7) == (domain.Posting(debited, 7),
                                               domain.Posting(credited, -7))


@pytest.mark.parametrize("amount", [0, -5, True, 1.5, domain.MAX_CENTS + 1])
def test_postings_move_only_positive_whole_cents(amount: object) -> None:
    with pytest.raises(LedgerViolation):
        domain.postings(Movement.GRANT, amount)  # type: ignore[arg-type]


def test_a_programme_opens_once_for_its_budget() -> None:
    balances = ProgrammeBalances(budget_cents=1_000)
    with pytest.raises(LedgerViolation):
        balances.apply(Movement.GRANT, 1)           # nothing available before opening
    with pytest.raises(LedgerViolation):
        balances.apply(Movement.OPEN, 999)          # the opening entry is the whole budget
    balances.apply(Movement.OPEN, 1_000)
    assert (balances.available_cents, balances.is_open) == (1_000, True)
    with pytest.raises(LedgerViolation):
        balances.apply(Movement.OPEN, 1_000)        # never twice
    assert balances == ProgrammeBalances(1_000, 1_000, 0, 0)


def test_a_voucher_life_through_the_stages() -> None:
    balances = ProgrammeBalances(budget_cents=298_240 * EUR)
    balances.apply(Movement.OPEN, 298_240 * EUR)
    balances.apply(Movement.GRANT, 1_500 * EUR)     # voucher granted
    balances.apply(Movement.REDEEM, 400 * EUR)      # a month's desk
    balances.apply(Movement.REVERSE, 400 * EUR)     # booking cancelled in time
    balances.apply(Movement.REDEEM, 150 * EUR)
    balances.apply(Movement.RELEASE, 1_350 * EUR)   # expired: the rest goes back
    assert balances == ProgrammeBalances(298_240 * EUR, 298_090 * EUR, 0, 150 * EUR)
    assert sum(balances.balances().values()) == 0
    assert balances.balances()[Account.FUNDING] == -298_240 * EUR


def test_no_commitment_above_what_is_available() -> None:
    balances = ProgrammeBalances(budget_cents=3_000)
    balances.apply(Movement.OPEN, 3_000)
    balances.apply(Movement.GRANT, 2_000)
    with pytest.raises(LedgerViolation):
        balances.apply(Movement.GRANT, 1_001)
    assert balances == ProgrammeBalances(3_000, 1_000, 2_000, 0)


def test_inconsistent_balances_refuse_every_movement() -> None:
    broken = ProgrammeBalances(budget_cents=1_000, available_cents=900, committed_cents=200)
    with pytest.raises(LedgerViolation):
        broken.apply(Movement.RELEASE, 100)
    assert broken == ProgrammeBalances(1_000, 900, 200, 0)


OPERATIONS = {  # what the service does -> the movement it writes
    "grant": Movement.GRANT, "redeem": Movement.REDEEM, "reverse": Movement.REVERSE,
    "expire": Movement.RELEASE, "revoke": Movement.RELEASE,
}
SOURCE = {mv: domain.MOVEMENT_ACCOUNTS[mv][0] for mv in Movement}


@settings(max_examples=400)
@given(st.integers(1, 10**6),
       st.lists(st.tuples(st.sampled_from(sorted(OPERATIONS)),
                          # mostly amounts that fit, some that cannot, some that are not amounts
                          st.integers(1, 5_000) | st.integers(1, 10**7) | st.integers(-5, 0)),
                max_size=60))
def test_random_sequences_keep_every_ledger_invariant(budget: int,
                                                      operations: list[tuple[str, int]]) -> None:
    balances = ProgrammeBalances(budget_cents=budget)
    journal = list(domain.postings(Movement.OPEN, budget))
    balances.apply(Movement.OPEN, budget)
    for name, amount in operations:
        movement = OPERATIONS[name]
        before = ProgrammeBalances(**vars(balances))
        movable = amount > 0 and before.balances()[SOURCE[movement]] >= amount
        try:
            balances.apply(movement, amount)
        except LedgerViolation:
            assert not movable
            assert balances == before  # a refused movement changes nothing
        else:
            assert movable
            transaction = domain.postings(movement, amount)
            assert sum(p.amount_cents for p in transaction) == 0
            journal.extend(transaction)
        assert balances.available_cents + balances.committed_cents \
            + balances.disbursed_cents == budget
        assert min(balances.available_cents, balances.committed_cents,
                   balances.disbursed_cents) >= 0
        # Replaying the journal gives the same balances (what an auditor does with the ledger).
        replayed = dict.fromkeys(Account, 0)
        for posting in journal:
            replayed[posting.account] += posting.amount_cents
        assert replayed == balances.balances()


# ---------------------------------------------------------------- grants and de minimis


def test_de_minimis_counts_a_rolling_three_years() -> None:
    on = date(2027, 3, 10)
    grants = [(date(2024, 3, 10), 100_000 * EUR),   # three years ago to the day: out
              (date(2024, 3, 11), 120_000 * EUR),   # first day of the window: in
              (date(2027, 3, 10), 50_000 * EUR),    # the same day: in
              (date(2027, 3, 11), 90_000 * EUR)]    # later: not yet
    assert domain.de_minimis_headroom(grants, on) == 130_000 * EUR
    # A day earlier the 2024-03-10 grant is still in the window and the later one is not yet.
    assert domain.de_minimis_headroom(grants, date(2027, 3, 9)) == 80_000 * EUR
    assert domain.de_minimis_headroom([(date(2024, 3, 10), 100_000 * EUR)],
                                      date(2027, 3, 9)) == 200_000 * EUR
    assert domain.de_minimis_headroom([(date(2024, 3, 10), 400_000 * EUR)],
                                      date(2027, 3, 9)) == 0   # never negative
    assert domain.de_minimis_headroom([], on) == domain.DE_MINIMIS_CEILING_CENTS
    assert domain.de_minimis_headroom([(date(2026, 1, 1), 10)], on, ceiling_cents=25) == 15


@given(st.lists(st.tuples(st.dates(date(2022, 1, 1), date(2027, 12, 31)),
                          st.integers(1, 15_000_000)), max_size=12),
       st.dates(date(2025, 1, 1), date(2027, 12, 31)), st.integers(1, 30_000_000))
def test_a_grant_reduced_to_fit_never_takes_an_undertaking_over_the_ceiling(
        previous: list[tuple[date, int]], on: date, cap: int) -> None:
    decision = domain.grant_amount(cap, 10**12, domain.de_minimis_headroom(previous, on))
    after = [*previous, (on, decision.amount_cents)]
    in_window = sum(amount for day, amount in after
                    if domain.de_minimis_window_start(on) <= day <= on)
    already = in_window - decision.amount_cents
    # Within the ceiling after the grant, unless it was already over before (then refused).
    assert in_window <= max(domain.DE_MINIMIS_CEILING_CENTS, already)
    if already >= domain.DE_MINIMIS_CEILING_CENTS:
        assert decision == domain.GrantDecision(0, ("de_minimis_exceeded",))
    elif already + cap > domain.DE_MINIMIS_CEILING_CENTS:
        assert decision.amount_cents == domain.DE_MINIMIS_CEILING_CENTS - already
        assert decision.reasons == ("de_minimis_reduced",)
    else:
        assert decision == domain.GrantDecision(cap, ())


def test_de_minimis_window_of_a_leap_day() -> None:
    assert domain.de_minimis_window_start(date(2028, 2, 29)) == date(2025, 3, 1)
    assert domain.de_minimis_window_start(date(2027, 3, 10)) == date(2024, 3, 11)


def test_a_grant_is_the_cap_reduced_to_fit_or_refused() -> None:
    cap = 1_500 * EUR
    assert domain.grant_amount(cap, 10_000 * EUR, 300_000 * EUR) == domain.GrantDecision(cap, ())
    assert domain.grant_amount(cap, 10_000 * EUR, 600 * EUR) == domain.GrantDecision(
        600 * EUR, ("de_minimis_reduced",))
    assert domain.grant_amount(cap, 900 * EUR, 300_000 * EUR) == domain.GrantDecision(
        900 * EUR, ("budget_reduced",))
    assert domain.grant_amount(cap, 10_000 * EUR, 0) == domain.GrantDecision(
        0, ("de_minimis_exceeded",))
    assert domain.grant_amount(cap, 0, 300_000 * EUR) == domain.GrantDecision(
        0, ("budget_exhausted",))
    assert domain.grant_amount(cap, 0, 0) == domain.GrantDecision(
        0, ("budget_exhausted", "de_minimis_exceeded"))


@given(st.integers(-10**6, 10**9), st.integers(-10**6, 10**9), st.integers(-10**6, 10**9))
def test_a_grant_never_exceeds_cap_budget_or_headroom(cap: int, available: int,
                                                      headroom: int) -> None:
    decision = domain.grant_amount(cap, available, headroom)
    assert 0 <= decision.amount_cents <= max(0, min(cap, available, headroom))
    assert (decision.amount_cents == 0) == (min(cap, available, headroom) <= 0)
    assert (decision.reasons == ()) == (cap > 0 and decision.amount_cents == cap)


def test_transparency_flags_grants_above_1000_a_year() -> None:
    assert not domain.needs_publication(1_000 * EUR)
    assert domain.needs_publication(1_000 * EUR + 1)
    assert not domain.needs_publication(0)


# ---------------------------------------------------------------- ranking

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def candidate(n: int, submitted_minutes: int = 0, **declared: object) -> Candidate:
    return Candidate(uuid.UUID(int=n), T0 + timedelta(minutes=submitted_minutes),
                     Declarations(**declared))  # type: ignore[arg-type]


def test_tuscany_ranking_younger_first_then_newer_partita_iva() -> None:
    young = candidate(1, 30, birth_date=date(2000, 1, 1), partita_iva_opened_on=date(2020, 1, 1))
    old_new_piva = candidate(2, 10, birth_date=date(1990, 1, 1),
                             partita_iva_opened_on=date(2026, 1, 1))
    old_old_piva = candidate(3, 0, birth_date=date(1990, 1, 1),
                             partita_iva_opened_on=date(2015, 1, 1))
    no_birth_date = candidate(4, 0, partita_iva_opened_on=date(2026, 6, 1))
    ranked = domain.rank([old_old_piva, no_birth_date, young, old_new_piva],
                         [Criterion.YOUNGER_FIRST, Criterion.NEWER_PARTITA_IVA_FIRST])
    assert ranked == [uuid.UUID(int=n) for n in (1, 2, 3, 4)]


def test_ranking_by_status_and_residence() -> None:
    a = candidate(1, 0, residence_istat="006114")
    b = candidate(2, 1, residence_istat="001272", statuses=frozenset({"unemployed"}))
    c = candidate(3, 2)
    d = candidate(4, 3, residence_istat="006114", statuses=frozenset({"unemployed"}))
    assert domain.rank([a, b, c, d], [Criterion.RESIDENT_FIRST, Criterion.UNEMPLOYED_FIRST],
                       frozenset({"006114"})) == [d.application_id, a.application_id,
                                                  b.application_id, c.application_id]
    assert domain.rank([a, b, c, d], [Criterion.UNEMPLOYED_FIRST]) == [
        b.application_id, d.application_id, a.application_id, c.application_id]


def test_ties_break_by_submission_then_by_id() -> None:
    same = {"birth_date": date(1995, 5, 5)}
    late = candidate(1, 5, **same)
    early_high_id = candidate(9, 0, **same)
    early_low_id = candidate(8, 0, **same)
    assert domain.rank([late, early_high_id, early_low_id], [Criterion.YOUNGER_FIRST]) == [
        uuid.UUID(int=8), uuid.UUID(int=9), uuid.UUID(int=1)]
    # The same instant written in another timezone is the same submission time.
    rome = timezone(timedelta(hours=1))
    shifted = Candidate(uuid.UUID(int=2), T0.astimezone(rome), Declarations(**same))
    assert domain.rank([early_high_id, shifted], [Criterion.YOUNGER_FIRST]) == [
        uuid.UUID(int=2), uuid.UUID(int=9)]


candidates_strategy = st.lists(
    st.builds(
        Candidate,
        application_id=st.uuids(),
        submitted_at=st.integers(0, 5).map(lambda m: T0 + timedelta(minutes=m)),
        declared=st.builds(
            Declarations,
            birth_date=st.none() | st.sampled_from([date(1990, 1, 1), date(2000, 1, 1)]),
            residence_istat=st.none() | st.sampled_from(["006114", "048017"]),
            statuses=st.sampled_from([frozenset(), frozenset({"unemployed"})]),
            partita_iva_opened_on=st.none() | st.sampled_from([date(2020, 1, 1),
                                                               date(2026, 1, 1)]))),
    max_size=25, unique_by=lambda c: c.application_id)


@given(candidates_strategy, st.lists(st.sampled_from(list(Criterion)), max_size=4),
       st.randoms(use_true_random=False))
def test_ranking_is_a_deterministic_permutation(candidates: list[Candidate],
                                                criteria: list[Criterion],
                                                rnd: random.Random) -> None:
    ranked = domain.rank(candidates, criteria, frozenset({"006114"}))
    assert sorted(ranked) == sorted(c.application_id for c in candidates)
    shuffled = list(candidates)
    rnd.shuffle(shuffled)
    assert domain.rank(shuffled, criteria, frozenset({"006114"})) == ranked
    # Candidates with identical declarations come out by submission time, then id.
    position = {app_id: i for i, app_id in enumerate(ranked)}
    for a in candidates:
        for b in candidates:
            if a.declared == b.declared and (a.submitted_at, a.application_id) < (
                    b.submitted_at, b.application_id):
                assert position[a.application_id] < position[b.application_id]


# ---------------------------------------------------------------- reversals


def test_a_cancellation_in_time_reverses_the_whole_subsidy() -> None:
    assert domain.reversal_for(400 * EUR, 50, late=False, late_charge_cents=0) == 400 * EUR


def test_a_late_cancellation_keeps_the_subsidy_on_the_charged_part() -> None:
    # EUR 80 desk, 50% = EUR 40 subsidised; cancelled late, the member still pays EUR 30:
    # the subsidy on that (EUR 15) stays, EUR 25 goes back.
    assert domain.reversal_for(40 * EUR, 50, late=True, late_charge_cents=30 * EUR) == 25 * EUR
    # A late charge of the whole price keeps the whole subsidy.
    assert domain.reversal_for(40 * EUR, 50, late=True, late_charge_cents=80 * EUR) == 0
    # A capped subsidy is never kept beyond what was paid.
    assert domain.reversal_for(10 * EUR, 50, late=True, late_charge_cents=80 * EUR) == 0


@given(st.integers(0, 10**8), st.integers(0, 100), st.booleans(), st.integers(0, 10**8))
def test_a_reversal_is_never_more_than_the_subsidy(subsidy: int, pct: int, late: bool,
                                                   charge: int) -> None:
    reversed_ = domain.reversal_for(subsidy, pct, late, charge)
    assert 0 <= reversed_ <= subsidy
    if late:
        assert subsidy - reversed_ <= domain.share_of(charge, pct)


# ---------------------------------------------------------------- thresholds


def test_budget_thresholds_crossed_once_each() -> None:
    budget = 1_000
    assert domain.budget_thresholds_crossed(budget, 0, 799) == []
    assert domain.budget_thresholds_crossed(budget, 799, 800) == [80]
    assert domain.budget_thresholds_crossed(budget, 800, 999) == []
    assert domain.budget_thresholds_crossed(budget, 999, 1_000) == [100]
    assert domain.budget_thresholds_crossed(budget, 0, 1_000) == [80, 100]
    assert domain.budget_thresholds_crossed(budget, 1_000, 700) == []  # going down: nothing
    # 80% of 3 cents is 2.4 cents: 2 cents is not yet there, 3 is
    assert domain.budget_thresholds_crossed(3, 0, 2) == []
    assert domain.budget_thresholds_crossed(3, 2, 3) == [80, 100]


@given(st.integers(1, 10**9), st.lists(st.integers(0, 10**9), max_size=30))
def test_rising_use_crosses_each_budget_threshold_exactly_once(budget: int,
                                                               steps: list[int]) -> None:
    used = [0]
    for step in steps:
        used.append(min(budget, used[-1] + step))
    crossed = [pct for before, after in itertools.pairwise(used)
               for pct in domain.budget_thresholds_crossed(budget, before, after)]
    assert crossed == [pct for pct in (80, 100) if used[-1] * 100 >= budget * pct]


def test_voucher_80_percent_used() -> None:
    amount = 1_500 * EUR
    assert not domain.voucher_threshold_crossed(amount, 0, 1_199 * EUR)
    assert domain.voucher_threshold_crossed(amount, 1_199 * EUR, 1_200 * EUR)
    assert not domain.voucher_threshold_crossed(amount, 1_200 * EUR, 1_500 * EUR)
    assert domain.voucher_threshold_crossed(amount, 0, 1_500 * EUR)
    assert not domain.voucher_threshold_crossed(0, 0, 0)


def test_voucher_expiry_notice_from_14_days_before() -> None:
    until = date(2027, 6, 30)
    assert not domain.voucher_expiry_notice_due(until, date(2027, 6, 15))
    assert domain.voucher_expiry_notice_due(until, date(2027, 6, 16))
    assert domain.voucher_expiry_notice_due(until, until)
    assert not domain.voucher_expiry_notice_due(until, date(2027, 7, 1))


# ---------------------------------------------------------------- ages and months


@pytest.mark.parametrize(("born", "on", "age"), [
    (date(2000, 2, 29), date(2018, 2, 28), 17),
    (date(2000, 2, 29), date(2018, 3, 1), 18),   # a leap-day birthday counts on 1 March
    (date(2000, 2, 29), date(2020, 2, 29), 20),
    (date(1990, 5, 1), date(2027, 4, 30), 36),
    (date(1990, 5, 1), date(2027, 5, 1), 37),
    (date(2027, 3, 10), date(2027, 3, 10), 0),
])
def test_age_on(born: date, on: date, age: int) -> None:
    assert domain.age_on(born, on) == age


def test_a_birth_date_after_the_application_is_refused_as_such() -> None:
    outcome = domain.check_eligibility(
        TUSCANY, "person", tuscan(date(2030, 1, 1)), APPLIED_ON)
    assert outcome.reasons == ("birth_date_invalid",)


def test_new_partita_iva_status_and_its_age_in_months() -> None:
    rules = EligibilityRules(statuses=frozenset({"unemployed", "new_partita_iva"}),
                             partita_iva_max_age_months=36, member_kinds=frozenset({"person"}))
    opened_36_months_ago = Declarations(partita_iva_opened_on=date(2024, 3, 10))
    assert domain.check_eligibility(rules, "person", opened_36_months_ago, APPLIED_ON).eligible
    too_old = Declarations(partita_iva_opened_on=date(2024, 3, 9))
    assert domain.check_eligibility(rules, "person", too_old, APPLIED_ON).reasons == (
        "status_not_eligible", "partita_iva_too_old")
    unemployed = Declarations(statuses=frozenset({"unemployed"}))
    assert domain.check_eligibility(rules, "person", unemployed, APPLIED_ON).eligible
    assert domain.check_eligibility(rules, "organisation", unemployed, APPLIED_ON).reasons == (
        "member_kind_not_eligible",)
    assert domain.check_eligibility(rules, None, Declarations(), APPLIED_ON).reasons == (
        "member_kind_not_eligible", "status_not_eligible")


def test_no_rules_means_everyone_is_eligible() -> None:
    assert domain.check_eligibility(EligibilityRules(), None, Declarations(), APPLIED_ON) == \
        domain.EligibilityOutcome(True)


@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2027, 1, 31), 1, date(2027, 2, 28)),
    (date(2027, 3, 31), -1, date(2027, 2, 28)),
    (date(2027, 12, 15), 1, date(2028, 1, 15)),
    (date(2027, 1, 15), -13, date(2025, 12, 15)),
    (date(2028, 2, 29), -36, date(2025, 2, 28)),
])
def test_add_months(day: date, months: int, expected: date) -> None:
    assert domain.add_months(day, months) == expected


# ---------------------------------------------------------------- statements

PROGRAMME = uuid.UUID("00000000-0000-4000-8000-00000000a001")
SPACE = uuid.UUID("00000000-0000-4000-8000-00000000b001")


def line(n: int, minute: int, amount: int, *, space: uuid.UUID | None = SPACE,
         at: datetime | None = None) -> StatementLine:
    return StatementLine(
        entry_id=uuid.UUID(int=1000 + n), recorded_at=at or T0 + timedelta(minutes=minute),
        kind="redemption" if amount > 0 else "reversal", voucher_id=uuid.UUID(int=2000 + n),
        member_id=uuid.UUID(int=3000 + n), space_id=space,
        source_type="booking" if space else "membership", source_id=uuid.UUID(int=4000 + n),
        source_event_id=uuid.UUID(int=5000 + n), price_cents=abs(amount) * 2,
        amount_cents=amount)


LINES = [line(1, 0, 150 * EUR), line(2, 5, 40 * EUR), line(3, 5, -25 * EUR),
         line(4, 9, 400 * EUR, space=None), line(5, 60, -150 * EUR)]


def test_statement_totals_and_document() -> None:
    statement = domain.render_statement(PROGRAMME, "2027-03", LINES)
    assert (statement.redeemed_cents, statement.reversed_cents, statement.net_cents,
            statement.lines) == (590 * EUR, 175 * EUR, 415 * EUR, 5)
    document = json.loads(statement.json_bytes)
    assert document["programme_id"] == str(PROGRAMME)
    assert document["period"] == "2027-03"
    assert (document["redeemed_cents"], document["reversed_cents"], document["net_cents"]) == (
        590 * EUR, 175 * EUR, 415 * EUR)
    assert [row["entry_id"] for row in document["lines"]] == [
        str(uuid.UUID(int=1000 + n)) for n in (1, 2, 3, 4, 5)]
    assert document["lines"][0]["recorded_at"] == "2027-03-01T09:00:00.000000Z"
    assert document["lines"][3]["space_id"] is None
    assert statement.sha256 == hashlib.sha256(statement.json_bytes).hexdigest()


def test_an_auditor_recomputes_the_hash_from_the_json() -> None:
    statement = domain.render_statement(PROGRAMME, "2027-03", LINES)
    recanonicalised = json.dumps(json.loads(statement.json_bytes), sort_keys=True,
                                 separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert recanonicalised == statement.json_bytes
    assert hashlib.sha256(recanonicalised).hexdigest() == statement.sha256


@given(st.randoms(use_true_random=False))
def test_shuffled_lines_give_the_same_bytes_and_hash(rnd: random.Random) -> None:
    reference = domain.render_statement(PROGRAMME, "2027-03", LINES)
    shuffled = list(LINES)
    rnd.shuffle(shuffled)
    statement = domain.render_statement(PROGRAMME, "2027-03", shuffled)
    assert statement == reference


def test_the_same_instant_in_another_timezone_gives_the_same_bytes() -> None:
    rome = timezone(timedelta(hours=1))
    moved = [line(n, 0, 10, at=(T0 + timedelta(minutes=n)).astimezone(rome)) for n in (1, 2)]
    in_utc = [line(n, n, 10) for n in (1, 2)]
    assert domain.render_statement(PROGRAMME, "2027-03", moved) == \
        domain.render_statement(PROGRAMME, "2027-03", in_utc)


def test_csv_parses_back_to_the_lines() -> None:
    statement = domain.render_statement(PROGRAMME, "2027-03", list(reversed(LINES)))
    rows = list(csv.DictReader(io.StringIO(statement.csv_bytes.decode("utf-8"), newline="")))
    assert tuple(rows[0]) == domain.STATEMENT_COLUMNS
    assert statement.csv_bytes.count(b"\r\n") == len(LINES) + 1
    parsed = [StatementLine(
        entry_id=uuid.UUID(r["entry_id"]),
        recorded_at=datetime.strptime(r["recorded_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
        kind=r["kind"], voucher_id=uuid.UUID(r["voucher_id"]), member_id=uuid.UUID(r["member_id"]),
        space_id=uuid.UUID(r["space_id"]) if r["space_id"] else None,
        source_type=r["source_type"], source_id=uuid.UUID(r["source_id"]),
        source_event_id=uuid.UUID(r["source_event_id"]), price_cents=int(r["price_cents"]),
        amount_cents=int(r["amount_cents"])) for r in rows]
    assert parsed == LINES  # LINES is in (recorded_at, entry_id) order already


def test_an_empty_month_is_a_statement_too() -> None:
    statement = domain.render_statement(PROGRAMME, "2027-04", [])
    assert statement.json_bytes == (
        b'{"lines":[],"net_cents":0,"period":"2027-04","programme_id":"'
        + str(PROGRAMME).encode() + b'","redeemed_cents":0,"reversed_cents":0}')
    assert statement.csv_bytes == (",".join(domain.STATEMENT_COLUMNS) + "\r\n").encode()


@pytest.mark.parametrize("period", ["2027-13", "2027-3", "27-03", "2027-03-01", ""])
def test_a_statement_period_is_a_month(period: str) -> None:
    with pytest.raises(ValueError):
        domain.render_statement(PROGRAMME, period, LINES)


def test_a_statement_refuses_inconsistent_lines() -> None:
    wrong_sign = StatementLine(**{**vars(line(9, 0, 10)), "kind": "reversal"})
    with pytest.raises(ValueError):
        domain.render_statement(PROGRAMME, "2027-03", [wrong_sign])
    with pytest.raises(ValueError):
        domain.render_statement(PROGRAMME, "2027-03", [line(1, 0, 10), line(1, 0, 10)])
    naive = line(7, 0, 10, at=datetime(2027, 3, 1, 9, 0))
    with pytest.raises(ValueError):
        domain.render_statement(PROGRAMME, "2027-03", [naive])
