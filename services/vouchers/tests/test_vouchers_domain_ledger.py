"""The ledger with plain values: the one rounding rule, each movement's postings, and the
invariants no sequence of movements can break."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cowork.vouchers.domain.ledger import (
    MAX_CENTS,
    MOVEMENT_ACCOUNTS,
    Account,
    LedgerViolation,
    Movement,
    Posting,
    ProgrammeBalances,
    postings,
    share_of,
)

EUR = 100  # cents


@given(st.integers(0, 10**15), st.integers(0, 100))
def test_share_of_never_exceeds_the_exact_value_and_is_within_a_cent(amount: int,
                                                                     pct: int) -> None:
    exact = Fraction(amount * pct, 100)
    share = share_of(amount, pct)
    assert isinstance(share, int)
    assert exact - 1 < share <= exact


def test_share_of_refuses_what_is_not_a_share() -> None:
    for amount, pct in ((-1, 50), (100, -1), (100, 101)):
        with pytest.raises(ValueError):
            share_of(amount, pct)


def test_postings_of_each_movement() -> None:
    expected = {
        Movement.OPEN: (Account.AVAILABLE, Account.FUNDING),
        Movement.GRANT: (Account.COMMITTED, Account.AVAILABLE),
        Movement.REDEEM: (Account.DISBURSED, Account.COMMITTED),
        Movement.REVERSE: (Account.COMMITTED, Account.DISBURSED),
        Movement.RELEASE: (Account.AVAILABLE, Account.COMMITTED),
    }
    for movement, (debited, credited) in expected.items():
        assert postings(movement, 7) == (Posting(debited, 7),
                                               Posting(credited, -7))


@pytest.mark.parametrize("amount", [0, -5, True, 1.5, MAX_CENTS + 1])
def test_postings_move_only_positive_whole_cents(amount: object) -> None:
    with pytest.raises(LedgerViolation):
        postings(Movement.GRANT, amount)  # type: ignore[arg-type]


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
SOURCE = {mv: MOVEMENT_ACCOUNTS[mv][0] for mv in Movement}


@settings(max_examples=400)
@given(st.integers(1, 10**6),
       st.lists(st.tuples(st.sampled_from(sorted(OPERATIONS)),
                          # mostly amounts that fit, some that cannot, some that are not amounts
                          st.integers(1, 5_000) | st.integers(1, 10**7) | st.integers(-5, 0)),
                max_size=60))
def test_random_sequences_keep_every_ledger_invariant(budget: int,
                                                      operations: list[tuple[str, int]]) -> None:
    balances = ProgrammeBalances(budget_cents=budget)
    journal = list(postings(Movement.OPEN, budget))
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
            transaction = postings(movement, amount)
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
